"""The SSE codec against the WHATWG event-stream rules, with literal bytes.

Every test feeds bytes through :class:`SSEDecoder` in the chunkings that matter (whole, one
byte at a time, and split at a chosen point), because a decoder that only works on whole
input is the commonest SSE bug there is.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopwise.errors import EventTooLargeError, SSEError
from stopwise.sse import ServerSentEvent, SSEDecoder, encode_data, encode_event, iter_events


def decode_chunks(chunks: list[bytes], **kw: int) -> tuple[list[ServerSentEvent], ServerSentEvent | None]:
    """Dispatched events, and what flush() hands back at the end."""
    dec = SSEDecoder(**kw)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(dec.decode(chunk))
    return out, dec.flush()


def every_chunking(raw: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and every two-way split."""
    ways = [[raw], [raw[i : i + 1] for i in range(len(raw))]]
    ways += [[raw[:i], raw[i:]] for i in range(1, len(raw))]
    return ways


def assert_same_everywhere(raw: bytes, expected: list[ServerSentEvent], final: ServerSentEvent | None = None):
    for chunks in every_chunking(raw):
        events, last = decode_chunks(chunks)
        assert events == expected, chunks
        assert last == final, chunks


def ev(data: str, event: str | None = None, id: str | None = None, retry: int | None = None):
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


# --- line ends -----------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_each_line_end_separates_fields_and_dispatches(eol: bytes) -> None:
    raw = b"event: message_start" + eol + b"data: {}" + eol + eol + b"data: two" + eol + eol
    assert_same_everywhere(raw, [ev("{}", "message_start"), ev("two")])


def test_mixed_line_ends_in_one_stream() -> None:
    raw = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    assert_same_everywhere(raw, [ev("a\nb\nc"), ev("d")])


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # If the LF after a chunk-final CR were a second line end, this would be a blank line and
    # dispatch "a" on its own.
    events, last = decode_chunks([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [ev("a\nb")]
    assert last is None


def test_lone_cr_at_chunk_end_followed_by_other_byte() -> None:
    events, _ = decode_chunks([b"data: a\r", b"data: b\r", b"\r"])
    assert events == [ev("a\nb")]


def test_cr_at_chunk_end_then_cr_is_a_blank_line() -> None:
    events, _ = decode_chunks([b"data: a\r", b"\rdata: b\n\n"])
    assert events == [ev("a"), ev("b")]


def test_empty_chunk_between_cr_and_lf_does_not_split_the_crlf() -> None:
    # Transports do hand out empty chunks; the pending CR must survive them.
    events, last = decode_chunks([b"data: a\r", b"", b"\ndata: b\n\n"])
    assert events == [ev("a\nb")]
    assert last is None


# --- bytes vs text -------------------------------------------------------------------------


def test_multibyte_utf8_split_anywhere() -> None:
    text = "héllo 你好 🌍 ok"
    raw = f"data: {text}\n\n".encode()
    assert_same_everywhere(raw, [ev(text)])


def test_u2028_and_u2029_inside_data_are_not_line_breaks() -> None:
    # U+2028 is a line break for str.splitlines(); SSE splits on CR/LF bytes only.
    payload = '{"text":"a\u2028b\u2029c\x85d"}'
    assert_same_everywhere(f"data: {payload}\n\n".encode(), [ev(payload)])


def test_invalid_utf8_is_replaced_not_raised() -> None:
    events, _ = decode_chunks([b"data: \xff\xfe ok\n\n"])
    assert events == [ev("\ufffd\ufffd ok")]


# --- fields --------------------------------------------------------------------------------


def test_comments_are_ignored_and_comment_only_blocks_dispatch_nothing() -> None:
    raw = b": keep-alive\n\n:another\ndata: x\n: inside\n\n"
    assert_same_everywhere(raw, [ev("x")])


def test_multiline_data_joins_with_lf_including_empty_data_lines() -> None:
    raw = b"data: first\ndata:\ndata\ndata: \ndata: last\n\n"
    # "data:", "data" (no colon) and "data: " all add an empty line.
    assert_same_everywhere(raw, [ev("first\n\n\n\nlast")])


def test_only_one_leading_space_is_stripped() -> None:
    assert_same_everywhere(b"data:  two spaces\ndata:none\n\n", [ev(" two spaces\nnone")])


def test_json_holding_escaped_blank_line_is_one_event() -> None:
    payload = '{"text":"para one\\n\\npara two"}'
    assert_same_everywhere(f"event: x\ndata: {payload}\n\n".encode(), [ev(payload, "x")])


def test_field_without_colon_is_field_name_with_empty_value() -> None:
    events, _ = decode_chunks([b"event\ndata\nid\n\n"])
    # An empty event type is the spec's default type, which the decoder reports as None.
    assert events == [ev("", None, id="")]


def test_unknown_fields_are_ignored() -> None:
    events, _ = decode_chunks([b"foo: bar\nevent: e\nDATA: shout\ndata: y\nEvent: nope\n\n"])
    assert events == [ev("y", "e")]


def test_block_of_only_unknown_fields_dispatches_nothing() -> None:
    events, last = decode_chunks([b"foo: bar\n\nbaz\n\n"])
    assert events == []
    assert last is None


def test_event_without_data_is_dispatched_with_empty_data() -> None:
    # The SDK decoders dispatch such an event too; the accumulators decide what it means.
    events, _ = decode_chunks([b"event: ping\n\n"])
    assert events == [ev("", "ping")]


def test_id_is_sticky_and_id_with_nul_is_ignored() -> None:
    dec = SSEDecoder()
    events = dec.decode(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x003\ndata: c\n\nid:\ndata: d\n\n")
    assert [e.id for e in events] == ["1", "1", "1", ""]
    assert [e.data for e in events] == ["a", "b", "c", "d"]
    assert dec.last_event_id == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"3000", 3000),
        (b"0", 0),
        (b"30s", None),
        (b"-1", None),
        (b"1.5", None),
        (b"", None),
        ("²".encode(), None),
    ],
)
def test_retry_must_be_ascii_digits(value: bytes, expected: int | None) -> None:
    events, _ = decode_chunks([b"retry: " + value + b"\ndata: x\n\n"])
    assert events == [ev("x", retry=expected)]


# --- BOM -----------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_leading_bom_is_dropped_however_it_is_split() -> None:
    raw = BOM + b"data: x\n\n"
    assert_same_everywhere(raw, [ev("x")])


def test_only_the_first_bom_is_dropped() -> None:
    events, _ = decode_chunks([BOM + b"data: x\n\n" + BOM + b"data: y\n\n"])
    # A second BOM is part of the next line's field name, which is then unknown.
    assert events == [ev("x")]


@pytest.mark.parametrize("prefix", [b"", BOM[:1], BOM[:2], BOM])
def test_stream_of_only_part_of_a_bom_yields_nothing(prefix: bytes) -> None:
    dec = SSEDecoder()
    assert dec.decode(prefix) == []
    assert dec.flush() is None


def test_bytes_that_start_like_a_bom_but_are_not_one_are_kept() -> None:
    # 0xEF 0xBB then "d": not a BOM, so the bytes are data (decoded with replacement).
    events, last = decode_chunks([b"\xef", b"\xbbdata: x\n\n"])
    assert events == []  # the field name is "\ufffd\ufffddata": unknown, ignored
    assert last is None
    events, _ = decode_chunks([b"\xef", b"\xbb", b"\n", b"data: y\n\n"])
    assert events == [ev("y")]


# --- size limit ----------------------------------------------------------------------------


def test_event_over_the_limit_raises_a_clear_error() -> None:
    with pytest.raises(EventTooLargeError) as info:
        decode_chunks([b"data: " + b"x" * 200 + b"\n\n"], max_event_size=100)
    assert isinstance(info.value, SSEError)
    assert info.value.limit == 100
    assert "100" in str(info.value)


def test_event_over_the_limit_in_small_chunks_without_newlines() -> None:
    dec = SSEDecoder(max_event_size=100)
    dec.decode(b"data: ")
    with pytest.raises(EventTooLargeError):
        for _ in range(200):
            dec.decode(b"x")


def test_event_over_the_limit_whose_end_arrives_with_the_blank_line() -> None:
    # The size check must not depend on where the chunk boundaries fall.
    with pytest.raises(EventTooLargeError):
        decode_chunks([b"data: " + b"x" * 90, b"x" * 110 + b"\n\ndata: next\n\n"], max_event_size=100)


def test_many_events_each_under_the_limit_are_fine() -> None:
    raw = b"".join(b"data: " + b"x" * 80 + b"\n\n" for _ in range(50))
    events, _ = decode_chunks([raw], max_event_size=100)
    assert len(events) == 50


# --- flush ---------------------------------------------------------------------------------


def test_flush_returns_the_final_event_missing_its_blank_line() -> None:
    for tail in (b"", b"\n", b"\r\n", b"\r"):
        raw = b'event: message_delta\ndata: {}\n\nevent: message_stop\ndata: {"type":"message_stop"}' + tail
        for chunks in every_chunking(raw):
            events, last = decode_chunks(chunks)
            assert events == [ev("{}", "message_delta")]
            assert last == ev('{"type":"message_stop"}', "message_stop")


def test_flush_returns_none_when_nothing_is_pending() -> None:
    assert decode_chunks([b"data: a\n\n"])[1] is None
    assert decode_chunks([b"data: a\n\n\n\n"])[1] is None
    assert decode_chunks([b"data: a\n\n: trailing comment\n"])[1] is None
    assert decode_chunks([])[1] is None


def test_flush_resets_the_decoder() -> None:
    dec = SSEDecoder()
    dec.decode(b"data: a")
    assert dec.flush() == ev("a")
    assert dec.flush() is None
    assert dec.decode(b"data: b\n\n") == [ev("b")]


def test_iter_events_includes_the_unterminated_final_event() -> None:
    chunks = [b"data: a\n\nda", b"ta: b"]
    assert list(iter_events(chunks)) == [ev("a"), ev("b")]


# --- encoder -------------------------------------------------------------------------------


def test_encode_event_shape() -> None:
    assert encode_event('{"a":1}', event="message_start") == b'event: message_start\ndata: {"a":1}\n\n'
    assert encode_event("x", id="7", retry=100) == b"id: 7\nretry: 100\ndata: x\n\n"
    assert encode_event("a\nb") == b"data: a\ndata: b\n\n"


def test_encode_event_rejects_line_breaks_in_event_and_id() -> None:
    with pytest.raises(ValueError):
        encode_event("x", event="a\nb")
    with pytest.raises(ValueError):
        encode_event("x", id="1\r2")


def _one(raw: bytes) -> ServerSentEvent:
    events, last = decode_chunks([raw])
    assert last is None
    assert len(events) == 1
    return events[0]


@settings(max_examples=300, deadline=None)
@given(
    data=st.text(),
    event=st.none() | st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")),
)
def test_encode_then_decode_round_trips(data: str, event: str | None) -> None:
    got = _one(encode_event(data, event=event))
    # SSE has no escape for CR: every CR, LF or CRLF in data comes back as LF.
    assert got.data == data.replace("\r\n", "\n").replace("\r", "\n")
    # An empty event name is the default type, reported as None like a missing one.
    assert got.event == (event or None)


@settings(max_examples=200, deadline=None)
@given(data=st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")))
def test_encode_then_decode_is_exact_without_cr_or_lf(data: str) -> None:
    assert _one(encode_event(data)).data == data


@settings(max_examples=300, deadline=None)
@given(
    data=st.text(),
    event=st.none() | st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")),
)
def test_encode_data_is_encode_event_on_bytes(data: str, event: str | None) -> None:
    # The finishers' bytes path must frame exactly like the str path, line breaks included.
    assert encode_data(data.encode(), event=event) == encode_event(data, event=event)


def test_encode_data_rejects_a_line_break_in_the_event() -> None:
    with pytest.raises(ValueError):
        encode_data(b"{}", event="a\nb")


@settings(max_examples=150, deadline=None)
@given(
    datas=st.lists(st.text(), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    crlf=st.booleans(),
)
def test_any_chunking_of_encoded_events_gives_the_same_events(
    datas: list[str], cuts: list[int], crlf: bool
) -> None:
    raw = b"".join(encode_event(d, event="e") for d in datas)
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    # Repeated cut points give empty chunks, which transports do produce.
    points = sorted(c % (len(raw) + 1) for c in cuts)
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    events, last = decode_chunks(chunks)
    assert last is None
    assert [e.data for e in events] == [d.replace("\r\n", "\n").replace("\r", "\n") for d in datas]
    assert all(e.event == "e" for e in events)
