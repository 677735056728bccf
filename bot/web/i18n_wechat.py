"""Console strings of WeChat delivery reports (states of a sent notice on a case timeline).

Merged into :data:`bot.web.i18n.TEXTS`; the states are those :data:`bot.deliveries.STATES`
adds for a platform's delivery report (TEMPLATESENDJOBFINISH).
"""

from __future__ import annotations

WECHAT_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "delivery.state.delivered": "已送达",
        "delivery.state.blocked": "信访人已拒收",
        "delivery.state.undelivered": "平台未能送达",
    },
    "en": {
        "delivery.state.delivered": "Delivered",
        "delivery.state.blocked": "Refused by the petitioner",
        "delivery.state.undelivered": "Not delivered by the platform",
    },
}
