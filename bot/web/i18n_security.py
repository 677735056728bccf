"""Console strings of the account's own password change and of token and password audit
entries.

Merged into :data:`bot.web.i18n.TEXTS`; the ``password.weak.*`` keys follow the codes of
:class:`bot.staff.passwords.WeakPassword`.
"""

from __future__ import annotations

SECURITY_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "nav.password": "修改密码",
        "password.title": "修改密码",
        "password.forced": (
            "管理员重置了您的密码。请先设置只有您自己知道的新密码，然后才能继续使用。"
        ),
        "password.rules": (
            "新密码至少 {min} 个字符，不能是常见密码，也不能包含您的登录名、姓名或电话。"
            "修改后，此账号在其他设备上的登录会全部退出。"
        ),
        "password.current": "当前密码",
        "password.new": "新密码",
        "password.again": "再次输入新密码",
        "password.submit": "修改密码",
        "password.changed": "密码已修改，此账号在其他设备上的登录已全部退出。",
        "password.wrong": "当前密码不正确。",
        "password.differ": "两次输入的新密码不一致。",
        "password.weak.too_short": "新密码太短：至少需要 {min} 个字符。",
        "password.weak.too_long": "新密码太长。",
        "password.weak.common": "这是一个常见密码，很容易被猜中，请换一个。",
        "password.weak.personal": "新密码不能包含您的登录名、姓名或电话。",
        "password.weak.same": "新密码不能与当前密码相同。",
        "audit.a.staff.change_password": "修改本人密码",
        "audit.a.staff.unlock": "解除锁定",
        "audit.reason.token_scope": "只读令牌不能修改数据",
    },
    "en": {
        "nav.password": "Change password",
        "password.title": "Change your password",
        "password.forced": (
            "An administrator reset your password. Choose a new one that only you know "
            "before you go on."
        ),
        "password.rules": (
            "At least {min} characters, not a common password, and not containing your "
            "login, name or phone. Every other session of this account ends."
        ),
        "password.current": "Current password",
        "password.new": "New password",
        "password.again": "New password again",
        "password.submit": "Change password",
        "password.changed": "Password changed; this account's other sessions have ended.",
        "password.wrong": "The current password is wrong.",
        "password.differ": "The two new passwords differ.",
        "password.weak.too_short": "The new password is too short: at least {min} characters.",
        "password.weak.too_long": "The new password is too long.",
        "password.weak.common": "This is a common password, easily guessed: choose another.",
        "password.weak.personal": "The new password must not contain your login, name or phone.",
        "password.weak.same": "The new password must differ from the current one.",
        "audit.a.staff.change_password": "Change own password",
        "audit.a.staff.unlock": "Unlock an account",
        "audit.reason.token_scope": "A read-only token may not change anything",
    },
}
