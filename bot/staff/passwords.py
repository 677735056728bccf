"""Password hashing (Argon2id, argon2-cffi's defaults) and the password policy.

The policy follows NIST SP 800-63B §5.1.1.2 (length over composition rules, and a
blocklist): at least :data:`MIN_LENGTH` characters, not one of the 20 000 most common
passwords (``data/common-passwords.txt.gz``: Royce Williams' list of the most frequent
passwords in breach corpora, lower-cased, as Django's CommonPasswordValidator ships it),
also not with digits or symbols merely appended, and not containing the account's own
login, display name or phone.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256
_hasher = PasswordHasher()
# Verified against when the login is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not a password: equalises the timing of unknown logins")


COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
_MIN_OWN = 3  # shorter parts of a name are too common to refuse a password for
_TAIL = re.compile(r"[\W\d_]+$")
_SPLIT = re.compile(r"[\s._@-]+")


class WeakPassword(ValueError):
    """The password does not meet the policy; ``code`` says which rule (for translations)."""

    def __init__(self, message: str, code: str = "weak") -> None:
        super().__init__(message)
        self.code = code  # too_short | too_long | common | personal


@cache
def common_passwords() -> frozenset[str]:
    """The blocklist, lower-cased (read once)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def _own_words(values: Iterable[str]) -> set[str]:
    """An account's own data as the pieces a password might contain."""
    words: set[str] = set()
    for value in values:
        value = value.strip().casefold()
        if not value:
            continue
        words.add(value)
        words.update(_SPLIT.split(value))
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 7:  # a phone, however written
            words.add(digits)
    return {w for w in words if len(w) >= _MIN_OWN or (w and not w.isascii() and len(w) >= 2)}


def check_policy(password: str, login: str = "", *, personal: Iterable[str] = ()) -> None:
    """Raise WeakPassword unless the password is long enough, not a common one and not
    made of the account's own login or ``personal`` data (display name, phone)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters", "too_short")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters", "too_long")
    folded = password.casefold()
    common = common_passwords()
    squeezed = re.sub(r"\s+", "", folded)
    if {folded, squeezed, _TAIL.sub("", folded), _TAIL.sub("", squeezed)} & common:
        raise WeakPassword("this password is one of the most common ones", "common")
    bare = re.sub(r"\D", "", folded)
    for word in _own_words([login, *personal]):
        if word in folded or word in squeezed or (word.isdigit() and word in bare):
            raise WeakPassword("the password must not contain the login, name or phone", "personal")


def hash_password(password: str) -> str:
    """An Argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash (None: an unknown login, still costs a verify)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's defaults."""
    return _hasher.check_needs_rehash(stored_hash)
