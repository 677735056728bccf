"""One citizen across channels: confirming a mobile by an SMS code on the case page (/my).

A citizen asks for a code to a mainland mobile; the code (6 digits) goes out by SMS
through the outbox and is valid for 5 minutes; only its HMAC is kept (in the kv store,
expiring with it), and the outbox row loses it once sent. Typing it back confirms the
number on the contact (``contacts.verified_phone``), and /my then lists every case filed
with that number, from any channel or registered by staff.

Brute force is refused with the same shared look-up limits as case look-ups
(bot/case_lookups.py, bot/storage/lookup_limits.py): at most 5 tries per code, wrong codes
counted per contact, per number and per client address (the client limit is the case
look-ups' own, so guessing codes and guessing case numbers draw on one budget); codes are
sent at most once a minute and 5 times an hour per contact and per number.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.case_lookups import CLIENT_LOOKUP_LIMIT
from bot.channels.sms import NAME as SMS
from bot.channels.sms import VERIFICATION_KEY, e164
from bot.logging import get_logger
from bot.messages import Address, Reply
from bot.storage import contacts, kv, lookup_limits, outbox, sms_receipts
from bot.storage.lookup_limits import Limit, client_key

log = get_logger(__name__)

CODE_TTL = timedelta(minutes=5)
CODE_TRIES = 5  # wrong tries before a code is void
RESEND_GAP = timedelta(seconds=60)
SEND_LIMIT = Limit(failures=5, window=timedelta(hours=1), lock=timedelta(hours=1))
WRONG_LIMIT = Limit(failures=5, window=timedelta(hours=1), lock=timedelta(hours=1))
SENT, CONFIRMED = "sent", "confirmed"
BAD_NUMBER, TOO_SOON, LOCKED = "bad_number", "too_soon", "locked"
WRONG, EXPIRED = "wrong", "expired"
OUTCOMES = (SENT, CONFIRMED, BAD_NUMBER, TOO_SOON, LOCKED, WRONG, EXPIRED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a request or a confirmation came to, and the number concerned (masked)."""

    outcome: str
    phone: str = ""  # 138****8000
    until: datetime | None = None  # a lock's end


def _key(contact_id: int) -> str:
    return f"smscode:{contact_id}"


def national(phone: str) -> str:
    """A mainland mobile as cases store it (11 digits), "" when it is not one."""
    number = e164(phone)
    return number[3:] if number else ""


def masked(phone: str) -> str:
    """138****8000."""
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "****"


class PhoneConfirmation:
    """Sends and checks the codes (every method runs in the caller's transaction)."""

    def __init__(self, secret: str, *, enabled: bool) -> None:
        self.secret = secret
        self.enabled = enabled  # SMS is configured

    def _digest(self, contact_id: int, phone: str, code: str) -> str:
        message = f"{contact_id}:{phone}:{code}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()

    async def pending(self, conn: AsyncConnection, contact_id: int, now: datetime) -> str:
        """The masked number a live code was sent to ("" when none)."""
        entry = await kv.get(conn, _key(contact_id))
        if entry is None or entry.expires_at is None or entry.expires_at <= now:
            return ""
        return masked(str((entry.value or {}).get("phone", "")))

    async def request(
        self, conn: AsyncConnection, contact_id: int, typed: str, now: datetime, client: str
    ) -> Outcome:
        """Send a new code to ``typed`` (a mainland mobile)."""
        phone = national(typed)
        if not phone:
            return Outcome(BAD_NUMBER)
        keys = [("smssend", str(contact_id)), ("smsphone", client_key(phone))]
        until = await lookup_limits.locked_until(conn, keys, now)
        if until is not None:
            return Outcome(LOCKED, masked(phone), until)
        earlier = await kv.get(conn, _key(contact_id))
        if earlier is not None and earlier.expires_at is not None and earlier.expires_at > now:
            sent_at = datetime.fromisoformat(str(earlier.value.get("sent_at")))
            if now - sent_at < RESEND_GAP:
                return Outcome(TOO_SOON, masked(phone), sent_at + RESEND_GAP)
        for scope, key in keys:  # every send counts towards the hourly limits
            await lookup_limits.record_failure(conn, scope, key, now, SEND_LIMIT)
        code = f"{secrets.randbelow(1_000_000):06d}"
        entry = {
            "phone": phone,
            "digest": self._digest(contact_id, phone, code),
            "tries": 0,
            "sent_at": now.isoformat(),
        }
        await kv.put(conn, _key(contact_id), entry, now, expires_at=now + CODE_TTL)
        sms = await contacts.get_or_create(conn, Address(SMS, "+86" + phone), now)
        await outbox.enqueue(
            conn,
            contact_id=sms.id,
            address=sms.address,
            reply=Reply("验证码短信"),  # what staff see; the SMS is the approved template
            now=now,
            kind="reply",
            template={"key": VERIFICATION_KEY, "code": code},
        )
        log.info("citizen_phone.code_sent", contact_id=contact_id)
        return Outcome(SENT, masked(phone))

    async def confirm(
        self, conn: AsyncConnection, contact_id: int, typed: str, now: datetime, client: str
    ) -> Outcome:
        """Check a code; the right one confirms its number on the contact."""
        entry = await kv.get(conn, _key(contact_id), lock=True)
        live = entry is not None and entry.expires_at is not None and entry.expires_at > now
        if entry is None or not live:
            return Outcome(EXPIRED)
        data = dict(entry.value)
        phone = str(data["phone"])
        keys = [
            ("smscode", str(contact_id)),
            ("smsverif", client_key(phone)),
            ("client", client_key(client)),
        ]
        until = await lookup_limits.locked_until(conn, keys, now)
        if until is not None:
            return Outcome(LOCKED, masked(phone), until)
        code = "".join(ch for ch in typed if ch.isdigit())
        expected = str(data["digest"])
        if len(code) == 6 and hmac.compare_digest(self._digest(contact_id, phone, code), expected):
            await sms_receipts.set_verified_phone(conn, contact_id, phone, now)
            await kv.put(conn, _key(contact_id), None, now, expires_at=now)
            await lookup_limits.clear(conn, "smscode", str(contact_id))
            log.info("citizen_phone.confirmed", contact_id=contact_id)
            return Outcome(CONFIRMED, masked(phone))
        locks = [
            await lookup_limits.record_failure(conn, "smscode", str(contact_id), now, WRONG_LIMIT),
            await lookup_limits.record_failure(conn, "smsverif", keys[1][1], now, WRONG_LIMIT),
            await lookup_limits.record_failure(
                conn, "client", keys[2][1], now, CLIENT_LOOKUP_LIMIT
            ),
        ]
        data["tries"] = int(data["tries"]) + 1
        void = data["tries"] >= CODE_TRIES
        await kv.put(
            conn, _key(contact_id), data, now, expires_at=now if void else entry.expires_at
        )
        log.info("citizen_phone.wrong_code", contact_id=contact_id, tries=data["tries"])
        until = max((u for u in locks if u is not None), default=None)
        if until is not None:
            return Outcome(LOCKED, masked(phone), until)
        return Outcome(EXPIRED if void else WRONG, masked(phone))
