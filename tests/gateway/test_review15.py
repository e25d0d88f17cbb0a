"""Review 15: bugs found in the shared PostgreSQL log and the shared model facts, each
proven here first."""

from __future__ import annotations

import pytest

from stopwise.gateway.logstore import LogLocation, LogUnavailable, open_reader, redact_url
from stopwise.gateway.pglog import migrate_url


@pytest.mark.parametrize("char", ["#", "?"])
def test_redact_url_hides_a_password_holding_a_hash_or_a_question_mark(char: str) -> None:
    # libpq takes these unencoded (conninfo_to_dict reads password 'se#cret'); urlsplit ends
    # the netloc there, and the whole URL came back unredacted.
    url = f"postgresql://u:se{char}cret@127.0.0.1:5432/db"
    assert "cret" not in redact_url(url)
    assert "cret" not in str(LogLocation("postgresql", url=url))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:se%zzcret@127.0.0.1:1/db",  # libpq quotes the bad token: the password
        "postgresql://u:secret@127.0.0.1:1/db?bogus=1",
    ],
)
def test_a_url_libpq_cannot_parse_is_log_unavailable_without_its_password(url: str) -> None:
    # Before: psycopg.ProgrammingError escaped untyped (a traceback at start), its text
    # holding the password.
    with pytest.raises(LogUnavailable) as info:
        migrate_url(url)
    assert "cret" not in str(info.value)
    with pytest.raises(LogUnavailable) as info:
        open_reader(LogLocation("postgresql", url=url))
    assert "cret" not in str(info.value)
