"""Every category, several logs each, each in several wrappings."""

from __future__ import annotations

from written_logs import (
    RID,
    Case,
    anthropic_error,
    anthropic_stream,
    error_wrappings,
    expand,
    openai_error,
    openai_stream,
    sse,
    stream_wrappings,
)

SQL = ["Here is the query:\n\n", "```sql\nSELECT region,\n", "  SUM("]


def _errors() -> list[Case]:
    e: list[tuple[str, str, int, dict[str, object], dict[str, str] | None]] = [
        (
            "trailing_ws",
            "invalid_request_trailing_whitespace",
            400,
            anthropic_error(
                "invalid_request_error",
                "messages: final assistant content cannot end with trailing whitespace",
            ),
            None,
        ),
        (
            "prefill",
            "invalid_request_prefill_unsupported",
            400,
            anthropic_error(
                "invalid_request_error",
                "This model does not support assistant message prefill. The conversation must "
                "end with a user message.",
            ),
            None,
        ),
        (
            "empty_block",
            "invalid_request_empty_text_block",
            400,
            anthropic_error("invalid_request_error", "messages: text content blocks must be non-empty"),
            None,
        ),
        (
            "tool_use_no_result",
            "invalid_request_tool_use_without_tool_result",
            400,
            anthropic_error(
                "invalid_request_error",
                "messages.2: `tool_use` ids were found without `tool_result` blocks immediately "
                "after: toolu_01A09q90qw90lq917835lq9. Each `tool_use` block must have a "
                "corresponding `tool_result` "
                "block in the next message.",
            ),
            None,
        ),
        (
            "tool_use_no_result_openai",
            "invalid_request_tool_use_without_tool_result",
            400,
            openai_error(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: call_9aF2",
                "invalid_request_error",
                None,
                "messages.[3].role",
            ),
            None,
        ),
        (
            "tool_result_no_use",
            "invalid_request_tool_result_without_tool_use",
            400,
            anthropic_error(
                "invalid_request_error",
                "messages.1.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                "toolu_01Bx. Each `tool_result` block must have a corresponding `tool_use` block in "
                "the previous "
                "message.",
            ),
            None,
        ),
        (
            "tool_result_no_use_openai",
            "invalid_request_tool_result_without_tool_use",
            400,
            openai_error(
                "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                "message with "
                "'tool_calls'.",
                "invalid_request_error",
                None,
                "messages.[2].role",
            ),
            None,
        ),
        (
            "max_tokens_limit",
            "invalid_request_max_tokens_above_model_limit",
            400,
            anthropic_error(
                "invalid_request_error",
                "max_tokens: 64001 > 64000, which is the maximum allowed number of output "
                "tokens for claude-sonnet-4-20250514",
            ),
            None,
        ),
        (
            "max_tokens_limit_openai",
            "invalid_request_max_tokens_above_model_limit",
            400,
            openai_error(
                "max_tokens is too large: 20000. This model supports at most 16384 completion "
                "tokens, whereas you "
                "provided 20000.",
                "invalid_request_error",
                None,
                "max_tokens",
            ),
            None,
        ),
        (
            "thinking_budget",
            "invalid_request_thinking_budget",
            400,
            anthropic_error(
                "invalid_request_error",
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                "our documentation.",
            ),
            None,
        ),
        (
            "unsupported_param",
            "invalid_request_unsupported_parameter",
            400,
            openai_error(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' "
                "instead.",
                "invalid_request_error",
                "unsupported_parameter",
                "max_tokens",
            ),
            None,
        ),
        (
            "extra_inputs",
            "invalid_request_unsupported_parameter",
            400,
            anthropic_error("invalid_request_error", "reasoning_effort: Extra inputs are not permitted"),
            None,
        ),
        (
            "prompt_too_long",
            "context_window_exceeded",
            400,
            anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
            None,
        ),
        (
            "context_openai",
            "context_window_exceeded",
            400,
            openai_error(
                "This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 130412 "
                "tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            ),
            None,
        ),
        (
            "window_by_max",
            "context_window_exceeded_by_max_tokens",
            400,
            anthropic_error(
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 196353 + 21333 > 200000, "
                "decrease input length or `max_tokens` and try again",
            ),
            None,
        ),
        (
            "window_by_max_openai",
            "context_window_exceeded_by_max_tokens",
            400,
            openai_error(
                "This model's maximum context length is 128000 tokens. However, you requested 140000 "
                "tokens (100000 in "
                "the messages, 40000 in the completion). Please reduce the length of the messages or "
                "completion.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            ),
            None,
        ),
        (
            "content_filter_prompt",
            "content_filter",
            400,
            openai_error(
                "The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy. "
                "Please modify your prompt and retry.",
                None,
                "content_filter",
                "prompt",
            ),
            None,
        ),
        (
            "auth_anthropic",
            "auth_invalid_api_key",
            401,
            anthropic_error("authentication_error", "invalid x-api-key"),
            None,
        ),
        (
            "auth_openai",
            "auth_invalid_api_key",
            401,
            openai_error(
                "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            None,
        ),
        (
            "region_openai",
            "permission_denied_region",
            403,
            openai_error(
                "Country, region, or territory not supported",
                "request_forbidden",
                "unsupported_country_region_territory",
            ),
            None,
        ),
        (
            "region_anthropic",
            "permission_denied_region",
            403,
            anthropic_error("permission_error", "Request not allowed"),
            None,
        ),
        (
            "model_anthropic",
            "model_not_found",
            404,
            anthropic_error("not_found_error", "model: claude-3-5-sonnet-latest"),
            None,
        ),
        (
            "model_openai",
            "model_not_found",
            404,
            openai_error(
                "The model `gpt-5o` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            None,
        ),
        (
            "relay_no_channel_zh",
            "relay_no_available_channel",
            503,
            openai_error(
                "当前分组 svip 下对于模型 claude-opus-4-6 无可用渠道"
                " (request id: 2025082215093026624875464905761)",
                "new_api_error",
                "model_not_found",
            ),
            None,
        ),
        (
            "relay_no_channel_en",
            "relay_no_available_channel",
            503,
            openai_error(
                "No available channel for model claude-opus-4-6 under group default (distributor)",
                "new_api_error",
                "model_not_found",
            ),
            None,
        ),
        (
            "too_large",
            "request_too_large",
            413,
            anthropic_error("request_too_large", "Request exceeds the maximum allowed number of bytes."),
            None,
        ),
        (
            "rate_anthropic",
            "rate_limited",
            429,
            anthropic_error(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute.",
            ),
            {"retry-after": "17", "anthropic-ratelimit-requests-remaining": "0", "request-id": RID},
        ),
        (
            "rate_openai",
            "rate_limited",
            429,
            openai_error(
                "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit "
                "30000, Used 29000, "
                "Requested 2000. Please try again in 2s.",
                "tokens",
                "rate_limit_exceeded",
            ),
            {"x-ratelimit-remaining-tokens": "0", "retry-after": "2"},
        ),
        (
            "quota_openai",
            "insufficient_quota",
            429,
            openai_error(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
            None,
        ),
        (
            "credit_anthropic",
            "insufficient_quota",
            400,
            anthropic_error(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans "
                "& Billing to upgrade or purchase credits.",
            ),
            None,
        ),
        (
            "spend_limit",
            "insufficient_quota",
            429,
            anthropic_error(
                "rate_limit_error",
                "You have reached your specified workspace API usage limits.",
                details={"error_code": "enforced_spend_limit_reached"},
            ),
            None,
        ),
        (
            "internal_anthropic",
            "api_internal_error",
            500,
            anthropic_error("api_error", "Internal server error"),
            None,
        ),
        (
            "internal_openai",
            "api_internal_error",
            500,
            openai_error(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            None,
        ),
        ("overloaded", "overloaded", 529, anthropic_error("overloaded_error", "Overloaded"), None),
    ]
    cases: list[Case] = []
    for name, category, status, body, headers in e:
        cases += expand(name, category, error_wrappings(status, body, headers))
    return cases


def _html() -> list[Case]:
    page = (
        '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<title>Attention Required! | Cloudflare</title>\n'
        '</head>\n<body>\n<div id="cf-wrapper">\n<h1>Sorry, you have been blocked</h1>\n'
        '<span class="cf-error-details">Cloudflare Ray ID: '
        "8c2f0e9a1b2c3d4e</span>\n</div>\n</body>\n</html>\n"
    )
    raw = f"HTTP/1.1 403 Forbidden\nserver: cloudflare\ncf-ray: 8c2f0e9a1b2c3d4e-SJC\n\n{page}"
    tb = "openai.PermissionDeniedError: Error code: 403 - " + repr(page) + "\n"
    plain = "2025-09-10 12:00:00 ERROR relay: status=403 body=error code: 1010\n"
    nginx413 = (
        "HTTP/1.1 413 Request Entity Too Large\nServer: nginx\n\n<html><head><title>413 Request Entity Too "
        "Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center></body></html>\n"
    )
    bad_gateway = (
        "HTTP/1.1 502 Bad Gateway\nServer: nginx/1.25.3\n\n<html><head><title>502 Bad Gateway</title>"
        "</head></html>\n"
    )
    return [
        Case("waf/raw", "forbidden_waf_user_agent", raw),
        Case("waf/traceback", "forbidden_waf_user_agent", tb),
        Case("waf/1010", "forbidden_waf_user_agent", plain),
        Case("nginx413", "request_too_large", nginx413),
        Case("nginx502", "api_internal_error", bad_gateway),
    ]


def _streams() -> list[Case]:
    s: list[tuple[str, str, str]] = [
        (
            "anthropic_max_tokens",
            "truncated_max_tokens",
            anthropic_stream([("text", SQL)], "max_tokens", output_tokens=1024),
        ),
        (
            "anthropic_max_prose",
            "truncated_max_tokens",
            anthropic_stream([("text", ["The history of ", "Rome is"])], "max_tokens", output_tokens=300),
        ),
        (
            "openai_length",
            "truncated_length",
            openai_stream(["Step 1: ", "open the"], "length", usage=(900, 1000)),
        ),
        (
            "openai_length_fence",
            "truncated_length",
            openai_stream(["```python\n", "def f(x):\n", "    return"], "length", usage=(900, 2000)),
        ),
        (
            "anthropic_tool_cut",
            "truncated_tool_use",
            anthropic_stream(
                [("text", ["Running it."]), ("tool_use", ['{"query": ', '"SELECT * FROM t WHERE'])],
                "max_tokens",
                output_tokens=256,
            ),
        ),
        (
            "openai_tool_cut",
            "truncated_tool_use",
            openai_stream([], "length", tool_args=['{"query":', ' "SELECT']),
        ),
        (
            "openai_tool_calls_cut",
            "truncated_tool_use",
            openai_stream([], "tool_calls", tool_args=['{"query":', ' "SELECT']),
        ),
        (
            "anthropic_thinking",
            "thinking_exhausted_budget",
            anthropic_stream(
                [("thinking", ["Let me consider the ", "constraints carefully"])],
                "max_tokens",
                output_tokens=4000,
            ),
        ),
        (
            "openai_reasoning",
            "thinking_exhausted_budget",
            openai_stream([], "length", usage=(500, 4000), reasoning=4000, model="o3-mini"),
        ),
        (
            "anthropic_pause",
            "pause_turn_unhandled",
            anthropic_stream(
                [("text", ["Searching."]), ("server_tool_use", ['{"query": "stopwise"}'])], "pause_turn"
            ),
        ),
        (
            "anthropic_refusal",
            "refusal",
            anthropic_stream(
                [("text", ["I can't"])],
                "refusal",
                stop_details={"type": "refusal", "category": "cyber", "explanation": None},
            ),
        ),
        (
            "openai_refusal",
            "refusal",
            openai_stream([], "stop").replace(
                '"delta": {"role": "assistant", "content": ""}',
                '"delta": {"role": "assistant", "refusal": "I can\'t"}',
            ),
        ),
        ("openai_filter", "content_filter", openai_stream(["Sure, here"], "content_filter")),
        (
            "anthropic_window",
            "stop_model_context_window_exceeded",
            anthropic_stream([("text", ["Chapter 12"])], "model_context_window_exceeded", output_tokens=9000),
        ),
        (
            "relay_window",
            "stop_model_context_window_exceeded",
            openai_stream(["Chapter 12"], "model_context_window_exceeded", model="claude-sonnet-4-20250514"),
        ),
        (
            "anthropic_overloaded_mid",
            "overloaded_mid_stream",
            anthropic_stream(
                [("text", ["Partial answer"])],
                None,
                terminal=False,
                tail_events=sse(
                    "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                ),
            ),
        ),
        (
            "anthropic_cut",
            "stream_interrupted",
            anthropic_stream([("text", ["The answer is"])], None, terminal=False),
        ),
        ("openai_cut", "stream_interrupted", openai_stream(["The answer is"], None, done=False)),
        (
            "one_api_no_finish",
            "relay_stop_reason_mismapped",
            openai_stream(
                ["The answer is"],
                None,
                usage=(800, 4096),
                model="claude-3-5-sonnet-20241022",
                ident="msg_01AbCdEf",
            ),
        ),
        ("usage_missing", "stream_usage_missing", openai_stream(["All done."], "stop", usage=None)),
        (
            "malformed_done",
            "sse_malformed_line",
            openai_stream(["All done."], "stop").replace("data: [DONE]", "data:[DONE]"),
        ),
    ]
    cases: list[Case] = []
    for name, category, stream in s:
        cases += expand(name, category, stream_wrappings(stream))
    return cases


def _mixed() -> list[Case]:
    """Shapes that need more than one piece of the log."""
    request = (
        '2025-09-10 12:00:00 DEBUG litellm: POST /v1/chat/completions {"model": "claude-3-7-sonnet", '
        '"messages": [{"role": "user", "content": "Write the report"}], "stream": true}\n'
    )
    capped = openai_stream(
        ["## Report\n", "| a | b |\n", "| 1 |"], "length", usage=(3000, 4096), model="claude-3-7-sonnet"
    )
    hidden = (
        'request: {"model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": "x"}]}\n'
        + openai_stream(["Long text"], "stop", usage=(50, 1000))
    )
    chunked = anthropic_stream([("text", ["Partial"])], None, terminal=False) + TRACE_CHUNKED
    pause_then_400 = (
        anthropic_stream([("server_tool_use", ['{"query": "x"}'])], "pause_turn")
        + "\n"
        + error_wrappings(
            400,
            anthropic_error(
                "invalid_request_error",
                "messages.1: `tool_use` ids were found without `tool_result` "
                "blocks immediately after: srvtoolu_01A09q90qw90. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message.",
            ),
        )["traceback"]
    )
    misordered = error_wrappings(
        400,
        anthropic_error(
            "invalid_request_error",
            "messages.3: the paused assistant turn with `server_tool_use` must be the last "
            "message when resuming a `pause_turn`",
        ),
    )["raw"]
    length_err = (
        'Traceback (most recent call last):\n  File "x.py", line 3, in <module>\n'
        "openai.LengthFinishReasonError: Could not parse response content as the length limit was reached "
        "- CompletionUsage(completion_tokens=4096, prompt_tokens=812, total_tokens=4908)\n"
    )
    json_err = (
        openai_stream(["hi"], "stop").replace("data: [DONE]", "data:[DONE]") + "Traceback (most recent call "
        "last):\njson.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n"
    )
    retry_only = "retry: 3000\n\n" + openai_stream(["hi"], "stop")
    buffered = "\n".join(
        ["12:00:00.000 INFO POST /v1/chat/completions sent"]
        + [
            f"12:00:25.{i:03d} DEBUG {ln}"
            for i, ln in enumerate(
                ln for ln in openai_stream([f"w{i} " for i in range(30)], "stop").split("\n") if ln
            )
        ]
    )
    bursty = "\n".join(
        [
            f"12:00:{(i // 10) * 5:02d}.{i % 10:03d} DEBUG {ln}"
            for i, ln in enumerate(
                ln for ln in openai_stream([f"w{i} " for i in range(30)], "stop").split("\n") if ln
            )
        ]
    )
    body_max = (
        '{"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-opus-4-1-20250805", '
        '"content": [{"type": "text", "text": "Here is the table:\\n| id | name |\\n| 1 |"}], '
        '"stop_reason": "max_tokens", "stop_sequence": null, "usage": {"input_tokens": 10, '
        '"output_tokens": 1024}}'
    )
    body_refusal = (
        '{"id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", '
        '"content": [], "stop_reason": "refusal", "stop_details": {"type": "refusal", "category": '
        '"cyber", "explanation": null}, "usage": {"input_tokens": 10, "output_tokens": 3}}'
    )
    return [
        Case("gateway_request_visible", "gateway_default_max_tokens", request + capped),
        Case("litellm_hides_cap", "relay_stop_reason_mismapped", hidden),
        Case("chunked_read", "stream_interrupted", chunked),
        Case("pause_then_400", "pause_turn_unhandled", pause_then_400),
        Case("resume_misordered", "pause_turn_resubmit_misordered", misordered),
        Case("length_finish_error", "truncated_length", length_err),
        Case("json_decode", "sse_malformed_line", json_err),
        Case("retry_only", "sse_malformed_line", retry_only),
        Case("buffered_ttft", "proxy_buffering", buffered),
        Case("buffered_bursts", "proxy_buffering", bursty),
        Case("body_max_tokens", "truncated_max_tokens", body_max),
        Case("body_refusal", "refusal", body_refusal),
        Case(
            "overloaded_sdk_mid",
            "overloaded_mid_stream",
            anthropic_stream([("text", ["Partial"])], None, terminal=False)
            + "anthropic.APIStatusError: {'type': 'error', 'error': {'details': None, 'type': "
            "'overloaded_error', 'message': 'Overloaded'}}\n",
        ),
        Case("nothing", "unknown", "hello world\nthis is not a log of anything\n"),
        Case(
            "responses_incomplete",
            "truncated_length",
            '{"id": "resp_1", "object": "response", "model": "gpt-4.1", "status": "incomplete", '
            '"incomplete_details": {"reason": "max_output_tokens"}, "output": [], '
            '"usage": {"input_tokens": 20, "output_tokens": 2048}}',
        ),
        Case(
            "billing_402",
            "insufficient_quota",
            error_wrappings(402, anthropic_error("billing_error", "Your account has no remaining credit."))[
                "traceback"
            ],
        ),
        Case(
            "gateway_string_error_504",
            "api_internal_error",
            '2025-09-10 12:00:00 ERROR new-api: status=504 {"error": "upstream timeout"}\n',
        ),
        Case(
            "model_text_mentions_errors",
            "unknown",
            openai_stream(["HTTP/1.1 429 Too Many Requests and a ValueError: x, behind Cloudflare."], "stop"),
        ),
        Case(
            "connect_error_alone",
            "unknown",
            "Traceback (most recent call last):\nopenai.APIConnectionError: Connection error.\n",
        ),
        Case(
            "read_timeout_mid_stream",
            "stream_interrupted",
            openai_stream(["The first part"], None, done=False)
            + "2025-09-10 12:10:00 ERROR httpx.ReadTimeout: The read operation timed out\n",
        ),
        Case("complete_ok", "unknown", anthropic_stream([("text", ["All good."])], "end_turn")),
    ]


TRACE_CHUNKED = (
    "Traceback (most recent call last):\n"
    '  File "/srv/venv/lib/python3.11/site-packages/httpx/_transports/default.py", line 101, in map\n'
    "httpx.RemoteProtocolError: peer closed connection without sending complete message body "
    "(incomplete chunked read)\n"
)

CASES: list[Case] = _errors() + _html() + _streams() + _mixed()
