"""What the finisher learns about models: a fact holds for its ttl and then the catalog's word
is back; facts from elsewhere merge without undoing a newer one; the listener hears each
lesson learned here, never one merged in."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from stopwise.catalog import model_ceiling, prefill_supported
from stopwise.finisher import Fact, ModelMemory

MODELS = st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-6", "team-claude", "gpt-4o", "x"])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@st.composite
def lessons(draw: st.DrawFn) -> list[tuple[str, str, int, float]]:
    """(kind, model, value, seconds passed before it) in order."""
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["prefill", "ceiling", "wait"]),
                MODELS,
                st.integers(1, 200_000),
                st.floats(0, 50, allow_nan=False),
            ),
            max_size=30,
        )
    )


@given(lessons(), st.one_of(st.none(), st.floats(1, 40, allow_nan=False)))
def test_a_fact_holds_for_its_ttl_and_then_the_catalog_is_back(
    steps: list[tuple[str, str, int, float]], ttl: float | None
) -> None:
    """Invariant: at any time, what the memory answers is the last lesson on that model if it
    was learned less than ttl seconds ago, else the catalog's word."""
    clock = Clock()
    heard: list[Fact] = []
    memory = ModelMemory(ttl=ttl, on_learn=heard.append, clock=clock)
    last: dict[tuple[str, str], tuple[int, float]] = {}
    learned_at: list[float] = []  # the clock at each lesson, in order
    for kind, model, value, wait in steps:
        clock.now += wait
        if kind != "wait":
            learned_at.append(clock.now)
        if kind == "prefill":
            memory.forbid_prefill(model)
            last[(model, kind)] = (0, clock.now)
        elif kind == "ceiling":
            memory.learn_ceiling(model, value)
            last[(model, kind)] = (value, clock.now)
        for m in ("claude-sonnet-4-5", "claude-opus-4-6", "team-claude", "gpt-4o", "x"):
            p = last.get((m, "prefill"))
            live = p is not None and (ttl is None or clock.now < p[1] + ttl)
            assert memory.prefill("anthropic", m) == (False if live else prefill_supported(m))
            assert memory.prefill("openai", m) is False  # no prefill on OpenAI Chat, ever
            c = last.get((m, "ceiling"))
            live = c is not None and (ttl is None or clock.now < c[1] + ttl)
            assert memory.ceiling(m) == (c[0] if live and c else model_ceiling(m))
    assert [(f.fact, f.model) for f in heard] == [(k, m) for k, m, _, _ in steps if k != "wait"]
    # Each lesson heard holds exactly ttl from when it was learned (forever without one).
    assert [f.expires_at for f in heard] == [math.inf if ttl is None else t + ttl for t in learned_at]


@given(
    st.lists(
        st.tuples(MODELS, st.sampled_from(["prefill", "ceiling"]), st.integers(1, 10**5), st.floats(-50, 50))
    )
)
def test_merged_facts_keep_the_one_that_holds_longer_and_are_not_told_back(
    incoming: list[tuple[str, str, int, float]],
) -> None:
    clock = Clock()
    heard: list[Fact] = []
    memory = ModelMemory(ttl=10, on_learn=heard.append, clock=clock)
    memory.learn_ceiling("team-claude", 4096)  # learned here: holds until now + 10
    heard.clear()
    facts = [Fact(m, k, v, clock.now + dt) for m, k, v, dt in incoming]  # type: ignore[arg-type]
    memory.merge(facts)
    assert heard == []  # facts from elsewhere are not shared back
    for model in {m for m, _, _, _ in incoming} | {"team-claude"}:
        for kind in ("prefill", "ceiling"):
            candidates = [
                f for f in facts if f.model == model and f.fact == kind and f.expires_at > clock.now
            ]
            if model == "team-claude" and kind == "ceiling":
                candidates.append(Fact(model, "ceiling", 4096, clock.now + 10))
            if not candidates:
                continue
            best = max(f.expires_at for f in candidates)
            # Of equal expiries the later-merged wins; the value must be one of those.
            values = {f.value for f in candidates if f.expires_at == best}
            if kind == "ceiling":
                assert memory.ceiling(model) in values
            else:  # a replica's store may say either (value 0: rejected)
                assert memory.prefill("anthropic", model) in {bool(v) for v in values}


def test_expired_facts_are_not_merged_nor_listed() -> None:
    clock = Clock()
    memory = ModelMemory(ttl=5, clock=clock)
    memory.merge([Fact("team-claude", "prefill", 0, clock.now - 1), Fact("x", "ceiling", 7, clock.now + 1)])
    assert memory.prefill("anthropic", "team-claude") is True and memory.ceiling("x") == 7
    assert [f.model for f in memory.facts()] == ["x"]
    clock.now += 2
    assert memory.facts() == [] and memory.ceiling("x") is None


def test_a_fact_of_a_kind_this_version_does_not_know_is_ignored() -> None:
    memory = ModelMemory()
    assert memory.merge([Fact("x", "temperature", 1, math.inf)]) == 0  # type: ignore[arg-type]
    assert memory.facts() == []
