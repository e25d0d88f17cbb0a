# ruff: noqa: E501  (prose tables: each sentence kept whole so the three languages compare line by line)
"""简体中文报告文本。占位符与 texts_en 相同，由 :mod:`.explain` 按日志中的事实填入；
事实和类别名保持原样，不翻译。"""

from __future__ import annotations

LABELS = {
    "what": "发生了什么",
    "cause": "原因",
    "fix": "解决办法",
    "prevention": "预防措施",
    "evidence": "证据",
    "facts": "关键事实",
    "category": "类别",
    "also": "同时存在",
    "confidence": "置信度",
    "llm": "模型生成的解释（未经 stopwise 核实）",
    "found": "日志中的内容",
    "none": "无",
}
DEFAULTS = {
    "model": "该模型",
    "status": "?",
    "etype": "错误",
    "code": "",
    "msg": "",
    "raw": "?",
    "out": "?",
    "cap": "上限",
    "inp": "?",
    "ceiling": "模型的输出上限",
    "limit": "上限",
    "retry": "?",
    "tool": "工具",
    "title": "",
    "relays": "中转服务",
}
SEP = ""
LIST_SEP = "；"
FOUND = {
    "sse": "{n} 行 SSE data",
    "json": "{n} 个 JSON 对象",
    "status": "HTTP 状态码 {s}",
    "stop": '停止原因 "{raw}"（状态 {state}）',
    "exception": "异常 {name}",
    "model": "模型 {model}",
}
CUT = {
    "sql": "一条 SQL 语句中间",
    "code_fence": "一个未闭合的 ```{lang} 代码块里",
    "json": "未写完的 JSON 里",
    "table": "表格中间",
    "prose": "一句话中间",
    "prose_sentence_end": "句末（但回答并未结束）",
    "empty": "任何可见文本出现之前",
}
DIALECT = {
    "anthropic": "Anthropic Messages 格式",
    "openai": "OpenAI Chat Completions 格式",
    "responses": "OpenAI Responses 格式",
}
FRAG = {
    "tool_cut": "工具参数停在 …{tail}",
    "dialect": "{dialect}。",
    "model_only": "模型 {model}。",
    "cause_no_finish": "收到了 [DONE]，但没有任何分块带有 finish_reason：one-api 会丢掉携带它的那个分块，调用方因此无法区分“达到上限”和“正常结束”。",
    "cause_hidden_cap": '输出 token 数（{out}）达到了请求的 max_tokens（{cap}），finish_reason 却是 "{raw}"：回答被截断了，停止原因把这一点掩盖了。',
    "stop": '响应以 {field} "{raw}" 结束。',
    "stop_missing": "始终没有收到停止原因（stop/finish reason）。",
    "tokens": "输出 {out} 个 token{cap_part}；输入 {inp} 个 token。",
    "tokens_out": "输出 {out} 个 token{cap_part}。",
    "cap_part": "，上限为 {cap}",
    "cap_inferred": "（推断：{relays} 的默认值）",
    "estimated": "（根据文本估算；日志中没有 usage）",
    "model": "模型 {model}，{dialect}。",
    "relay": "中间经过了一个把 Claude 转成 OpenAI 分块的中转服务（迹象：{signs}）。",
    "relay_id": "Anthropic 消息 id {rid}",
    "relay_model": "Claude 模型名",
    "relay_reason": 'Claude 原始停止原因 "{raw}"',
    "status": "HTTP {status}{etype}{code}：“{msg}”。",
    "status_bare": "HTTP {status}{etype}{code}。",
    "rid": "请求 id {rid}。",
    "retry": "服务器要求等待 {retry} 秒（retry-after）。",
    "exception": "客户端抛出了 {exception}。",
    "cut": "文本停在{cut}（…{tail}）。",
    "cut_start": "日志从流的中途开始，只重建了流的尾部。",
    "cause_relay_default": (
        "{cap} 正是 {relays} 在客户端没有传 max_tokens 时自动填入的默认值，而日志中看不到客户端要求过 {cap}："
        "是中转服务截断了回答，而不是模型（{model} 最多可以输出 {ceiling} 个 token）。"
    ),
    "cause_model_ceiling": "{cap} 是 {model} 本身的输出上限：这个回答比单次响应能容纳的更长。",
    "cause_request_cap": "请求本身设置了 max_tokens {cap}。",
    "cause_raw_reason": (
        '"{raw}" 不是 OpenAI 的 finish_reason：中转服务把 Claude 的原始值直接透传了，'
        '只检查 "length" 的客户端会漏掉这次截断。'
    ),
    "cause_cut": "截断点落在{cut}，所以这段文本原样无法使用。",
    "fix_continue": "也可以让 stopwise 从断点处接着生成（它会拼接各段并检查接缝）。",
    "fix_explicit": "显式传入 max_tokens（最多 {ceiling}），不要依赖中转服务的默认值。",
    "prev_truncation": (
        '把 "length"、"max_tokens"（以及缺失的 finish_reason）都当作截断处理，'
        "并在每次响应时把输出 token 数与上限比较。"
    ),
    "prev_relay": "用测试固定中转服务的行为：不传 max_tokens 发一次请求，看它返回什么。",
    "retry_part": "{retry} 秒（retry-after）",
    "retry_part_none": "到配额桶恢复（日志中没有 retry-after）",
    "title_part": "（“{title}”）",
    "part_answer": "回答",
    "part_prompt": "提示词",
    "unknown_found": "找到的内容：{found}。",
    "unknown_nothing": "没有找到可用于诊断的内容：没有 SSE 事件、JSON 正文或 HTTP 状态码。",
}
CATS: dict[str, tuple[str, str, str, str]] = {
    "truncated_max_tokens": (
        "回答在输出上限（max_tokens）处被截断。",
        "生成在回答完成之前就达到了 max_tokens。",
        "调大这次请求的 max_tokens（最多 {ceiling}）。",
        "按这类请求可能需要的最长回答来设定 max_tokens，并显式传入。",
    ),
    "truncated_length": (
        '回答在输出上限处被截断（finish_reason "length"）。',
        "生成在回答完成之前就达到了请求的 max_tokens / max_completion_tokens。",
        "调大这次请求的 max_completion_tokens（或 max_tokens），最多 {ceiling}。",
        "按这类请求可能需要的最长回答来设定 max_completion_tokens。",
    ),
    "truncated_tool_use": (
        "在写 {tool} 的参数时达到了上限：这个工具调用被截断了。",
        "输出预算在工具调用的 JSON 中间耗尽，无论停止原因写的是什么，参数都是不完整的。",
        "不要执行这个调用，也不要修补它的 JSON。用更大的 max_tokens 重新发送请求。",
        "执行工具前先校验参数是完整的 JSON，并给需要写工具调用的轮次留足上限。",
    ),
    "thinking_exhausted_budget": (
        "推理用完了全部输出预算：没有产生可见的回答。",
        "思考/推理 token 与回答共用同一个 max_tokens，而且全部被它用掉了。",
        "把 max_tokens 调到远高于思考预算（或降低推理强度 / budget_tokens）。",
        "只有推理、没有正文的截断不要续写（不会收敛）；按“思考 + 回答”来设定 max_tokens。",
    ),
    "gateway_default_max_tokens": (
        "网关或中转服务强加了调用方从未要求的默认 max_tokens {cap}。",
        "请求里没有 max_tokens，于是中转服务填入了自己的默认值。",
        "每个请求都显式传入 max_tokens（最多 {ceiling}）。",
        "记录实际发往上游的 max_tokens；输出 token 数等于已知中转默认值时告警。",
    ),
    "relay_stop_reason_mismapped": (
        "中转服务把停止原因报告错了，掩盖了一次截断。",
        "中转服务把上游的停止原因翻译成了不能说明实际情况的值（或者干脆丢掉了）。",
        "把这个响应当作已截断处理；升级或重新配置中转服务。",
        "自己比较输出 token 数与上限，并把缺失或未知的停止原因当作不完整。",
    ),
    "pause_turn_unhandled": (
        "这一轮被暂停了（stop_reason pause_turn），却被当作已经结束处理。",
        "服务器工具（网页搜索、代码执行）达到了迭代上限，这一轮并没有结束。把它当作完成继续往下发，"
        "会留下没有结果的 server_tool_use，下一个请求就会因此失败。",
        "遇到 pause_turn 时，把 assistant 内容原样作为最后一条消息、带上相同的 tools 再调用一次。",
        "在响应循环里与 tool_use 一起处理 pause_turn，并限制续接次数。",
    ),
    "pause_turn_resubmit_misordered": (
        "续接了被暂停的一轮，但它不是最后一条消息，因此被 API 拒绝。",
        "被暂停的 assistant 内容必须是下一个请求的最后一条消息。",
        "把被暂停的 assistant 消息原样放在最后，之后不要再加 user 轮次。",
        "用同一个辅助函数构建续接请求，始终把暂停内容追加在末尾。",
    ),
    "refusal": (
        "模型拒绝了回答（HTTP 200）。",
        "安全分类器中止了回答；这是策略结果，不是传输错误。",
        "把拒绝告知用户；改写请求，或在策略允许时换用备用模型重试。",
        "把 refusal 作为单独的结果处理，绝不要在紧密循环里重试。",
    ),
    "content_filter": (
        "内容过滤拦截了{part}。",
        "服务商的内容过滤（Azure/OpenAI 内容管理策略）命中了{part}。",
        "检查并改写输入；检查该部署的过滤配置。",
        '显式处理 finish_reason "content_filter" 和错误码 content_filter，并记录是哪个过滤器触发的。',
    ),
    "context_window_exceeded": (
        "仅输入就超出了模型的上下文窗口。",
        "提示词的 token 数超过了 {model} 能接受的上限（{msg}）。",
        "缩短输入：裁剪历史、做摘要或去掉大附件；或者换用窗口更大的模型。",
        "发送前先计算 token 数，并按模型窗口裁剪历史。",
    ),
    "context_window_exceeded_by_max_tokens": (
        "输入本身放得下，但输入加上请求的 max_tokens 超出了上下文窗口。",
        "API 会在输入之外为输出预留 max_tokens（{msg}）。",
        "把 max_tokens 降到“窗口 − 输入 token 数”以内，或者缩短输入。",
        "每个请求按 min(模型上限, 窗口 − 输入 token 数) 计算 max_tokens。",
    ),
    "stop_model_context_window_exceeded": (
        "上下文窗口被填满，生成停止（stop_reason model_context_window_exceeded）。",
        "输入加输出达到了窗口大小：回答被截断了。",
        "用更短的输入重新发起请求；不要在已满的窗口里续写。",
        "设定输入长度时给回答留出空间；把这个停止原因当作截断。",
    ),
    "invalid_request_trailing_whitespace": (
        "请求被拒绝：最后的 assistant 内容以空白字符结尾。",
        "发送的预填充（或续写的回答）以空格或换行结尾，API 会拒绝。",
        "发送前去掉最后一条 assistant 消息末尾的空白。",
        "在构建预填充和续写的代码里统一去掉末尾空白。",
    ),
    "invalid_request_prefill_unsupported": (
        "请求被拒绝：{model} 不接受 assistant 预填充。",
        "对话以 assistant 消息结尾；这个模型（Claude 4.6 及以后）拒绝预填充。",
        "改为以 user 消息结尾（“继续”轮次），不要用预填充。",
        "把这个 400 当作按模型区分的能力信号，自动退回到“继续”轮次。",
    ),
    "invalid_request_empty_text_block": (
        "请求被拒绝：其中有空的文本块。",
        "某个文本内容块为空或只有空白。",
        "发送前删掉空的文本块（以及空消息）。",
        "构建消息时过滤空内容，尤其是在流式接收或裁剪之后。",
    ),
    "invalid_request_tool_use_without_tool_result": (
        "请求被拒绝：历史中有工具调用后面没有紧跟工具结果。",
        "每个 tool_use（tool_calls）都必须在下一条消息里有对应的 tool_result。",
        "在它后面补上缺失的 tool_result（或删掉没有回应的工具调用）。",
        "在记录工具调用的同一步里追加工具结果；用测试检查历史是否成对。",
    ),
    "invalid_request_tool_result_without_tool_use": (
        "请求被拒绝：某个工具结果引用的工具调用不在上一条消息里。",
        "tool_result 的 tool_use_id 与前一条消息中的任何工具调用都不匹配。",
        "让每个工具结果紧跟在包含其调用的 assistant 消息之后，并使用相同的 id。",
        "不要在工具调用和它的结果之间裁剪或重排历史。",
    ),
    "invalid_request_max_tokens_above_model_limit": (
        "请求被拒绝：max_tokens 超过了 {model} 的输出上限（{limit}）。",
        "请求的 max_tokens 超出了这个模型能生成的量（{msg}）。",
        "把 max_tokens 设为不超过 {limit}。",
        "构建请求时把 max_tokens 限制在模型上限以内。",
    ),
    "invalid_request_thinking_budget": (
        "请求被拒绝：思考预算与 max_tokens 不一致。",
        "max_tokens 必须大于 thinking.budget_tokens（{msg}）。",
        "把 max_tokens 调到高于 budget_tokens（给回答留出空间），或调低 budget_tokens。",
        "在同一处由 max_tokens 推导 budget_tokens。",
    ),
    "invalid_request_unsupported_parameter": (
        "请求被拒绝：上游不认识发给它的某个参数。",
        "传入了这个模型或中转服务不支持的参数（{msg}）。",
        "删掉该参数，或改用模型要求的参数（例如 o 系列模型用 max_completion_tokens）。",
        "按模型维护参数列表，并用客户端实际发送的请求测试每个上游。",
    ),
    "auth_invalid_api_key": (
        "认证失败（HTTP {status}）：发送的 API key 被拒绝。",
        "实际发送的 key 有问题：占位符、带了引号或空白、读错了环境变量、用了别家服务商的 key，或已被吊销。",
        "在构建客户端的地方打印 key 的长度和前几个字符，与控制台中的对比。",
        "只从一个地方加载 key，去掉首尾空白，缺失时在启动阶段就报错。",
    ),
    "permission_denied_region": (
        "访问被拒绝（HTTP 403）：请求来自不受支持的国家或地区。",
        "服务商不为请求 IP 所在的地区提供服务。",
        "从受支持的地区发送请求（或使用服务商官方的区域服务）。",
        "部署前确认服务商支持的地区；把 403 与其他错误分开监控。",
    ),
    "forbidden_waf_user_agent": (
        "HTTP 403 来自网关前面的 WAF/CDN，而不是模型 API。",
        "响应正文是一个 HTML 页面{title_part}，带有 CDN 标记（{markers}）：防火墙规则（常见的是 User-Agent "
        "或客户端 IP）在请求到达 API 之前就拦截了它。",
        "请网关运营方放行你的客户端（User-Agent、IP），或设置一个正常的 User-Agent 请求头。",
        "把 HTML 错误正文当作网关故障处理，并把网关的 WAF 规则纳入配置测试。",
    ),
    "model_not_found": (
        "找不到模型（HTTP 404）：{model} 在这个服务商处写错了或已下线。",
        "模型 id 拼写错误、已退役，或这个服务商/中转服务不提供（{msg}）。",
        "使用服务商模型列表（或中转服务映射）中当前有效的模型 id。",
        "把模型 id 放在配置里，启动时对照 models 接口检查。",
    ),
    "relay_no_available_channel": (
        "中转服务在调用方所在分组里找不到提供 {model} 的可用渠道，没有请求上游就结束了。",
        "one-api / new-api 类中转按分组和模型把请求分配给渠道；这个组合没有启用的渠道（{msg}）。上游 API 根本没有被调用。",
        "在中转后台为该分组启用一个包含此模型的渠道，修正模型名映射，或把令牌换到有该渠道的分组。",
        "修改渠道、分组或模型映射后，按分组逐个模型试调一次，并在中转日志中留意这条消息。",
    ),
    "request_too_large": (
        "请求正文超出了 API 的字节上限（HTTP 413）。",
        "无论 token 数多少，HTTP 正文都太大了：大图片、PDF 或 base64 附件。",
        "缩小正文：压缩图片、改为上传文件而不是内联，或拆分请求。",
        "发送前检查正文大小。",
    ),
    "rate_limited": (
        "触发限流（HTTP 429）：某个每分钟配额桶已耗尽。",
        "每分钟的请求数或 token 数超过了这个 key 或组织的限额。",
        "等待 {retry_part} 后带退避重试；降低并发。",
        "读取限流响应头，在配额桶耗尽前主动限速，并对请求排队。",
    ),
    "insufficient_quota": (
        "额度或余额不足（HTTP {status}）：重试没有用。",
        "计费额度或消费上限已用完（{msg}）。",
        "充值或提高消费上限；在此之前不要重试。",
        "在代码里把额度错误与限流区分开（不重试），并在达到上限前对消费告警。",
    ),
    "api_internal_error": (
        "服务商出错（HTTP {status}）：临时性的服务器错误。",
        "服务商（或网关）内部出错，与请求本身无关。",
        "用指数退避重试；官方 SDK 默认会重试两次。",
        "对 5xx 保持重试，并保留请求 id 以便联系支持。",
    ),
    "overloaded": (
        "API 过载（HTTP 529 overloaded_error）。",
        "当时容量不足；请求本身没有问题。",
        "带退避重试，或退回到另一个模型。",
        "对 529 保持重试，并把负载在时间上错开。",
    ),
    "overloaded_mid_stream": (
        "流在 HTTP 200 之后中途因 overloaded_error 失败。",
        "错误是以 SSE error 事件的形式出现在 200 流里、已有部分输出之后。SDK 从不重试这种情况，"
        "因为重试只覆盖拿到响应头之前。",
        "保留已收到的部分文本并重试（或让 stopwise 从这里接着生成）。",
        "处理流中的 error 事件；保留已经收到的内容。",
    ),
    "stream_interrupted": (
        "流在终止事件之前就结束了：回答不完整。",
        "连接在流的中途被关闭或超时（没有 message_stop / [DONE]）：连接被重置、代理或负载均衡的空闲超时，"
        "或分块读取不完整。",
        "重试请求（或让 stopwise 从部分文本接着生成）；把代理的空闲/读取超时调到比最长的生成时间更长。",
        "没有终止事件的流一律当作中断，绝不当作完成。",
    ),
    "proxy_buffering": (
        "反向代理缓冲了流：token 是成批到达的。",
        "事件时间戳显示长时间等待之后一次性到达大量事件：代理把 SSE 扣住了。",
        "为流式路由关闭缓冲（nginx：proxy_buffering off，或 X-Accel-Buffering: no）。",
        "在每个代理后面测量首 token 时间和事件间隔。",
    ),
    "sse_malformed_line": (
        "客户端在一行不是预期 JSON 的 SSE 数据上出错了。",
        "某个 data 行里不是 JSON 分块（没有空格的 data:[DONE]、只有 retry: 的事件，或服务端输出的垃圾内容）。",
        "使用遵循规范的 SSE 解析器（如 stopwise 的），并跳过不是 JSON 的行。",
        "按 WHATWG 规则解析 SSE，并按前缀匹配 [DONE]。",
    ),
    "stream_usage_missing": (
        "流式响应中没有 usage，所以 token 统计为零。",
        "只有传了 stream_options.include_usage，usage 才会出现在最后一个分块里；这个参数没传或没被转发。",
        '传入 stream_options: {{"include_usage": true}}，并确认中转服务会转发它。',
        "完成的流里没有 usage 分块时告警。",
    ),
    "unknown": (
        "这段日志不足以做出诊断。",
        "没有找到各类别所涵盖的停止原因、错误正文或传输故障。",
        "请贴出更多日志：HTTP 状态行、错误正文，或最后几条 SSE 事件。",
        "对失败的调用记录状态码、响应正文或最后的 SSE 事件。",
    ),
}


#: Responses API 的线路与其他格式不同之处（`max_output_tokens`、`response.completed`）。
CATS_RESPONSES: dict[str, tuple[str, str, str, str]] = {
    "truncated_length": (
        '回答在输出上限处被截断（status "incomplete"，reason "max_output_tokens"）。',
        "生成在回答完成之前就达到了请求的 max_output_tokens。",
        "调大这次请求的 max_output_tokens，最多 {ceiling}；推理 token 也计入其中。",
        "按这类请求可能需要的最长回答（及推理）来设定 max_output_tokens。",
    ),
    "stream_interrupted": (
        "流在终止事件之前就结束了：回答不完整。",
        "连接在流的中途被关闭或超时（没有 response.completed、response.incomplete 或 response.failed）："
        "连接被重置、代理或负载均衡的空闲超时，或分块读取不完整。",
        "重试请求（或让 stopwise 从部分文本接着生成）；把代理的空闲/读取超时调到比最长的生成时间更长。",
        "没有终止事件的 Responses 流一律当作中断，绝不当作完成。",
    ),
}
