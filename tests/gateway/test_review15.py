"""Review 15: bugs found in the shared PostgreSQL log and the shared model facts, each
proven here first."""

from __future__ import annotations

import pytest

from stopwise.gateway.logstore import LogLocation, redact_url


@pytest.mark.parametrize("char", ["#", "?"])
def test_redact_url_hides_a_password_holding_a_hash_or_a_question_mark(char: str) -> None:
    # libpq takes these unencoded (conninfo_to_dict reads password 'se#cret'); urlsplit ends
    # the netloc there, and the whole URL came back unredacted.
    url = f"postgresql://u:se{char}cret@127.0.0.1:5432/db"
    assert "cret" not in redact_url(url)
    assert "cret" not in str(LogLocation("postgresql", url=url))
