"""The per-app store behind ``previous_response_id``: bounded, oldest out first, and a chained
request's context is the stored input followed by the stored output."""

from __future__ import annotations

from stopwise.sim.responses_store import ResponseStore, StoredResponse


def stored(n: int) -> StoredResponse:
    user = {"role": "user", "content": f"prompt {n}"}
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": str(n)}]}]
    return StoredResponse((user,), {"id": f"resp_{n}", "output": output})


def test_context_is_input_then_output() -> None:
    s = stored(1)
    assert s.context == [{"role": "user", "content": "prompt 1"}, *s.body["output"]]


def test_bounded_oldest_out_first() -> None:
    store = ResponseStore(limit=3)
    for n in range(5):
        store.put(f"resp_{n}", stored(n))
    assert len(store) == 3
    assert store.get("resp_0") is None and store.get("resp_1") is None
    assert [store.get(f"resp_{n}") for n in (2, 3, 4)] == [stored(2), stored(3), stored(4)]


def test_put_again_refreshes_its_place() -> None:
    store = ResponseStore(limit=2)
    store.put("resp_a", stored(1))
    store.put("resp_b", stored(2))
    store.put("resp_a", stored(3))
    store.put("resp_c", stored(4))
    assert store.get("resp_b") is None and store.get("resp_a") == stored(3)
