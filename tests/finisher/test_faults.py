"""Every simulator fault through the finisher (issue 5, "Errors"; brief/wire.md "Retry policy").

A fault applies to every request the finisher makes for the call (its continuation rounds too).
So a passing fault (``fail-first``, a stream that breaks after making progress, a stall, slow
pacing, a malformed line) must end in the complete document, and a persistent one in the SDK's
own typed error, with whatever text arrived before it a prefix of the document: nothing lost,
nothing duplicated. Requests really made are counted on a tap under the finisher; waits are
recorded by the transport's injected sleep.
"""

from __future__ import annotations

import uuid
from typing import Any

import anthropic
import openai
import pytest
from _finish import (
    FAST_RETRY,
    Rig,
    anthropic_sdk,
    ask,
    finish_anthropic,
    finish_openai,
    first_difference,
    openai_sdk,
    rig,
)

from stopwise.finisher import Policy, RetryPolicy
from stopwise.sim import full_document

KIND = "json"
DOC = full_document(KIND)
CAP = 137
POLICY = Policy(max_rounds=600, grow_max_tokens=1.0, retry=FAST_RETRY)
MAX_RETRIES = FAST_RETRY.max_retries

# name -> (dialect, model)
TARGETS = {
    "anthropic-prefill": ("anthropic", "claude-haiku-4-5"),
    "anthropic-continue": ("anthropic", "claude-opus-4-6"),
    "openai": ("openai", "gpt-4o"),
}


def key() -> dict[str, str]:
    return {"x-sim-attempt-key": uuid.uuid4().hex}


def finish(sim_url: str, r: Rig, target: str, stream: bool, fault: str, **extra: str) -> Any:
    dialect, model = TARGETS[target]
    headers = {"x-sim-fault": fault, **extra}
    if dialect == "anthropic":
        client = anthropic_sdk(sim_url, r)
        return finish_anthropic(
            client, r, model=model, cap=CAP, messages=ask(KIND), stream=stream, headers=headers
        )
    return finish_openai(
        openai_sdk(sim_url, r), r, model=model, cap=CAP, messages=ask(KIND), stream=stream, headers=headers
    )


def partial_before_error(
    sim_url: str, r: Rig, target: str, stream: bool, fault: str
) -> tuple[str, Exception]:
    """Run a request that must fail; the text the SDK handed out before the error, and it."""
    text, exc = collect(sim_url, r, target, stream, fault)
    assert exc is not None, f"no error; got {len(text)} characters"
    return text, exc


def collect(sim_url: str, r: Rig, target: str, stream: bool, fault: str) -> tuple[str, Exception | None]:
    """The text the SDK handed out, and the error it raised if any."""
    dialect, model = TARGETS[target]
    headers = {"x-sim-fault": fault, **key()}
    text = ""
    r.reset()
    try:
        if dialect == "anthropic":
            client = anthropic_sdk(sim_url, r)
            if not stream:
                msg = client.messages.create(
                    model=model, max_tokens=CAP, messages=ask(KIND), extra_headers=headers
                )  # type: ignore[arg-type]
                return "".join(b.text for b in msg.content if b.type == "text"), None
            with client.messages.create(
                model=model, max_tokens=CAP, messages=ask(KIND), extra_headers=headers, stream=True
            ) as events:  # type: ignore[arg-type]
                for event in events:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        text += event.delta.text
        else:
            oai = openai_sdk(sim_url, r)
            if not stream:
                done = oai.chat.completions.create(
                    model=model, max_tokens=CAP, messages=ask(KIND), extra_headers=headers
                )  # type: ignore[arg-type]
                return done.choices[0].message.content or "", None
            with oai.chat.completions.create(
                model=model, max_tokens=CAP, messages=ask(KIND), extra_headers=headers, stream=True
            ) as chunks:  # type: ignore[arg-type]
                for chunk in chunks:
                    for choice in chunk.choices:
                        text += choice.delta.content or ""
    except (anthropic.APIError, openai.APIError) as exc:
        return text, exc
    return text, None


# -- passing faults: the complete document -----------------------------------------------------------
TRANSIENT = [
    "fail-first:2",
    "fail-first:2:429",
    "fail-first:2:500",
    "fail-first:2:503",
    "fail-first:1,retry-after:3",
    "fail-first:1,retry-after-ms:250",
    "stream-error:40",
    "drop:3000",
    "stall:0.02",
    "slow:0.02",
    "malformed:6",
    "no-done",
]


@pytest.mark.parametrize("fault", TRANSIENT)
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_passing_fault_ends_in_the_whole_document(
    sim_url: str, target: str, stream: bool, fault: str
) -> None:
    with rig(policy=POLICY) as r:
        done = finish(sim_url, r, target, stream, fault, **key())
    assert done.text == DOC, first_difference(done.text, DOC)
    assert done.stop in ("end_turn", "stop")
    assert len(done.ids) == 1


def test_fail_first_counts_every_request_and_waits_are_the_retry_policys(sim_url: str) -> None:
    # With the attempt key, only the first two requests of the call fail: two retries, then the
    # rounds. Without a key the simulator keys attempts by body, so every round fails twice.
    policy = Policy(max_rounds=600, retry=RetryPolicy(initial_delay=0.5, max_delay=8.0))
    with rig(policy=policy) as r:
        done = finish(sim_url, r, "anthropic-prefill", False, "fail-first:2", **key())
        assert done.text == DOC
        statuses = [e.status for e in r.sent]
        assert statuses[:3] == [529, 529, 200] and statuses.count(529) == 2
        assert done.headers["x-stopwise-retries"] == "2"
        # Exponential backoff with jitter: attempt n waits min(0.5·2ⁿ, 8)·(1 − 0.25·random).
        assert len(r.sleeps) == 2
        for n, wait in enumerate(r.sleeps):
            base = min(0.5 * 2**n, 8.0)
            assert 0.75 * base <= wait <= base, (n, wait)
        rounds = int(done.headers["x-stopwise-rounds"])
        assert rounds == statuses.count(200)

        done = finish(sim_url, r, "anthropic-prefill", False, "fail-first:2")
        assert done.text == DOC
        statuses = [e.status for e in r.sent]
        assert statuses.count(529) == 2 * statuses.count(200)


@pytest.mark.parametrize(
    ("fault", "waits"),
    [("fail-first:2,retry-after:3", [3.0, 3.0]), ("fail-first:1,retry-after-ms:250", [0.25])],
)
@pytest.mark.parametrize("target", ["anthropic-prefill", "openai"])
def test_retry_after_is_honoured(sim_url: str, target: str, fault: str, waits: list[float]) -> None:
    with rig(policy=POLICY) as r:
        done = finish(sim_url, r, target, False, fault, **key())
    assert done.text == DOC
    assert r.sleeps == waits


def test_retry_after_beyond_the_limit_is_not_waited_for(sim_url: str) -> None:
    # RetryPolicy.max_retry_after (120 s): a longer wait is an outage, not a retry.
    with rig(policy=POLICY) as r:
        with pytest.raises(anthropic.OverloadedError):
            finish(sim_url, r, "anthropic-prefill", False, "fail-first:1,retry-after:500", **key())
        assert len(r.sent) == 1 and r.sleeps == []


# -- persistent faults: the typed error, partial text a prefix -------------------------------------
PERSISTENT_ANTHROPIC = [
    ("429", anthropic.RateLimitError),
    ("500", anthropic.InternalServerError),
    ("503", anthropic.ServiceUnavailableError),
    ("529", anthropic.OverloadedError),
    ("overloaded", anthropic.OverloadedError),
]


@pytest.mark.parametrize(("fault", "error"), PERSISTENT_ANTHROPIC)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_persistent_status_is_retried_then_raised(
    sim_url: str, fault: str, error: type[Exception], stream: bool
) -> None:
    with rig(policy=POLICY) as r:
        text, exc = partial_before_error(sim_url, r, "anthropic-prefill", stream, fault)
        assert isinstance(exc, error), repr(exc)
        assert text == ""
        assert len(r.sent) == 1 + MAX_RETRIES
        assert len(r.sleeps) == MAX_RETRIES
        if fault == "429":
            assert r.sleeps == [1.0] * MAX_RETRIES  # the simulator's retry-after: 1
        # The finisher already retried: it tells the SDK not to retry again.
        assert exc.response.headers["x-should-retry"] == "false"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("429", openai.RateLimitError),
        ("500", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("529", openai.InternalServerError),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_openai_persistent_status(sim_url: str, fault: str, error: type[Exception], stream: bool) -> None:
    with rig(policy=POLICY) as r:
        text, exc = partial_before_error(sim_url, r, "openai", stream, fault)
        assert isinstance(exc, error), repr(exc)
        assert text == "" and len(r.sent) == 1 + MAX_RETRIES


def test_sdk_does_not_retry_what_the_finisher_retried(sim_url: str) -> None:
    # With the SDK's own default retries on, a persistent 529 still costs 1 + max_retries requests.
    with (
        rig(policy=POLICY) as r,
        anthropic.Anthropic(base_url=sim_url, api_key="x", http_client=r.client) as client,
    ):
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=CAP,
                messages=ask(KIND),
                extra_headers={"x-sim-fault": "529"},
            )  # type: ignore[arg-type]
        assert len(r.sent) == 1 + MAX_RETRIES


@pytest.mark.parametrize("target", ["anthropic-prefill", "openai"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_spend_limit_is_never_retried(sim_url: str, target: str, stream: bool) -> None:
    with rig(policy=POLICY) as r:
        text, exc = partial_before_error(sim_url, r, target, stream, "spend-limit")
        assert isinstance(exc, anthropic.RateLimitError | openai.RateLimitError), repr(exc)
        assert len(r.sent) == 1 and r.sleeps == [] and text == ""


@pytest.mark.parametrize("target", ["anthropic-prefill", "openai"])
def test_spend_limit_is_not_retried_by_the_sdk_either(sim_url: str, target: str) -> None:
    # brief/wire.md: the SDKs retry a spend-limit 429 unless told `x-should-retry: false`. A
    # caller keeping the SDK's default retries must still see one request, not three.
    with rig(policy=POLICY) as r:
        headers = {"x-sim-fault": "spend-limit"}
        if target == "openai":
            with (
                openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", http_client=r.client) as oai,
                pytest.raises(openai.RateLimitError),
            ):
                oai.chat.completions.create(
                    model="gpt-4o", max_tokens=CAP, messages=ask(KIND), extra_headers=headers
                )  # type: ignore[arg-type]
        else:
            with (
                anthropic.Anthropic(base_url=sim_url, api_key="x", http_client=r.client) as client,
                pytest.raises(anthropic.RateLimitError),
            ):
                client.messages.create(
                    model="claude-haiku-4-5", max_tokens=CAP, messages=ask(KIND), extra_headers=headers
                )  # type: ignore[arg-type]
        assert len(r.sent) == 1, f"{len(r.sent)} requests for a spend-limit 429"


def test_should_retry_false_is_honoured(sim_url: str) -> None:
    with rig(policy=POLICY) as r:
        _, exc = partial_before_error(
            sim_url, r, "anthropic-prefill", False, "fail-first:1,should-retry:false"
        )
        assert isinstance(exc, anthropic.OverloadedError)
        assert len(r.sent) == 1 and r.sleeps == []


def test_should_retry_true_overrides_a_spend_limit(sim_url: str) -> None:
    # x-should-retry overrides the status either way (RetryPolicy docstring).
    with rig(policy=POLICY) as r:
        _, exc = partial_before_error(sim_url, r, "anthropic-prefill", False, "spend-limit,should-retry:true")
        assert isinstance(exc, anthropic.RateLimitError)
        assert len(r.sent) == 1 + MAX_RETRIES


@pytest.mark.parametrize("target", list(TARGETS))
def test_stream_that_always_breaks_before_text_ends_in_an_error(sim_url: str, target: str) -> None:
    # stream-error:2: every stream breaks after two events: on the Messages wire before any
    # text (message_start, content_block_start), on Chat Completions after one token. No real
    # progress: the retries run out and the SDK raises; what was shown is a prefix.
    with rig(policy=POLICY) as r:
        text, exc = partial_before_error(sim_url, r, target, True, "stream-error:2")
        assert isinstance(exc, anthropic.APIStatusError | openai.APIError), repr(exc)
        assert DOC.startswith(text)
        if target.startswith("anthropic"):
            # Nothing to continue from: each retry is the first request again, not a
            # continuation of an empty answer (which the API rejects with a 400).
            assert text == ""
            assert [e.status for e in r.sent] == [200] * (1 + MAX_RETRIES)


@pytest.mark.parametrize("target", list(TARGETS))
def test_dropped_stream_with_no_progress_ends_in_an_error(sim_url: str, target: str) -> None:
    with rig(policy=POLICY) as r:
        text, exc = partial_before_error(sim_url, r, target, True, "drop:200")
        assert isinstance(exc, anthropic.APIError | openai.APIError), repr(exc)
        assert DOC.startswith(text)


@pytest.mark.parametrize("target", list(TARGETS))
def test_dropped_body_ends_in_a_connection_error(sim_url: str, target: str) -> None:
    # Every JSON body is cut after 200 bytes: nothing usable ever arrives.
    with rig(policy=POLICY) as r:
        _, exc = partial_before_error(sim_url, r, target, False, "drop:200")
        assert isinstance(exc, anthropic.APIConnectionError | openai.APIConnectionError), repr(exc)
        assert len(r.sent) == 1 + MAX_RETRIES


@pytest.mark.parametrize("target", list(TARGETS))
def test_stream_that_breaks_after_progress_then_keeps_breaking(sim_url: str, target: str) -> None:
    # The first round makes progress; later rounds break with nothing new (the attempt key makes
    # only requests after the first fail). What was shown stays a prefix of the document.
    with rig(policy=Policy(max_rounds=600, retry=RetryPolicy(max_retries=2, initial_delay=0.001))) as r:
        text, exc = partial_before_error(sim_url, r, target, True, "stream-error:2,malformed:1")
        assert DOC.startswith(text), first_difference(text, DOC)
        assert isinstance(exc, anthropic.APIError | openai.APIError)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_stream_without_its_terminal_events(sim_url: str, target: str, stream: bool) -> None:
    # no-terminal: every stream ends without its stop reason (message_delta / finish chunk). The
    # finisher cannot know the answer ended, so it resumes, making progress each round, until a
    # round brings nothing new. What it hands back is a prefix of the document, nearly all of it,
    # nothing doubled; a non-streaming body (no terminal event to lose) is simply complete.
    with rig(policy=POLICY) as r:
        text, exc = collect(sim_url, r, target, stream, "no-terminal")
    assert DOC.startswith(text), first_difference(text, DOC)
    if not stream:
        assert text == DOC and exc is None
    else:
        assert len(text) >= 0.9 * len(DOC), f"{len(text)} of {len(DOC)} characters"
