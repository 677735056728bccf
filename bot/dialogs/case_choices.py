"""The rating and 复查/复核 options offered with an answered case (its push, its status).

Each option's value is the words a citizen would type ("满意 XF…", "申请复查 XF…"), so
a tap, a picked number and typing all take the same way: ``commands.parse_citizen_action``.
"""

from __future__ import annotations

from bot.dialogs.texts import Texts
from bot.domain.tracking import format_tracking_no
from bot.messages import Choice

RATING_WORDS = (
    ("satisfied", "满意"),
    ("basically_satisfied", "基本满意"),
    ("dissatisfied", "不满意"),
)
# the status whose opinion the citizen may contest: the request's words, its label's key
CONTEST = {
    "answered": ("申请复查", "page.review_title"),
    "reviewed": ("申请复核", "page.recheck_title"),
}


def answered_choices(texts: Texts, lang: str, status: str, tracking_no: str) -> tuple[Choice, ...]:
    """满意 / 基本满意 / 不满意 and 申请复查 (or 复核) for a case in ``status``; () when its
    opinion can't be rated or contested from here."""
    if status not in CONTEST:
        return ()
    number = format_tracking_no(tracking_no)
    words, label = CONTEST[status]
    return (
        *(
            Choice(f"{word} {number}", texts.get(lang, f"rating.{key}"))
            for key, word in RATING_WORDS
        ),
        Choice(f"{words} {number}", texts.get(lang, label)),
    )
