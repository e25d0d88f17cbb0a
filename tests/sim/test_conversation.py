from __future__ import annotations

from stopwise.sim import document, document_for_messages, full_document, kind_for_messages
from stopwise.sim.conversation import Turn, analyze, locate, pick_kind


def test_pick_kind_takes_the_first_word_by_position() -> None:
    assert pick_kind("a JSON table please", client_tools=False) == "json"
    assert pick_kind("Tables of code", client_tools=False) == "table"
    assert pick_kind("call the tool", client_tools=False) == "prose"
    assert pick_kind("call the tool", client_tools=True) == "tool"
    assert pick_kind("nothing", client_tools=False) == "prose"
    assert pick_kind("codex", client_tools=False) == "prose"


def test_locate() -> None:
    doc = "alpha beta\n\ngamma delta epsilon"
    assert locate(doc, "alpha be", 0) == 8  # exact, mid-word
    assert locate(doc, "  alpha beta ", 0) == 10  # whitespace stripped by the client
    assert locate(doc, "gamma", 10) == 17  # the seam's whitespace was dropped
    long = "The harbour committee records the tides of late autumn before the first frost arrives."
    # An uncleaned reply (a preamble, a repeated tail) still ends somewhere in the document.
    assert locate(long, "Sure, continuing: the tides of late autumn before the first", 0) == long.index(
        " frost"
    )
    assert locate(doc, "alpha XYZ", 0) == 6  # longest common prefix
    assert locate(doc, "zzz", 0) is None


def test_analyze_modes() -> None:
    doc = full_document("code")
    user = Turn("user", "code please")
    partial = Turn("assistant", doc[:500])
    nudge = Turn("user", "continue the json")  # kind words in a nudge are ignored
    assert analyze([user], client_tools=False, prefill=True).mode == "fresh"
    prefill = analyze([user, partial], client_tools=False, prefill=True)
    assert (prefill.mode, prefill.cursor) == ("prefill", 500)
    cont = analyze([user, partial, nudge], client_tools=False, prefill=False)
    assert (cont.mode, cont.kind, cont.cursor) == ("continue", "code", 500)
    assert analyze([user, partial], client_tools=False, prefill=False).mode == "fresh"
    finished = analyze(
        [user, Turn("assistant", doc), Turn("user", "a table now")], client_tools=False, prefill=True
    )
    assert (finished.mode, finished.kind) == ("fresh", "table")
    tool = analyze(
        [Turn("user", "tool"), Turn("assistant", "", ["toolu_1"]), Turn("user", "", tool_results=True)],
        client_tools=True,
        prefill=True,
    )
    assert tool.mode == "tool-followup"
    paused = analyze([user, Turn("assistant", "", server_tool_uses=2)], client_tools=False, prefill=True)
    assert (paused.mode, paused.prior_searches) == ("server-continue", 2)


def test_public_helpers_for_message_dicts() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Write a table."}]},
        {"role": "assistant", "content": full_document("table")[:100]},
        {"role": "user", "content": "Continue. No JSON, no code."},
    ]
    assert kind_for_messages(messages) == "table"
    assert document_for_messages(messages) == full_document("table")
    assert document_for_messages([{"role": "user", "content": "tool"}], tools=True) == full_document("tool")


def test_a_nudge_after_the_whole_tool_preface_is_a_continue_request() -> None:
    # The tool document is its preface text and then the call: matching the whole preface does
    # not finish it, so the next user turn continues (towards the call) instead of starting over.
    preface = document("tool").text
    turns = [
        Turn("user", "Write the tool call please"),
        Turn("assistant", preface),
        Turn("user", "Continue exactly where you stopped."),
    ]
    a = analyze(turns, client_tools=True, prefill=True)
    assert (a.kind, a.mode, a.cursor) == ("tool", "continue", len(preface))


def test_prefill_after_server_searches_continues_the_text() -> None:
    doc = full_document("prose")
    paused = Turn("assistant", "", server_tool_uses=3)
    assert analyze([Turn("user", "Search, then prose"), paused], client_tools=False, prefill=True).mode == (
        "server-continue"
    )
    with_text = Turn("assistant", doc[:500], server_tool_uses=3)
    a = analyze([Turn("user", "Search, then prose"), with_text], client_tools=False, prefill=True)
    assert (a.mode, a.cursor, a.prior_searches) == ("prefill", 500, 3)
