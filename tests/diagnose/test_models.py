from __future__ import annotations

from stopwise.diagnose.models import model_ceiling, relays_with_default


def test_ceilings_longest_prefix_and_provider_prefix() -> None:
    assert model_ceiling("claude-opus-4-20250514") == 32000
    assert model_ceiling("claude-opus-4-5-20251101") == 64000
    assert model_ceiling("anthropic/claude-3-5-sonnet-20241022") == 8192
    assert model_ceiling("gpt-4o-mini") == 16384
    assert model_ceiling("some-local-model") is None and model_ceiling(None) is None


def test_relay_defaults() -> None:
    assert relays_with_default(8192) == ("new-api",)
    assert "one-api" in relays_with_default(4096)
    assert relays_with_default(1000) == () and relays_with_default(None) == ()
