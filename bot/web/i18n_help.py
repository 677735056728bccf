"""Console strings of the help requests page (citizens who asked for a person, 转人工).

Merged into :data:`bot.web.i18n.TEXTS`.
"""

from __future__ import annotations

HELP_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "nav.help": "人工求助",
        "help.title": "人工求助",
        "help.intro": (
            "群众在对话中发送“转人工”“人工”等请求人工帮助时列在这里（等待最久的在前）。"
            "可以直接回复（经群众原来的渠道发送），或电话联系后标记为已处理。"
        ),
        "help.open": "待处理 {n} 条",
        "help.show_open": "待处理",
        "help.show_handled": "已处理",
        "help.none": "没有待处理的求助。",
        "help.none_handled": "还没有已处理的求助。",
        "help.asked": "{time} 请求人工",
        "help.times": "（共 {n} 次）",
        "help.in_form": "填写信访事项过程中求助",
        "help.case": "最近的事项",
        "help.no_case": "尚无事项",
        "help.channel": "渠道与群众",
        "help.recent": "群众最近的消息",
        "help.reply": "回复群众",
        "help.reply_hint": "经群众原来的渠道发送，发送后本条求助标记为已处理。",
        "help.send": "发送回复",
        "help.mark": "已电话联系，标记为已处理",
        "help.handled_by": "{who} 于 {time} 处理",
        "help.replied": "回复已排队发送，求助已标记为已处理。",
        "help.closed": "求助已标记为已处理。",
        "help.error.already": "这条求助已经处理过了。",
        "help.error.unknown": "没有找到这条求助，或它不在您的部门范围内。",
        "help.error.empty": "请填写回复内容。",
        "help.error.too_long": "回复太长了，请精简后再发送。",
        "help.older": "更早的",
        "help.newer": "较新的",
    },
    "en": {
        "nav.help": "Help requests",
        "help.title": "Help requests",
        "help.intro": (
            'Citizens who asked for a person in the conversation ("转人工", "human"), '
            "longest waiting first. Reply through the citizen's own channel, or mark the "
            "request handled after calling them."
        ),
        "help.open": "{n} open",
        "help.show_open": "Open",
        "help.show_handled": "Handled",
        "help.none": "No open help requests.",
        "help.none_handled": "No handled help requests yet.",
        "help.asked": "asked at {time}",
        "help.times": "({n} times)",
        "help.in_form": "while filling in a petition",
        "help.case": "Latest petition",
        "help.no_case": "No petition yet",
        "help.channel": "Channel and citizen",
        "help.recent": "The citizen's latest messages",
        "help.reply": "Reply to the citizen",
        "help.reply_hint": "Sent through the citizen's own channel; the request is then handled.",
        "help.send": "Send reply",
        "help.mark": "Called them: mark handled",
        "help.handled_by": "handled by {who} at {time}",
        "help.replied": "The reply is queued; the request is marked handled.",
        "help.closed": "The request is marked handled.",
        "help.error.already": "This request was handled already.",
        "help.error.unknown": "No such request, or it is outside your departments.",
        "help.error.empty": "Please write a reply.",
        "help.error.too_long": "The reply is too long; please shorten it.",
        "help.older": "Older",
        "help.newer": "Newer",
    },
}
