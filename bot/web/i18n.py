"""Console interface strings, Chinese first and English selectable (not citizen texts)."""

from __future__ import annotations

from typing import Any

LANGS = ("zh", "en")

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "app.title": "信访工作台",
        "login.title": "工作人员登录",
        "login.login": "账号",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "账号或密码错误。",
        "login.locked": "失败次数过多，账号已锁定至 {until}。",
        "login.throttled": "尝试过于频繁，请一分钟后再试。",
        "logout": "退出",
        "lang.switch": "English",
    },
    "en": {
        "app.title": "Petition office console",
        "login.title": "Staff login",
        "login.login": "Login",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "Wrong login or password.",
        "login.locked": "Too many failed attempts: the account is locked until {until}.",
        "login.throttled": "Too many attempts: try again in a minute.",
        "logout": "Log out",
        "lang.switch": "中文",
    },
}


def translate(lang: str, key: str, **params: Any) -> str:
    """The interface string for ``key`` in ``lang`` (Chinese when missing), formatted."""
    text = TEXTS.get(lang, TEXTS["zh"]).get(key) or TEXTS["zh"].get(key) or key
    return text.format(**params) if params else text
