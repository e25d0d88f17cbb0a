# ruff: noqa: E501  (prose tables: each sentence kept whole so the three languages compare line by line)
"""English report texts. Placeholders are filled by :mod:`.explain` from the facts; a category's
four texts may use {model} {status} {etype} {code} {msg} {raw} {out} {cap} {inp} {ceiling}
{limit} {retry} {tool} {title} {relays}, each with a fallback in DEFAULTS."""

from __future__ import annotations

LABELS = {
    "what": "What happened",
    "cause": "Cause",
    "fix": "Fix",
    "prevention": "Prevention",
    "evidence": "Evidence",
    "facts": "Facts",
    "category": "Category",
    "also": "Also",
    "confidence": "Confidence",
    "llm": "Model-generated explanation (not verified by stopwise)",
    "found": "What the log holds",
    "none": "none",
}
DEFAULTS = {
    "model": "the model",
    "status": "?",
    "etype": "error",
    "code": "",
    "msg": "",
    "raw": "?",
    "out": "?",
    "cap": "the cap",
    "inp": "?",
    "ceiling": "the model's output ceiling",
    "limit": "the limit",
    "retry": "?",
    "tool": "a tool",
    "title": "",
    "relays": "a relay",
}
SEP = " "
LIST_SEP = "; "
FOUND = {
    "sse": "{n} SSE data lines",
    "json": "{n} JSON objects",
    "status": "HTTP status {s}",
    "stop": 'stop reason "{raw}" (state {state})',
    "exception": "exception {name}",
    "model": "model {model}",
}
CUT = {
    "sql": "in the middle of a SQL statement",
    "code_fence": "inside an open ```{lang} code block",
    "json": "inside unfinished JSON",
    "table": "in the middle of a table",
    "prose": "in the middle of a sentence",
    "prose_sentence_end": "at the end of a sentence (but not at the end of the answer)",
    "empty": "before any visible text",
}
DIALECT = {
    "anthropic": "Anthropic Messages format",
    "openai": "OpenAI Chat Completions format",
    "responses": "OpenAI Responses format",
}
FRAG = {
    "tool_cut": "The tool input stops at …{tail}",
    "dialect": "{dialect}.",
    "model_only": "Model {model}.",
    "cause_no_finish": "[DONE] arrived but no chunk carried a finish_reason: one-api drops the chunk that carries it, so the caller cannot tell a cap from a normal end.",
    "cause_hidden_cap": 'Output tokens ({out}) reached the requested max_tokens ({cap}), yet the finish reason says "{raw}": the answer was capped and the reason hides it.',
    "stop": 'It stopped with {field} "{raw}".',
    "stop_missing": "No stop or finish reason ever arrived.",
    "tokens": "Output: {out} tokens{cap_part}; input: {inp} tokens.",
    "tokens_out": "Output: {out} tokens{cap_part}.",
    "cap_part": " against a cap of {cap}",
    "estimated": " (estimated from the text; the log has no usage)",
    "model": "Model {model}, {dialect}.",
    "relay": "A relay sat in between, translating Claude into OpenAI chunks (signs: {signs}).",
    "relay_id": "Anthropic message id {rid}",
    "relay_model": "Claude model name",
    "relay_reason": 'raw Claude reason "{raw}"',
    "cap_inferred": " (inferred: the default of {relays})",
    "status": "HTTP {status}{etype}{code}: “{msg}”.",
    "status_bare": "HTTP {status}{etype}{code}.",
    "rid": "Request id {rid}.",
    "retry": "The server asked to wait {retry} s (retry-after).",
    "exception": "The client raised {exception}.",
    "cut": "The text stops {cut} (…{tail}).",
    "cut_start": "The log starts mid-stream, so only its tail was reconstructed.",
    "cause_relay_default": (
        "{cap} is the default max_tokens that {relays} injects when the client sends none, and nothing in the log "
        "shows the client asking for {cap}: the relay capped the answer, not the model ({model} can write up to "
        "{ceiling} tokens)."
    ),
    "cause_model_ceiling": "{cap} is {model}'s own output ceiling: the answer is longer than one response can be.",
    "cause_request_cap": "The request itself asked for max_tokens {cap}.",
    "cause_raw_reason": (
        '"{raw}" is not an OpenAI finish reason: the relay passed Claude\'s raw value through, so clients that '
        'check only for "length" miss the truncation.'
    ),
    "cause_cut": "The cut fell {cut}, so the text is unusable as it is.",
    "fix_continue": "Or let stopwise continue the answer where it stopped (it joins the pieces and checks the seam).",
    "fix_explicit": "Send an explicit max_tokens (up to {ceiling}) instead of relying on the relay's default.",
    "prev_truncation": (
        'Treat "length" and "max_tokens" (and a missing finish reason) as truncation, and compare output tokens '
        "with the cap on every response."
    ),
    "prev_relay": "Pin the relay's behaviour in a test: send no max_tokens and check what comes back.",
    "retry_part": "{retry} s (retry-after)",
    "retry_part_none": "for the bucket to refill (the log shows no retry-after)",
    "title_part": " (“{title}”)",
    "part_answer": "answer",
    "part_prompt": "prompt",
    "unknown_found": "Found: {found}.",
    "unknown_nothing": "Found nothing the diagnosis can use: no SSE events, no JSON bodies, no HTTP status.",
}
CATS: dict[str, tuple[str, str, str, str]] = {
    "truncated_max_tokens": (
        "The answer was cut off at the output cap (max_tokens).",
        "Generation reached max_tokens before the answer was finished.",
        "Raise max_tokens for this request (up to {ceiling}).",
        "Size max_tokens for the longest answer this kind of request can need, and send it explicitly.",
    ),
    "truncated_length": (
        'The answer was cut off at the output cap (finish_reason "length").',
        "Generation reached the max_tokens / max_completion_tokens of the request before the answer was finished.",
        "Raise max_completion_tokens (or max_tokens) for this request (up to {ceiling}).",
        "Size max_completion_tokens for the longest answer this kind of request can need.",
    ),
    "truncated_tool_use": (
        "The cap was hit while {tool}'s arguments were being written: the tool call is cut.",
        "The output budget ran out inside the tool call's JSON, so its arguments are incomplete whatever the stop "
        "reason says.",
        "Do not execute this call, and do not repair its JSON. Re-send the request with a larger max_tokens.",
        "Validate tool arguments as whole JSON before running a tool, and give tool-writing turns a generous cap.",
    ),
    "thinking_exhausted_budget": (
        "Reasoning used the whole output budget: no visible answer was produced.",
        "Thinking/reasoning tokens count against the same max_tokens as the answer, and they used all of it.",
        "Raise max_tokens well above the thinking budget (or lower the reasoning effort / budget_tokens).",
        "Never continue a reasoning-only truncation (it will not converge); size max_tokens for thinking plus answer.",
    ),
    "gateway_default_max_tokens": (
        "A gateway or relay imposed a default max_tokens of {cap} that the caller never asked for.",
        "The request carried no max_tokens, so the relay filled in its own default.",
        "Send max_tokens explicitly on every request (up to {ceiling}).",
        "Log the max_tokens actually sent upstream; alert when output tokens equal a known relay default.",
    ),
    "relay_stop_reason_mismapped": (
        "A relay reported the stop reason wrongly and hid a truncation.",
        "The relay translated the upstream stop reason into a value that does not say what happened (or dropped it).",
        "Treat this response as truncated; update or reconfigure the relay.",
        "Compare output tokens with the cap yourself, and treat a missing or unknown reason as incomplete.",
    ),
    "pause_turn_unhandled": (
        "The turn was paused (stop_reason pause_turn) but handled as if it had finished.",
        "A server tool (web search, code execution) hit its iteration limit; the turn is not over. Sending it on as "
        "finished leaves a server_tool_use without its result, which the next request fails on.",
        "On pause_turn, send the assistant content back unchanged as the last message, with the same tools, and "
        "call again.",
        "Handle pause_turn in the response loop alongside tool_use, and bound the number of resumes.",
    ),
    "pause_turn_resubmit_misordered": (
        "A paused turn was resumed, but not as the last message, so the API rejected it.",
        "The paused assistant content must be the final message of the next request.",
        "Put the paused assistant message last, unchanged, and send no user turn after it.",
        "Build resumes with one helper that appends the paused content at the end.",
    ),
    "refusal": (
        "The model refused to answer (HTTP 200).",
        "Safety classifiers stopped the answer; this is a policy outcome, not a transport error.",
        "Surface the refusal to the user; rephrase the request, or retry on a fallback model if policy allows.",
        "Handle refusal as its own outcome, and never retry it in a tight loop.",
    ),
    "content_filter": (
        "Content filtering blocked the {part}.",
        "The provider's content filter (Azure/OpenAI content management policy) matched the {part}.",
        "Review and rephrase the input; check the filter configuration of the deployment.",
        'Handle finish_reason "content_filter" and code content_filter explicitly, and log which filter fired.',
    ),
    "context_window_exceeded": (
        "The input alone is over the model's context window.",
        "The prompt has more tokens than {model} accepts ({msg}).",
        "Shorten the input: trim history, summarise, or drop large attachments; or use a model with a larger window.",
        "Count tokens before sending, and trim history against the model's window.",
    ),
    "context_window_exceeded_by_max_tokens": (
        "The input fits, but input plus the requested max_tokens is over the context window.",
        "The API reserves max_tokens of output on top of the input ({msg}).",
        "Lower max_tokens to the window minus the input tokens, or shorten the input.",
        "Compute max_tokens as min(model ceiling, window − input tokens) per request.",
    ),
    "stop_model_context_window_exceeded": (
        "Generation stopped because the context window filled up (stop_reason model_context_window_exceeded).",
        "Input plus output reached the window: the answer is truncated.",
        "Start a fresh request with a shorter input; do not continue into a full window.",
        "Leave room for the answer when sizing the input; treat this stop reason as truncation.",
    ),
    "invalid_request_trailing_whitespace": (
        "The request was rejected: the final assistant content ends with whitespace.",
        "A prefill (or continued answer) was sent ending in a space or newline, which the API rejects.",
        "Strip trailing whitespace from the last assistant message before sending.",
        "Strip trailing whitespace in the code that builds prefills and continuations.",
    ),
    "invalid_request_prefill_unsupported": (
        "The request was rejected: {model} does not accept an assistant prefill.",
        "The conversation ended with an assistant message; this model (Claude 4.6 and later) rejects prefill.",
        "End the conversation with a user message (a continue turn) instead of a prefill.",
        "Treat this 400 as a per-model capability signal and fall back to a continue turn automatically.",
    ),
    "invalid_request_empty_text_block": (
        "The request was rejected: it contains an empty text block.",
        "A text content block was empty or whitespace only.",
        "Drop empty text blocks (and empty messages) before sending.",
        "Filter empty content when building messages, especially after streaming or trimming.",
    ),
    "invalid_request_tool_use_without_tool_result": (
        "The request was rejected: a tool call in the history has no tool result right after it.",
        "Every tool_use (tool_calls) must be answered by its tool_result in the next message.",
        "Add the missing tool_result (or remove the unanswered tool call) right after it.",
        "Append tool results in the same step that records a tool call; test histories for pairing.",
    ),
    "invalid_request_tool_result_without_tool_use": (
        "The request was rejected: a tool result refers to a tool call that is not in the previous message.",
        "A tool_result's tool_use_id does not match any tool call in the message before it.",
        "Keep each tool result right after the assistant message holding its call, with the same id.",
        "Do not trim or reorder history between a tool call and its result.",
    ),
    "invalid_request_max_tokens_above_model_limit": (
        "The request was rejected: max_tokens is above {model}'s output ceiling ({limit}).",
        "The requested max_tokens exceeds what this model can produce ({msg}).",
        "Set max_tokens to at most {limit}.",
        "Clamp max_tokens to the model's ceiling when building requests.",
    ),
    "invalid_request_thinking_budget": (
        "The request was rejected: the thinking budget is inconsistent with max_tokens.",
        "max_tokens must be greater than thinking.budget_tokens ({msg}).",
        "Raise max_tokens above budget_tokens (leave room for the answer), or lower budget_tokens.",
        "Derive budget_tokens from max_tokens in one place.",
    ),
    "invalid_request_unsupported_parameter": (
        "The request was rejected: the upstream does not know a parameter it was sent.",
        "A parameter this model or relay does not support was passed ({msg}).",
        "Remove that parameter, or use the one this model expects (e.g. max_completion_tokens for o-series models).",
        "Keep per-model parameter lists, and test each upstream with the exact request your client sends.",
    ),
    "auth_invalid_api_key": (
        "Authentication failed (HTTP {status}): the API key sent was rejected.",
        "The key actually sent is wrong: a placeholder, quotes or whitespace included, the wrong variable, another "
        "provider's key, or a revoked one.",
        "Print the key's length and first few characters where the client is built, and compare with the console.",
        "Load the key from one place, strip it, and fail at start-up when it is missing.",
    ),
    "permission_denied_region": (
        "Access denied (HTTP 403): the request comes from an unsupported country or region.",
        "The provider does not serve the region the request's IP address is in.",
        "Send requests from a supported region (or through the provider's official regional offering).",
        "Check the provider's supported regions before deploying; monitor 403s separately from other errors.",
    ),
    "forbidden_waf_user_agent": (
        "HTTP 403 from a WAF/CDN in front of the gateway, not from the model API.",
        "The body is an HTML page{title_part} with CDN markers ({markers}): a firewall rule (often the User-Agent or "
        "the client IP) blocked the request before it reached the API.",
        "Ask the gateway's operator to allow your client (User-Agent, IP), or set a normal User-Agent header.",
        "Treat HTML error bodies as gateway failures, and keep the gateway's WAF rules in its configuration tests.",
    ),
    "model_not_found": (
        "Model not found (HTTP 404): {model} is wrong or retired for this provider.",
        "The model id is misspelt, retired, or not offered by this provider or relay ({msg}).",
        "Use a current model id from the provider's model list (or the relay's mapping).",
        "Keep model ids in configuration and check them against the models endpoint at start-up.",
    ),
    "relay_no_available_channel": (
        "The relay found no enabled channel serving {model} for this caller's group, and stopped before any upstream call.",
        "A one-api / new-api style relay maps each group and model to channels; none is enabled for this pair ({msg}). The upstream API was never asked.",
        "In the relay's admin: enable a channel that lists this model for the caller's group, fix the model name mapping, or move the key to a group that has one.",
        "After changing channels, groups or model mappings, call each model once per group; watch the relay's log for this message.",
    ),
    "request_too_large": (
        "The request body is over the API's byte limit (HTTP 413).",
        "The HTTP body is too large whatever its token count: big images, PDFs or base64 attachments.",
        "Shrink the body: resize images, upload files instead of inlining them, or split the request.",
        "Check the body size before sending.",
    ),
    "rate_limited": (
        "Rate limited (HTTP 429): a per-minute bucket is exhausted.",
        "Requests or tokens per minute went over the limit of this key or organisation.",
        "Wait {retry_part} and retry with backoff; lower concurrency.",
        "Read the rate-limit headers, throttle before the bucket empties, and queue requests.",
    ),
    "insufficient_quota": (
        "Out of quota or credit (HTTP {status}): retrying does not help.",
        "The billing quota or spend limit is exhausted ({msg}).",
        "Add credit or raise the spend limit; do not retry until then.",
        "Tell quota errors apart from rate limits in code (no retries), and alert on spend before the limit.",
    ),
    "api_internal_error": (
        "The provider failed (HTTP {status}): a transient server error.",
        "An internal error on the provider's (or a gateway's) side, not caused by the request.",
        "Retry with exponential backoff; the official SDKs retry this twice by default.",
        "Keep retries on for 5xx, and keep the request id for support.",
    ),
    "overloaded": (
        "The API is overloaded (HTTP 529 overloaded_error).",
        "Capacity was short at that moment; the request itself is fine.",
        "Retry with backoff, or fall back to another model.",
        "Keep retries on for 529 and spread load over time.",
    ),
    "overloaded_mid_stream": (
        "The stream failed mid-way with overloaded_error after the HTTP 200.",
        "The error arrived as an SSE error event inside a 200 stream, after partial output. SDKs never retry "
        "this, because retries only cover getting the response headers.",
        "Keep the partial text and retry (or let stopwise continue the answer from it).",
        "Handle error events inside streams; keep what was received.",
    ),
    "stream_interrupted": (
        "The stream ended before its terminal event: the answer is incomplete.",
        "The connection closed or timed out mid-stream (no message_stop / [DONE]): a reset, an idle timeout on a "
        "proxy or load balancer, or an incomplete chunked read.",
        "Retry the request (or let stopwise continue from the partial text); raise proxy idle/read timeouts above the longest "
        "generation.",
        "Treat a stream without its terminal event as interrupted, never as complete.",
    ),
    "proxy_buffering": (
        "A reverse proxy buffered the stream: tokens arrived in bursts.",
        "The events carry timestamps with long waits followed by many events at once: a proxy held the SSE back.",
        "Disable buffering for the stream route (nginx: proxy_buffering off, or X-Accel-Buffering: no).",
        "Measure time to first token and gaps between events behind every proxy.",
    ),
    "sse_malformed_line": (
        "The client choked on an SSE line that was not the JSON it expected.",
        "A data line held something other than a JSON chunk (data:[DONE] without a space, retry:-only events, or "
        "server-side garbage).",
        "Use an SSE parser that follows the spec (stopwise's), and skip lines that are not JSON.",
        "Parse SSE per the WHATWG rules and match [DONE] by prefix.",
    ),
    "stream_usage_missing": (
        "The stream carries no usage, so token accounting reads zero.",
        "Usage comes in a final chunk only with stream_options.include_usage, which was not sent or not forwarded.",
        'Send stream_options: {{"include_usage": true}}; check the relay forwards it.',
        "Alert when a completed stream has no usage chunk.",
    ),
    "unknown": (
        "The log does not support a diagnosis.",
        "No stop reason, error body or transport failure the categories cover was found.",
        "Paste more of the log: the HTTP status line, the error body, or the last SSE events.",
        "Log the status, the response body or the final SSE events of failing calls.",
    ),
}


#: The Responses API's own words where its wire differs (`max_output_tokens`, `response.completed`).
CATS_RESPONSES: dict[str, tuple[str, str, str, str]] = {
    "truncated_length": (
        'The answer was cut off at the output cap (status "incomplete", reason "max_output_tokens").',
        "Generation reached the max_output_tokens of the request before the answer was finished.",
        "Raise max_output_tokens for this request (up to {ceiling}); reasoning tokens count against it too.",
        "Size max_output_tokens for the longest answer (and reasoning) this kind of request can need.",
    ),
    "stream_interrupted": (
        "The stream ended before its terminal event: the answer is incomplete.",
        "The connection closed or timed out mid-stream (no response.completed, response.incomplete or "
        "response.failed): a reset, an idle timeout on a proxy or load balancer, or an incomplete chunked read.",
        "Retry the request (or let stopwise continue from the partial text); raise proxy idle/read timeouts above the longest "
        "generation.",
        "Treat a Responses stream without its terminal event as interrupted, never as complete.",
    ),
}
