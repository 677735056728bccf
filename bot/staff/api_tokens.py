"""API bearer tokens as values: their scopes, a refusal with its reason, what issuing one
returns and what a live one grants (issuing, checking and listing are in
:class:`bot.staff.accounts.StaffAccounts`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.staff.access import StaffMember

TOKEN_PREFIX = "xft_"


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """Who a live bearer token lets in, and how far."""

    member: StaffMember
    scope: str  # read | write
    token_id: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new API token: the secret (shown once) and what is kept about it."""

    token: str
    id: int
    scope: str
    expires_at: datetime | None


# read: every mutating API route answers 403 read_only_token; write: all the role may
TOKEN_SCOPES = ("read", "write")


class TokenRefused(Exception):
    """A bearer token that does not let anyone in; ``code`` says why (unknown, expired,
    revoked or its account disabled: all but expiry are told apart from nothing)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # invalid_token | token_expired
