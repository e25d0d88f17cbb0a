"""The dashboard in a real headless browser (Debian's chromium, installed by ``make test``),
against a real gateway in front of the simulator: what the page shows once its scripts have
read the API.

Chromium is driven with its own headless mode, one process per look: ``--dump-dom`` prints the
DOM after the page's scripts ran (``--virtual-time-budget`` lets its fetches finish first), and
``--screenshot`` writes a PNG. The page marks ``<body data-ready=…>`` when it has rendered; a
look is tried again until that mark shows, within a deadline, rather than after a fixed sleep.
Set ``STOPWISE_UI_SCREENSHOTS=docs/img`` to refresh the screenshots in the docs.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from _gateway import Running
from _traffic import make_traffic

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI runs the browser test: `make test` installs chromium (as root)", pytrace=False)
    pytest.skip(
        "no /usr/bin/chromium: `make test` installs it with apt-get when run as root or with sudo",
        allow_module_level=True,
    )


class Browser:
    def __init__(self, profile: Path) -> None:
        self.profile = profile

    def _run(self, url: str, *args: str) -> str:
        cmd = [
            str(CHROMIUM),
            "--headless",
            # As root (CI) chromium refuses to start with its sandbox; the page is our own.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={self.profile}",
            "--virtual-time-budget=5000",
            *args,
            url,
        ]
        done = subprocess.run(cmd, capture_output=True, timeout=60, check=True)
        return done.stdout.decode()

    def dom(self, url: str, ready: str, timeout: float = 30.0) -> str:
        """The page's DOM once it says it is ``ready``."""
        deadline = time.monotonic() + timeout
        while True:
            dom = self._run(url, "--dump-dom")
            if f'data-ready="{ready}"' in dom:
                return dom
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never became ready ({ready}):\n{dom[-3000:]}")

    def screenshot(self, url: str, path: Path) -> None:
        self._run(url, f"--screenshot={path}", "--window-size=1500,1000")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cells(dom: str, row_attr: str) -> list[list[str]]:
    """The text of each cell of the table rows carrying ``row_attr``."""
    rows = re.findall(rf"<tr [^>]*{row_attr}[^>]*>(.*?)</tr>", dom, re.S)
    return [
        [html.unescape(re.sub("<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def _keep(shot: Path) -> None:
    where = os.environ.get("STOPWISE_UI_SCREENSHOTS")
    if where:
        shutil.copy(shot, Path(where) / shot.name)


def test_the_dashboard_shows_requests_rounds_and_stop_reasons(gw: Running, tmp_path: Path) -> None:
    rows = make_traffic(gw)
    browser = Browser(tmp_path / "profile")
    page = f"{gw.url}/ui"

    dom = browser.dom(page, "requests")
    listed = _cells(dom, 'class="req"')
    assert [r[3] for r in listed] == ["/v1/messages/count_tokens", "/v1/chat/completions", "/v1/messages"]
    assert [r[5] for r in listed] == ["answered", "complete", "complete"]
    assert [r[6] for r in listed] == ["", "stop", "end_turn"]
    assert listed[2][8].startswith("initial → ") and listed[2][12] == "rescued"
    assert "3 of 3 requests" in dom and "Final stop reasons" in dom
    assert ">max_tokens<" in dom  # the per-round distribution
    shot = tmp_path / "ui-requests.png"
    browser.screenshot(page, shot)
    _keep(shot)

    first = rows[0]
    detail = f"{page}#request={first['id']}"
    dom = browser.dom(detail, f"request-{first['id']}")
    timeline = re.search(r'<div class="rounds" id="timeline">(.*?)<h2>What the finisher noted', dom, re.S)
    assert timeline is not None
    heads = re.findall(r"<h3>(.*?)</h3>", timeline.group(1))
    assert len(heads) == first["rounds"] > 1 and heads[0] == "round 1: initial"
    reasons = re.findall(r"stop reason <b>(.*?)</b>", timeline.group(1))
    assert reasons[0] == "max_tokens" and reasons[-1] == "end_turn"
    assert "of 300" in timeline.group(1)  # the round's cap
    # Each round's input tokens and its own latency, from the log.
    assert len(re.findall(r"<div>\d+ input tokens</div>", timeline.group(1))) == first["rounds"]
    assert len(re.findall(r"<div>[\d.]+ ms</div>", timeline.group(1))) == first["rounds"]
    shot = tmp_path / "ui-request.png"
    browser.screenshot(detail, shot)
    _keep(shot)


def test_an_unknown_request_says_so(gw: Running, tmp_path: Path) -> None:
    make_traffic(gw)
    dom = Browser(tmp_path / "profile").dom(f"{gw.url}/ui#request=999999", "error")
    assert "error: no such request in the log" in dom
