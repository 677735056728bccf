"""A scripted citizen: answers whatever question the conversation is at (tests and benches)."""

from __future__ import annotations

from typing import Any

# Answers typed the way phone users type them: full-width digits, spaces, emoji.
ANSWERS_ZH: dict[str, str] = {
    "appeal_type": "申诉求决",
    "anonymous": "否",
    "name": "张三",
    "phone": "１３８ 1234-5678",
    "address": "杭州市西湖区文三路100号",
    "region": "西湖区",
    "incident_place": "文三路与学院路交叉口",
    "category": "劳动社保",
    "respondent": "某某建筑公司",
    "request": "请求帮助追讨被拖欠的三个月工资 🙏",
    "facts": "2026年8月至10月，我在某某建筑公司工地务工，公司一直拖欠工资，多次讨要无果。",
    "people_count": "2",
    "representatives": "张三、李四",
    "legal_status": "没有",
    "reported_before": "否",
    "earlier_tracking_no": "跳过",
    "attachments": "跳过",
    "reuse_contact": "沿用",  # a citizen who filed before keeps their contact details
}
DONE_WORDS = {"facts": "完成"}
# a fragment of each question's zh prompt -> its field, for clients that only see text
# (the questions of several fields come first: they contain the single questions' words;
# a group's question answered with one field's answer fills that field, the others follow)
PROMPTS: dict[str, str] = {
    "沿用您上次": "reuse_contact",
    "事情发生在哪里": "region",
    "希望解决什么问题": "request",
    "诉求类型": "appeal_type",
    "匿名": "anonymous",
    "姓名": "name",
    "手机号码": "phone",
    "住址": "address",
    "哪个区县": "region",
    "具体地点": "incident_place",
    "哪一类": "category",
    "哪个单位或个人": "respondent",
    "请求": "request",
    "事实和理由": "facts",
    "几个人一起反映": "people_count",
    "代表": "representatives",
    "法律程序": "legal_status",
    "反映过": "reported_before",
    "材料": "attachments",
}
CONFIRM_WORD = "确认提交"


def field_asked(text: str) -> str | None:
    """The field a bot message asks for, read from its question (the last paragraph: an
    echo of the previous answer may come before it and name another field)."""
    question = text.split("\n\n")[-1]
    return next((f for key, f in PROMPTS.items() if key in question), None)


def current_question(state: dict[str, Any] | None) -> str | None:
    """The field the draft is at ("__confirm__" at read-back), or None when idle."""
    draft = (state or {}).get("draft")
    return None if not draft else str(draft["current"])


def answer_for(question: str, state: dict[str, Any], answers: dict[str, str]) -> str:
    """What the scripted citizen types next."""
    if question == "__confirm__":
        return CONFIRM_WORD
    draft = state["draft"]
    if question in DONE_WORDS and draft.get("buffers", {}).get(question):
        return DONE_WORDS[question]
    return answers[question]
