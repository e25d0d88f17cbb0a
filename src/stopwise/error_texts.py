"""One catalog of the error and status texts that APIs, relays and clients write, each mapped to
its diagnosis category (brief/diagnosis.md), for the finisher and for ``stopwise diagnose``.

Why texts at all: many failures carry no machine-readable signal but their message (the 400s of
brief/wire.md, a relay's Chinese notice, a CLI's own line), and a pasted log often keeps only the
message. Each entry says who writes it (``source``) and how much it alone says (``weight``, 0..1):
an API's exact sentence is near-certain; a phrase several failures share is a hint that other
evidence must back. Texts are matched lowercase, without backticks, with every run of whitespace
read as one space (terminals wrap long lines inside words and sentences).

Where the texts come from: the providers' documented error messages (Anthropic, OpenAI, Azure
OpenAI, AWS Bedrock, Google Vertex / Gemini), the relays' and clients' sources and the real logs
of corpus/diagnose/ (each with its thread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CATALOG",
    "CEILING_TEXT",
    "CEILING_TEXT_OPENAI",
    "ErrorText",
    "find",
    "matches",
    "normalize",
]


@dataclass(frozen=True, slots=True)
class ErrorText:
    category: str
    text: str  # a lowercase literal; with ``pattern``, the literal that must occur first
    weight: float
    source: str
    pattern: re.Pattern[str] | None = None  # checked on the normalized text when given
    # A field name or phrase a healthy response carries too (``reasoning_tokens``, a web
    # search's ``srvtoolu_`` ids, Azure's ``jailbreak`` filter result): it counts only in a log
    # that shows a failure by other evidence.
    hint: bool = False


def _t(category: str, weight: float, source: str, *texts: str) -> tuple[ErrorText, ...]:
    return tuple(ErrorText(category, t, weight, source) for t in texts)


def _re(category: str, weight: float, source: str, literal: str, regex: str) -> ErrorText:
    return ErrorText(category, literal, weight, source, re.compile(regex))


#: ``max_tokens: 128001 > 64000, which is the maximum allowed number of output tokens``: the
#: second number is the model's ceiling (the finisher learns it).
CEILING_TEXT = re.compile(r"max_tokens: \d+ > (\d+), which is the maximum allowed")
#: OpenAI's form: ``This model supports at most 16384 completion tokens``.
CEILING_TEXT_OPENAI = re.compile(r"supports at most ([\d,]+) (?:completion|output) tokens")

_ENTRIES: tuple[ErrorText, ...] = (
    # -- 400s known by their text ------------------------------------------------------------
    *_t(
        "invalid_request_trailing_whitespace",
        0.97,
        "anthropic",
        "final assistant content cannot end with trailing whitespace",
    ),
    *_t(
        "invalid_request_prefill_unsupported", 0.97, "anthropic", "does not support assistant message prefill"
    ),
    *_t(
        "invalid_request_empty_text_block",
        0.97,
        "anthropic",
        "text content blocks must be non-empty",
        "text content blocks must contain non-whitespace text",
        "all messages must have non-empty content",
        "must have non-empty content",
    ),
    *_t(
        "invalid_request_empty_text_block",
        0.9,
        "bedrock",
        "the text field in the contentblock object",
        "text field in the contentblock object is blank",
        "contentblock object at messages",
    ),
    *_t(
        "invalid_request_tool_use_without_tool_result",
        0.97,
        "anthropic",
        "tool_use ids were found without tool_result blocks",
        "tool_use block must have a corresponding tool_result",
    ),
    *_t(
        "invalid_request_tool_use_without_tool_result",
        0.95,
        "openai",
        "must be followed by tool messages responding",
        "tool_call_ids did not have response messages",
        "insufficient tool messages following tool_calls message",
        "an assistant message with 'tool_calls' must be followed by tool messages",
    ),
    *_t(
        "invalid_request_tool_result_without_tool_use",
        0.97,
        "anthropic",
        "unexpected tool_use_id found in tool_result",
        "tool_result block(s) provided when previous message does not contain any tool_use",
        "each tool_result block must have a corresponding tool_use block",
    ),
    *_t(
        "invalid_request_tool_result_without_tool_use",
        0.95,
        "openai",
        "must be a response to a preceeding message with 'tool_calls'",
        "must be a response to a preceding message with 'tool_calls'",
        "messages with role 'tool' must be a response",
        "role 'tool' must be a response",
    ),
    *_t(
        "invalid_request_max_tokens_above_model_limit",
        0.95,
        "anthropic",
        "which is the maximum allowed number of output tokens",
        "max_tokens is too large",
    ),
    *_t(
        "invalid_request_max_tokens_above_model_limit",
        0.85,
        "openai",
        "max_completion_tokens is too large",
        "this model supports at most",
        "maximum value for max_tokens",
        "max_tokens must be less than or equal to",
        "range of max_tokens should be",
        "max_tokens: expected a value",
    ),
    *_t(
        "invalid_request_thinking_budget",
        0.95,
        "anthropic",
        "must be greater than thinking.budget_tokens",
        "thinking.budget_tokens: input should be greater than or equal to 1024",
        "budget_tokens: input should be greater than or equal to 1024",
        "thinking.enabled.budget_tokens",
        "max_tokens must be greater than thinking.budget_tokens",
    ),
    *_t(
        "invalid_request_thinking_budget",
        0.75,
        "anthropic",
        "budget_tokens",
        "thinking_budget",
        "thinking budget",
    ),
    *_t(
        "context_window_exceeded_by_max_tokens",
        0.95,
        "anthropic",
        "input length and max_tokens exceed context limit",
    ),
    *_t(
        "context_window_exceeded_by_max_tokens",
        0.85,
        "openai-compatible",
        "however, you requested",
        "requested tokens exceed context window",
        "exceeds the model's context window when added to max_tokens",
        "please reduce the length of the messages or completion",
        "max_tokens is too large for the input",
    ),
    *_t(
        "context_window_exceeded",
        0.95,
        "anthropic",
        "prompt is too long",
        "input is too long for requested model",
        "input is too long",
    ),
    *_t(
        "context_window_exceeded",
        0.93,
        "openai",
        "context_length_exceeded",
        "maximum context length",
        "this model's maximum context length is",
        "reduce the length of the messages",
        "exceeds the context window",
        "context window exceeds limit",
        "contextwindowexceedederror",
        "input tokens exceed the configured limit",
        "too many input tokens",
        "prompt tokens exceed",
        "exceeds the maximum number of tokens allowed",
        "exceed max message tokens",
        "is longer than the model's context length",
        "max_seq_len",
        "input token count exceeds the maximum",
    ),
    *_t(
        "context_window_exceeded",
        0.9,
        "one-api",
        "上下文长度超过",
        "超出最大上下文",
        "输入过长",
        "超过最大长度",
    ),
    *_t(
        "content_filter",
        0.95,
        "azure-openai",
        "content management policy",
        "responsibleaipolicyviolation",
        "content_filter",
        "content filtering",
        "contentpolicyviolationerror",
        "filtered due to the prompt triggering",
        "jailbreak",
    ),
    *_t("content_filter", 0.85, "one-api", "敏感内容", "内容审核", "不安全或敏感"),
    *_t(
        "invalid_request_unsupported_parameter",
        0.93,
        "openai",
        "unsupported parameter",
        "unsupported_parameter",
        "unsupported value",
        "unrecognized request argument",
        "is not supported with this model",
        "unknown parameter",
        "use 'max_completion_tokens' instead",
        "extra inputs are not permitted",
        "extra_forbidden",
        "does not support parameters",
        "not supported by this model",
    ),
    *_t(
        "invalid_request_unsupported_parameter",
        0.93,
        "anthropic",
        "temperature and top_p cannot both be specified",
        "cannot both be specified for this model",
        "only the default (1) value is supported",
        "does not support 'temperature'",
    ),
    *_t(
        "invalid_request_unsupported_parameter",
        0.85,
        "azure-openai",
        "stream_options",
    ),
    # -- pause_turn and server tools ---------------------------------------------------------
    *_t(
        "pause_turn_unhandled",
        0.9,
        "anthropic",
        "was found without a corresponding",
        "web_search_tool_result",
        "srvtoolu_",
        "unhandled stop reason: pause_turn",
    ),
    *_t("pause_turn_unhandled", 0.6, "anthropic", "pause_turn"),
    # -- auth, access, routing ---------------------------------------------------------------
    *_t(
        "auth_invalid_api_key",
        0.95,
        "anthropic",
        "invalid x-api-key",
        "authentication_error",
        "invalid bearer token",
    ),
    *_t(
        "auth_invalid_api_key",
        0.93,
        "openai",
        "incorrect api key provided",
        "invalid_api_key",
        "invalid api key",
        "api key not valid",
        "no api key provided",
        "you didn't provide an api key",
        "access denied due to invalid subscription key",
        "api_key_invalid",
        "invalid authentication",
        "authenticationerror",
    ),
    *_t(
        "auth_invalid_api_key",
        0.93,
        "one-api",
        "无效的令牌",
        "令牌已过期",
        "令牌状态不可用",
        "该令牌额度已用尽",
        "未提供令牌",
        "invalid token",
        "token is invalid",
        "api key 无效",
        "令牌无效",
        "身份验证失败",
    ),
    *_t(
        "permission_denied_region",
        0.95,
        "anthropic",
        "unsupported_country_region_territory",
        "country, region, or territory not supported",
        "not allowed from unsupported countries, regions, or territories",
        "unsupported countries, regions, or territories",
        "user location is not supported",
        "not available in your region",
        "not available in your country",
    ),
    *_t("permission_denied_region", 0.7, "anthropic", "request not allowed"),
    *_t(
        "forbidden_waf_user_agent",
        0.9,
        "cloudflare",
        "sorry, you have been blocked",
        "attention required! | cloudflare",
        "error code: 1010",
        "error 1010",
        "error code: 1020",
        "error 1020",
        "cf-error-details",
        "access denied | ",
        "the owner of this website",
        "browser_signature_banned",
        "just a moment...",
        "enable javascript and cookies to continue",
    ),
    *_t("forbidden_waf_user_agent", 0.55, "cloudflare", "cloudflare", "cf-ray"),
    _re(
        "model_not_found",
        0.93,
        "openai",
        "does not exist",
        r"model[^.]{0,120}does not exist|does not exist or you do not have access",
    ),
    *_t(
        "model_not_found",
        0.9,
        "anthropic",
        "not_found_error",
        "model_not_found",
        "the model is not found",
        "no such model",
        "unknown model",
        "invalid model",
        "model not found",
        "模型不存在",
        "model is not supported",
        "is not a valid model id",
        "has been deprecated",
        "was deprecated",
        "model has been retired",
    ),
    *_t(
        "relay_no_available_channel",
        0.97,
        "one-api",
        "无可用渠道",
        "no available channel",
        "no available channels",
        "没有可用的渠道",
        "没有可用渠道",
        "no channels available",
        "no available account",
        "no available accounts",
    ),
    *_t("relay_no_available_channel", 0.85, "new-api", "distributor", "model_not_found_in_group"),
    _re("relay_no_available_channel", 0.9, "one-api", "分组", r"分组\s*\S*\s*下"),
    # -- size, rate, capacity, server --------------------------------------------------------
    *_t(
        "request_too_large",
        0.95,
        "anthropic",
        "request_too_large",
        "request entity too large",
        "payload too large",
        "request exceeds the maximum size",
        "413 request entity",
        "body exceeded",
        "exceeds the maximum allowed size",
        "client_max_body_size",
    ),
    *_t(
        "insufficient_quota",
        0.95,
        "openai",
        "insufficient_quota",
        "exceeded your current quota",
        "you exceeded your current quota",
        "billing_hard_limit",
        "credit balance is too low",
        "spend limit",
        "usage limits",
        "requires more credits",
        "insufficient credits",
        "insufficient balance",
        "insufficient_balance",
        "insufficient_user_quota",
        "payment required",
        "billing_error",
        "quota exceeded",
        "余额不足",
        "额度不足",
        "额度已用尽",
        "欠费",
        "账户余额",
        "剩余额度",
        "预扣费额度失败",
        "quota is not enough",
    ),
    *_t(
        "rate_limited",
        0.93,
        "anthropic",
        "rate_limit_error",
        "rate limit exceeded",
        "rate_limit_exceeded",
        "per-minute rate limit",
        "exceeded your per-minute",
        "number of request tokens has exceeded",
        "exceeded token rate limit",
        "exceeded call rate limit",
        "too many requests",
        "ratelimiterror",
        "resource_exhausted",
        "resource has been exhausted",
        "rate limit reached",
        "请求过于频繁",
        "访问量过大",
        "上游负载已饱和",
        "调用上限",
        "频率限制",
        "速率限制",
        "ratelimit",
    ),
    *_t(
        "overloaded",
        0.93,
        "anthropic",
        "overloaded_error",
        "overloaded",
        "model is overloaded",
        "the server is overloaded",
        "服务器已经满载",
        "负载过高",
        "temporarily unavailable",
        "(http 524)",
    ),
    *_t(
        "api_internal_error",
        0.85,
        "anthropic",
        "internal server error",
        "internal_server_error",
        '"type":"api_error"',
        "'type': 'api_error'",
        "server_error",
        "the server had an error",
        "internalservererror",
        "an internal error has occurred",
        "internal error encountered",
        '"status": "internal"',
        "服务器内部错误",
    ),
    # -- truncation and stops ------------------------------------------------------------------
    *_t(
        "truncated_max_tokens",
        0.9,
        "claude-code",
        "response exceeded the",
        "output token maximum",
        "claude_code_max_output_tokens",
        "has hit a token limit",
        "stop_reason=max_tokens",
        "stop_reason: max_tokens",
        '"stop_reason":"max_tokens"',
        "'stop_reason': 'max_tokens'",
        'finish_reason":"max_tokens',
        "max_output_tokens",
        "maxtokensreached",
        "max_tokens_reached",
    ),
    *_t(
        "truncated_length",
        0.9,
        "openai",
        "lengthfinishreasonerror",
        "finish_reason='length'",
        'finish_reason="length"',
        '"finish_reason":"length"',
        "'finish_reason': 'length'",
        "finish_reason: length",
        "finishreason.length",
        'finish_reason: "length"',
        "could not parse response content as the length limit was reached",
    ),
    *_t(
        "truncated_tool_use",
        0.85,
        "cline",
        "without value for required parameter",
        "likely due to output token limits",
        "tool call arguments were truncated",
        "unterminated string",
        "input_json_delta",
    ),
    *_t(
        "thinking_exhausted_budget",
        0.85,
        "gemini",
        "reasoning / chain-of-thought, but no actual response content",
        "thoughts_token_count",
        "thoughtstokencount",
        "reasoning_tokens",
        "no actual response content",
        "finish_reason: max_tokens",
    ),
    *_t(
        "refusal",
        0.93,
        "claude-code",
        "violate our usage policy",
        "appears to violate our usage policy",
        '"stop_reason":"refusal"',
        "stop_reason: refusal",
        "stop_reason=refusal",
        "'stop_reason': 'refusal'",
        "unable to respond to this request",
    ),
    *_t(
        "stop_model_context_window_exceeded",
        0.95,
        "anthropic",
        "model_context_window_exceeded",
    ),
    *_t(
        "stream_interrupted",
        0.9,
        "httpx",
        "incomplete chunked read",
        "peer closed connection without sending complete message body",
        "response ended prematurely",
        "connection closed mid-response",
        "stream disconnected before completion",
        "stream closed before",
        "the response stopped arriving",
        "premature close",
        "err_incomplete_chunked_encoding",
        "chunkedencodingerror",
        "remoteprotocolerror",
        "incompleteread",
        "connection reset by peer",
        "server disconnected without sending a response",
        "connection closed before",
        "terminated",
        "econnreset",
        "socket hang up",
        "other side closed",
        "stream ended unexpectedly",
        "流式响应",
        "连接被关闭",
        "连接中断",
    ),
    *_t(
        "sse_malformed_line",
        0.7,
        "sdk",
        "data:[done]",
        "jsondecodeerror",
        "unexpected token",
        "failed to parse",
        "expecting value",
        "unexpected end of json input",
        "invalid json",
    ),
    *_t(
        "stream_usage_missing",
        0.8,
        "sdk",
        "usage metadata found: false",
        "include_usage",
        '"usage":null',
        "usage: none",
        "no usage",
        "usage is missing",
        '"input_tokens":0,"output_tokens":0',
    ),
    *_t(
        "proxy_buffering",
        0.8,
        "nginx",
        "proxy_buffering",
        "x-accel-buffering",
        "buffers the sse",
        "buffered",
        "time to first token",
        "ttft",
    ),
    *_t(
        "gateway_default_max_tokens",
        0.75,
        "relay",
        "default max_tokens",
        "default_max_tokens",
        "num_predict",
        '"max_tokens": 4096',
        '"max_tokens":4096',
        "max_tokens=4096",
    ),
    *_t(
        "relay_stop_reason_mismapped",
        0.7,
        "litellm",
        "finish_reason='stop'",
        "mapped to stop",
        "stop_reason mapped",
        "as end_turn",
    ),
)

#: Field names and phrases healthy responses carry too (see ErrorText.hint).
_HINTS = frozenset(
    {
        "jailbreak",
        "reasoning_tokens",
        "thoughts_token_count",
        "thoughtstokencount",
        "srvtoolu_",
        "web_search_tool_result",
        "pause_turn",
        "input_json_delta",
        "include_usage",
        '"usage":null',
        "usage: none",
        "no usage",
        '"input_tokens":0,"output_tokens":0',
        "buffered",
        "ttft",
        "time to first token",
        "proxy_buffering",
        "x-accel-buffering",
        "num_predict",
        '"max_tokens": 4096',
        '"max_tokens":4096',
        "max_tokens=4096",
        "finish_reason='stop'",
        "budget_tokens",
        "thinking_budget",
        "thinking budget",
        "stream_options",
        "max_output_tokens",
        "cloudflare",
        "cf-ray",
    }
)
CATALOG: tuple[ErrorText, ...] = tuple(
    ErrorText(e.category, e.text, e.weight, e.source, e.pattern, hint=e.text in _HINTS) for e in _ENTRIES
)

# Runs of whitespace other than one plain space (which stays as it is: most of a log).
_SPACE = re.compile(r"[^\S ]\s*| \s+")


def normalize(text: str) -> str:
    """The form every catalog text is matched in: lowercase, no backticks, whitespace runs as
    one space (a terminal's wrap, a pretty-printed body)."""
    return _SPACE.sub(" ", text.lower().replace("`", ""))


def _word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _at_word(normalized: str, text: str) -> int:
    """Where ``text`` first occurs as a whole word (``terminated``, not inside ``unterminated``;
    ``content_filter``, not inside ``content_filter_results``), or -1. An end of ``text`` that
    is not a word character (``srvtoolu_``, CJK) needs no boundary there."""
    left, right = text[0].isascii() and text[0].isalnum(), text[-1].isascii() and text[-1].isalnum()
    at = normalized.find(text)
    while at >= 0:
        end = at + len(text)
        if not (left and at > 0 and _word(normalized[at - 1])) and not (
            right and end < len(normalized) and _word(normalized[end])
        ):
            return at
        at = normalized.find(text, at + 1)
    return -1


def find(normalized: str) -> list[tuple[ErrorText, int]]:
    """Every catalog entry that occurs in ``normalized`` (see :func:`normalize`), with where."""
    hits: list[tuple[ErrorText, int]] = []
    for entry in CATALOG:
        at = _at_word(normalized, entry.text)
        if at < 0:
            continue
        if entry.pattern is not None:
            m = entry.pattern.search(normalized, max(0, at - 200))
            if m is None:
                continue
            at = m.start()
        hits.append((entry, at))
    return hits


def matches(message: str, category: str, *, at_least: float = 0.9) -> bool:
    """Whether ``message`` carries a catalog text of ``category`` that says it alone (the
    finisher's use: an API's own 400 tells it what to change)."""
    normalized = normalize(message)
    return any(e.category == category and e.weight >= at_least for e, _ in find(normalized))
