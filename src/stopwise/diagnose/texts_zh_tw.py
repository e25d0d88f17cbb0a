# ruff: noqa: E501  (prose tables: each sentence kept whole so the three languages compare line by line)
"""繁體中文報告文字。用語依照服務商的 stop_reason 處理指南（回應、令牌、截斷、欄位、流式處理）；
佔位符與 texts_en 相同，由 :mod:`.explain` 依日誌中的事實填入；事實與類別名稱維持原樣。"""

from __future__ import annotations

LABELS = {
    "what": "發生了什麼",
    "cause": "原因",
    "fix": "解決方法",
    "prevention": "預防措施",
    "evidence": "證據",
    "facts": "關鍵事實",
    "category": "類別",
    "also": "同時存在",
    "confidence": "信心度",
    "llm": "模型產生的說明（未經 stopwise 核實）",
    "found": "日誌中的內容",
    "none": "無",
}
DEFAULTS = {
    "model": "該模型",
    "status": "?",
    "etype": "錯誤",
    "code": "",
    "msg": "",
    "raw": "?",
    "out": "?",
    "cap": "上限",
    "inp": "?",
    "ceiling": "模型的輸出上限",
    "limit": "上限",
    "retry": "?",
    "tool": "工具",
    "title": "",
    "relays": "中繼服務",
}
SEP = ""
LIST_SEP = "；"
FOUND = {
    "sse": "{n} 行 SSE data",
    "json": "{n} 個 JSON 物件",
    "status": "HTTP 狀態碼 {s}",
    "stop": '停止原因 "{raw}"（狀態 {state}）',
    "exception": "例外 {name}",
    "model": "模型 {model}",
}
CUT = {
    "sql": "一段 SQL 陳述式中間",
    "code_fence": "一個未關閉的 ```{lang} 程式碼區塊裡",
    "json": "尚未寫完的 JSON 裡",
    "table": "表格中間",
    "prose": "一句話中間",
    "prose_sentence_end": "句尾（但回應並未結束）",
    "empty": "任何可見文字出現之前",
}
DIALECT = {
    "anthropic": "Anthropic Messages 格式",
    "openai": "OpenAI Chat Completions 格式",
    "responses": "OpenAI Responses 格式",
}
FRAG = {
    "tool_cut": "工具參數停在 …{tail}",
    "dialect": "{dialect}。",
    "model_only": "模型 {model}。",
    "cause_no_finish": "收到了 [DONE]，但沒有任何區塊帶有 finish_reason：one-api 會丟掉攜帶它的那個區塊，呼叫方因此無法分辨「達到上限」與「正常結束」。",
    "cause_hidden_cap": '輸出令牌數（{out}）達到了請求的 max_tokens（{cap}），finish_reason 卻是 "{raw}"：回應被截斷了，停止原因把這一點掩蓋了。',
    "stop": '回應以 {field} "{raw}" 結束。',
    "stop_missing": "始終沒有收到停止原因（stop/finish reason）。",
    "tokens": "輸出 {out} 個令牌{cap_part}；輸入 {inp} 個令牌。",
    "tokens_out": "輸出 {out} 個令牌{cap_part}。",
    "cap_part": "，上限為 {cap}",
    "cap_inferred": "（推斷：{relays} 的預設值）",
    "estimated": "（依文字估算；日誌中沒有 usage）",
    "model": "模型 {model}，{dialect}。",
    "relay": "中間經過一個把 Claude 轉成 OpenAI 區塊的中繼服務（跡象：{signs}）。",
    "relay_id": "Anthropic 訊息 id {rid}",
    "relay_model": "Claude 模型名稱",
    "relay_reason": 'Claude 原始停止原因 "{raw}"',
    "status": "HTTP {status}{etype}{code}：「{msg}」。",
    "status_bare": "HTTP {status}{etype}{code}。",
    "rid": "請求 id {rid}。",
    "retry": "伺服器要求等待 {retry} 秒（retry-after）。",
    "exception": "用戶端拋出了 {exception}。",
    "cut": "文字停在{cut}（…{tail}）。",
    "cut_start": "日誌從流式回應的中途開始，只重建了它的尾端。",
    "cause_relay_default": (
        "{cap} 正是 {relays} 在用戶端沒有傳送 max_tokens 時自動填入的預設值，而日誌中看不到用戶端要求過 {cap}："
        "是中繼服務截斷了回應，而不是模型（{model} 最多可以輸出 {ceiling} 個令牌）。"
    ),
    "cause_model_ceiling": "{cap} 是 {model} 本身的輸出上限：這個回應比單次回應能容納的更長。",
    "cause_request_cap": "請求本身設定了 max_tokens {cap}。",
    "cause_raw_reason": (
        '"{raw}" 不是 OpenAI 的 finish_reason：中繼服務把 Claude 的原始值直接傳了過來，'
        '只檢查 "length" 的用戶端會漏掉這次截斷。'
    ),
    "cause_cut": "截斷點落在{cut}，所以這段文字無法直接使用。",
    "fix_continue": "也可以讓 stopwise 從中斷處繼續生成（它會接合各段並檢查接縫）。",
    "fix_explicit": "明確傳送 max_tokens（最多 {ceiling}），不要依賴中繼服務的預設值。",
    "prev_truncation": (
        '把 "length"、"max_tokens"（以及缺少的 finish_reason）都視為截斷，'
        "並在每次回應時比較輸出令牌數與上限。"
    ),
    "prev_relay": "用測試固定中繼服務的行為：不傳 max_tokens 送出一次請求，看它回傳什麼。",
    "retry_part": "{retry} 秒（retry-after）",
    "retry_part_none": "到配額恢復（日誌中沒有 retry-after）",
    "title_part": "（「{title}」）",
    "part_answer": "回應",
    "part_prompt": "提示",
    "unknown_found": "找到的內容：{found}。",
    "unknown_nothing": "沒有找到可用於診斷的內容：沒有 SSE 事件、JSON 內文或 HTTP 狀態碼。",
}
CATS: dict[str, tuple[str, str, str, str]] = {
    "truncated_max_tokens": (
        "回應在輸出上限（max_tokens）處被截斷。",
        "生成在回應完成之前就達到了 max_tokens。",
        "調高這次請求的 max_tokens（最多 {ceiling}）。",
        "依這類請求可能需要的最長回應設定 max_tokens，並明確傳送。",
    ),
    "truncated_length": (
        '回應在輸出上限處被截斷（finish_reason "length"）。',
        "生成在回應完成之前就達到了請求的 max_tokens / max_completion_tokens。",
        "調高這次請求的 max_completion_tokens（或 max_tokens），最多 {ceiling}。",
        "依這類請求可能需要的最長回應設定 max_completion_tokens。",
    ),
    "truncated_tool_use": (
        "在寫入 {tool} 的參數時達到了上限：這個工具呼叫被截斷了。",
        "輸出預算在工具呼叫的 JSON 中間耗盡，無論停止原因寫什麼，參數都不完整。",
        "不要執行這個呼叫，也不要修補它的 JSON。以更大的 max_tokens 重新送出請求。",
        "執行工具前先驗證參數是完整的 JSON，並給需要寫工具呼叫的輪次足夠的上限。",
    ),
    "thinking_exhausted_budget": (
        "推理用完了全部輸出預算：沒有產生可見的回應。",
        "思考/推理令牌與回應共用同一個 max_tokens，而且全部被它用掉了。",
        "把 max_tokens 調到遠高於思考預算（或降低推理強度 / budget_tokens）。",
        "只有推理、沒有內文的截斷不要續寫（不會收斂）；依「思考 + 回應」設定 max_tokens。",
    ),
    "gateway_default_max_tokens": (
        "閘道或中繼服務加上了呼叫方從未要求的預設 max_tokens {cap}。",
        "請求中沒有 max_tokens，於是中繼服務填入了自己的預設值。",
        "每個請求都明確傳送 max_tokens（最多 {ceiling}）。",
        "記錄實際送往上游的 max_tokens；輸出令牌數等於已知的中繼預設值時發出警示。",
    ),
    "relay_stop_reason_mismapped": (
        "中繼服務把停止原因回報錯了，掩蓋了一次截斷。",
        "中繼服務把上游的停止原因轉換成無法說明實際情況的值（或直接丟掉了）。",
        "把這個回應視為已截斷；更新或重新設定中繼服務。",
        "自行比較輸出令牌數與上限，並把缺少或未知的停止原因視為不完整。",
    ),
    "pause_turn_unhandled": (
        "這一輪被暫停了（stop_reason pause_turn），卻被當作已經結束處理。",
        "伺服器工具（網路搜尋、程式碼執行）達到了迭代上限，這一輪並沒有結束。把它當作完成繼續往下送，"
        "會留下沒有結果的 server_tool_use，下一個請求就會因此失敗。",
        "遇到 pause_turn 時，把 assistant 內容原封不動作為最後一則訊息、帶上相同的 tools 再呼叫一次。",
        "在回應迴圈中與 tool_use 一起處理 pause_turn，並限制續接次數。",
    ),
    "pause_turn_resubmit_misordered": (
        "續接了被暫停的一輪，但它不是最後一則訊息，因此被 API 拒絕。",
        "被暫停的 assistant 內容必須是下一個請求的最後一則訊息。",
        "把被暫停的 assistant 訊息原封不動放在最後，之後不要再加 user 輪次。",
        "以同一個輔助函式建立續接請求，一律把暫停內容附加在最後。",
    ),
    "refusal": (
        "模型拒絕了回應（HTTP 200）。",
        "安全分類器中止了回應；這是政策結果，不是傳輸錯誤。",
        "把拒絕告知使用者；改寫請求，或在政策允許時改用備用模型重試。",
        "把 refusal 當作獨立的結果處理，絕不要在緊密迴圈中重試。",
    ),
    "content_filter": (
        "內容篩選攔下了{part}。",
        "服務商的內容篩選（Azure/OpenAI 內容管理原則）命中了{part}。",
        "檢查並改寫輸入；檢查該部署的篩選設定。",
        '明確處理 finish_reason "content_filter" 與錯誤碼 content_filter，並記錄是哪個篩選器觸發。',
    ),
    "context_window_exceeded": (
        "光是輸入就超出了模型的上下文視窗。",
        "提示的令牌數超過了 {model} 能接受的上限（{msg}）。",
        "縮短輸入：裁剪歷史、做摘要或移除大型附件；或改用視窗更大的模型。",
        "送出前先計算令牌數，並依模型視窗裁剪歷史。",
    ),
    "context_window_exceeded_by_max_tokens": (
        "輸入本身放得下，但輸入加上請求的 max_tokens 超出了上下文視窗。",
        "API 會在輸入之外為輸出保留 max_tokens（{msg}）。",
        "把 max_tokens 降到「視窗 − 輸入令牌數」以內，或縮短輸入。",
        "每個請求依 min(模型上限, 視窗 − 輸入令牌數) 計算 max_tokens。",
    ),
    "stop_model_context_window_exceeded": (
        "上下文視窗被填滿，生成停止（stop_reason model_context_window_exceeded）。",
        "輸入加輸出達到了視窗大小：回應被截斷了。",
        "以更短的輸入重新發出請求；不要在已滿的視窗裡續寫。",
        "設定輸入長度時為回應留出空間；把這個停止原因視為截斷。",
    ),
    "invalid_request_trailing_whitespace": (
        "請求被拒絕：最後的 assistant 內容以空白字元結尾。",
        "送出的預填（或續寫的回應）以空格或換行結尾，API 會拒絕。",
        "送出前移除最後一則 assistant 訊息結尾的空白。",
        "在建立預填與續寫的程式碼中統一移除結尾空白。",
    ),
    "invalid_request_prefill_unsupported": (
        "請求被拒絕：{model} 不接受 assistant 預填。",
        "對話以 assistant 訊息結尾；這個模型（Claude 4.6 及之後）拒絕預填。",
        "改以 user 訊息結尾（「請繼續」輪次），不要使用預填。",
        "把這個 400 視為依模型而異的能力訊號，自動改用「請繼續」輪次。",
    ),
    "invalid_request_empty_text_block": (
        "請求被拒絕：其中有空的文字區塊。",
        "某個文字內容區塊是空的，或只有空白。",
        "送出前移除空的文字區塊（以及空訊息）。",
        "建立訊息時過濾空內容，尤其是在流式處理或裁剪之後。",
    ),
    "invalid_request_tool_use_without_tool_result": (
        "請求被拒絕：歷史中有工具呼叫後面沒有緊接著工具結果。",
        "每個 tool_use（tool_calls）都必須在下一則訊息中有對應的 tool_result。",
        "在它後面補上缺少的 tool_result（或移除沒有回覆的工具呼叫）。",
        "在記錄工具呼叫的同一步附加工具結果；用測試檢查歷史是否成對。",
    ),
    "invalid_request_tool_result_without_tool_use": (
        "請求被拒絕：某個工具結果參照的工具呼叫不在上一則訊息中。",
        "tool_result 的 tool_use_id 與前一則訊息中的任何工具呼叫都不相符。",
        "讓每個工具結果緊接在含有其呼叫的 assistant 訊息之後，並使用相同的 id。",
        "不要在工具呼叫與其結果之間裁剪或重新排序歷史。",
    ),
    "invalid_request_max_tokens_above_model_limit": (
        "請求被拒絕：max_tokens 超過了 {model} 的輸出上限（{limit}）。",
        "請求的 max_tokens 超出這個模型能產生的量（{msg}）。",
        "把 max_tokens 設為不超過 {limit}。",
        "建立請求時把 max_tokens 限制在模型上限以內。",
    ),
    "invalid_request_thinking_budget": (
        "請求被拒絕：思考預算與 max_tokens 不一致。",
        "max_tokens 必須大於 thinking.budget_tokens（{msg}）。",
        "把 max_tokens 調到高於 budget_tokens（為回應留出空間），或調低 budget_tokens。",
        "在同一處由 max_tokens 推導 budget_tokens。",
    ),
    "invalid_request_unsupported_parameter": (
        "請求被拒絕：上游不認得送給它的某個參數。",
        "傳送了這個模型或中繼服務不支援的參數（{msg}）。",
        "移除該參數，或改用模型要求的參數（例如 o 系列模型使用 max_completion_tokens）。",
        "依模型維護參數清單，並以用戶端實際送出的請求測試每個上游。",
    ),
    "auth_invalid_api_key": (
        "驗證失敗（HTTP {status}）：送出的 API 金鑰被拒絕。",
        "實際送出的金鑰有問題：預留位置、含有引號或空白、讀錯環境變數、用了別家服務商的金鑰，或已被撤銷。",
        "在建立用戶端的地方印出金鑰的長度與前幾個字元，並與主控台中的比對。",
        "只從一個地方載入金鑰、去除前後空白，缺少時在啟動階段就報錯。",
    ),
    "permission_denied_region": (
        "存取被拒（HTTP 403）：請求來自不支援的國家或地區。",
        "服務商不為請求 IP 所在的地區提供服務。",
        "從支援的地區送出請求（或使用服務商官方的區域服務）。",
        "部署前確認服務商支援的地區；把 403 與其他錯誤分開監控。",
    ),
    "forbidden_waf_user_agent": (
        "HTTP 403 來自閘道前方的 WAF/CDN，而不是模型 API。",
        "回應內文是一個 HTML 頁面{title_part}，帶有 CDN 標記（{markers}）：防火牆規則（常見的是 User-Agent "
        "或用戶端 IP）在請求抵達 API 之前就攔下了它。",
        "請閘道營運方放行你的用戶端（User-Agent、IP），或設定一般的 User-Agent 標頭。",
        "把 HTML 錯誤內文視為閘道故障，並把閘道的 WAF 規則納入設定測試。",
    ),
    "model_not_found": (
        "找不到模型（HTTP 404）：{model} 在這個服務商處寫錯了或已下架。",
        "模型 id 拼錯、已停用，或這個服務商/中繼服務不提供（{msg}）。",
        "使用服務商模型清單（或中繼服務對應表）中目前有效的模型 id。",
        "把模型 id 放在設定中，啟動時對照 models 端點檢查。",
    ),
    "relay_no_available_channel": (
        "中繼服務在呼叫方所屬分組中找不到提供 {model} 的可用管道，沒有請求上游就結束了。",
        "one-api / new-api 類中繼依分組與模型把請求分派到管道；這個組合沒有啟用的管道（{msg}）。上游 API 完全沒有被呼叫。",
        "在中繼後台替該分組啟用一個包含此模型的管道，修正模型名稱對應，或把權杖換到有該管道的分組。",
        "修改管道、分組或模型對應後，依分組逐一模型試呼叫一次，並在中繼日誌中留意這則訊息。",
    ),
    "request_too_large": (
        "請求內文超出了 API 的位元組上限（HTTP 413）。",
        "無論令牌數多少，HTTP 內文都太大了：大型圖片、PDF 或 base64 附件。",
        "縮小內文：壓縮圖片、改為上傳檔案而不是內嵌，或拆分請求。",
        "送出前檢查內文大小。",
    ),
    "rate_limited": (
        "觸發速率限制（HTTP 429）：某個每分鐘配額已用盡。",
        "每分鐘的請求數或令牌數超過了這個金鑰或組織的限額。",
        "等待 {retry_part} 後以退避方式重試；降低並行數。",
        "讀取速率限制標頭，在配額用盡前主動節流，並將請求排入佇列。",
    ),
    "insufficient_quota": (
        "額度或餘額不足（HTTP {status}）：重試沒有用。",
        "計費額度或支出上限已用完（{msg}）。",
        "儲值或提高支出上限；在此之前不要重試。",
        "在程式中把額度錯誤與速率限制分開（不重試），並在達到上限前對支出發出警示。",
    ),
    "api_internal_error": (
        "服務商發生錯誤（HTTP {status}）：暫時性的伺服器錯誤。",
        "服務商（或閘道）內部錯誤，與請求本身無關。",
        "以指數退避重試；官方 SDK 預設會重試兩次。",
        "對 5xx 保持重試，並保留請求 id 以便聯絡支援。",
    ),
    "overloaded": (
        "API 過載（HTTP 529 overloaded_error）。",
        "當下容量不足；請求本身沒有問題。",
        "以退避方式重試，或改用另一個模型。",
        "對 529 保持重試，並把負載在時間上錯開。",
    ),
    "overloaded_mid_stream": (
        "流式回應在 HTTP 200 之後中途因 overloaded_error 失敗。",
        "錯誤以 SSE error 事件的形式出現在 200 的流式回應中、已有部分輸出之後。SDK 從不重試這種情況，"
        "因為重試只涵蓋取得回應標頭之前。",
        "保留已收到的部分文字並重試（或讓 stopwise 從這裡繼續生成）。",
        "處理流式回應中的 error 事件；保留已收到的內容。",
    ),
    "stream_interrupted": (
        "流式回應在終止事件之前就結束了：回應不完整。",
        "連線在中途被關閉或逾時（沒有 message_stop / [DONE]）：連線被重設、代理或負載平衡器的閒置逾時，"
        "或分塊讀取不完整。",
        "重試請求（或讓 stopwise 從部分文字繼續生成）；把代理的閒置/讀取逾時調到比最長的生成時間更長。",
        "沒有終止事件的流式回應一律視為中斷，絕不視為完成。",
    ),
    "proxy_buffering": (
        "反向代理緩衝了流式回應：令牌是成批抵達的。",
        "事件時間戳顯示長時間等待之後一次抵達大量事件：代理把 SSE 扣住了。",
        "為流式路由關閉緩衝（nginx：proxy_buffering off，或 X-Accel-Buffering: no）。",
        "在每個代理後方量測首個令牌的時間與事件間隔。",
    ),
    "sse_malformed_line": (
        "用戶端在一行不是預期 JSON 的 SSE 資料上出錯了。",
        "某個 data 行不是 JSON 區塊（沒有空格的 data:[DONE]、只有 retry: 的事件，或伺服器端的雜訊）。",
        "使用遵循規範的 SSE 剖析器（例如 stopwise 的），並略過不是 JSON 的行。",
        "依 WHATWG 規則剖析 SSE，並以前綴比對 [DONE]。",
    ),
    "stream_usage_missing": (
        "流式回應中沒有 usage，所以令牌統計為零。",
        "只有傳送 stream_options.include_usage 時，usage 才會出現在最後一個區塊；這個參數沒有傳送或沒有被轉送。",
        '傳送 stream_options: {{"include_usage": true}}，並確認中繼服務會轉送它。',
        "完成的流式回應中沒有 usage 區塊時發出警示。",
    ),
    "unknown": (
        "這段日誌不足以做出診斷。",
        "沒有找到各類別涵蓋的停止原因、錯誤內文或傳輸故障。",
        "請貼上更多日誌：HTTP 狀態行、錯誤內文，或最後幾個 SSE 事件。",
        "對失敗的呼叫記錄狀態碼、回應內文或最後的 SSE 事件。",
    ),
}


#: Responses API 的線路與其他格式不同之處（`max_output_tokens`、`response.completed`）。
CATS_RESPONSES: dict[str, tuple[str, str, str, str]] = {
    "truncated_length": (
        '回應在輸出上限處被截斷（status "incomplete"，reason "max_output_tokens"）。',
        "生成在回應完成之前就達到了請求的 max_output_tokens。",
        "調高這次請求的 max_output_tokens，最多 {ceiling}；推理 token 也計入其中。",
        "依這類請求可能需要的最長回應（及推理）設定 max_output_tokens。",
    ),
    "stream_interrupted": (
        "流式回應在終止事件之前就結束了：回應不完整。",
        "連線在中途被關閉或逾時（沒有 response.completed、response.incomplete 或 response.failed）："
        "連線被重設、代理或負載平衡器的閒置逾時，或分塊讀取不完整。",
        "重試請求（或讓 stopwise 從部分文字繼續生成）；把代理的閒置/讀取逾時調到比最長的生成時間更長。",
        "沒有終止事件的 Responses 流式回應一律視為中斷，絕不視為完成。",
    ),
}
