"""The three languages hold the same texts, fill every placeholder, and read natively."""

from __future__ import annotations

import re
import string

import pytest
from diagnose_cases import CASES

from stopwise.diagnose import CATEGORIES, LANGS, diagnose

TABLES = ("LABELS", "DEFAULTS", "FOUND", "CUT", "DIALECT", "FRAG", "CATS", "CATS_RESPONSES")


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_same_keys_and_placeholders_as_english(lang: str) -> None:
    en, other = LANGS["en"], LANGS[lang]
    for table in TABLES:
        a, b = getattr(en, table), getattr(other, table)
        assert a.keys() == b.keys(), (lang, table)
        for key in a:
            fields_a = _fields(a[key]) if isinstance(a[key], str) else {f for s in a[key] for f in _fields(s)}
            fields_b = _fields(b[key]) if isinstance(b[key], str) else {f for s in b[key] for f in _fields(s)}
            assert fields_a == fields_b, (lang, table, key)
    assert set(other.CATS) == set(CATEGORIES)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


SAMPLE = {c.name.split("/")[0]: c for c in CASES}.values()


@pytest.mark.parametrize("lang", sorted(LANGS))
@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: c.name)
def test_every_placeholder_filled(case, lang: str) -> None:  # type: ignore[no-untyped-def]
    d = diagnose(case.log, lang)
    for text in (d.summary, d.cause, d.fix, d.prevention):
        assert text
        assert not re.search(r"\{[a-z_]+\}", text), text
        assert " ?" not in text and "?;" not in text and "?." not in text, text
    if lang != "en":
        assert re.search(r"[\u4e00-\u9fff]", d.summary)


def test_traditional_uses_the_providers_vocabulary() -> None:
    tw = LANGS["zh-TW"]
    blob = repr({t: getattr(tw, t) for t in TABLES})
    for word in ("回應", "令牌", "截斷", "請求"):
        assert word in blob
    # Simplified-only forms must not leak into Traditional.
    for simplified in ("响应", "请求", "截断", "设置", "默认", "个", "数据"):
        assert simplified not in blob, simplified


def test_simplified_has_no_traditional_forms() -> None:
    cn = LANGS["zh-CN"]
    blob = repr({t: getattr(cn, t) for t in TABLES})
    for traditional in ("回應", "請求", "截斷", "預設", "個", "資料", "訊息"):
        assert traditional not in blob, traditional


def test_unknown_says_what_it_found() -> None:
    d = diagnose(
        'HTTP/1.1 200 OK\n{"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o", '
        '"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, '
        '"finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}'
    )
    assert d.category == "unknown" and d.confidence == 0.0
    assert "stop" in d.summary and "gpt-4o" in d.summary
