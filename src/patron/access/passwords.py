"""Password policy and hashing: argon2id (via pwdlib), the current best practice for passwords.

Hashes are self-describing (``$argon2id$v=19$m=…``), so stronger parameters later only need
``verify`` to hand back a new hash on the next sign-in.
"""

from __future__ import annotations

import secrets
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from patron.errors import PatronError

MIN_LENGTH = 12
# Long enough for any passphrase or generated password; bounds the work one request can cause.
MAX_LENGTH = 1024

_hasher = PasswordHash((Argon2Hasher(),))


def check_policy(password: str) -> None:
    """Refuse a password that is too short (or absurdly long), saying what is needed."""
    if len(password) < MIN_LENGTH:
        raise PatronError(
            f"a password needs at least {MIN_LENGTH} characters (this one has {len(password)}); "
            "a few unrelated words make a good one",
            code="users.weak_password",
            details={"min_length": MIN_LENGTH},
        )
    if len(password) > MAX_LENGTH:
        raise PatronError(
            f"a password may have at most {MAX_LENGTH} characters",
            code="users.weak_password",
            details={"max_length": MAX_LENGTH},
        )
    if not password.strip():
        raise PatronError(
            "a password cannot be only spaces", code="users.weak_password", details=None
        )


def hash_password(password: str) -> str:
    """The argon2id hash of a password that meets the policy."""
    check_policy(password)
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Whether the password matches, and a fresh hash when the stored one has old parameters."""
    if len(password) > MAX_LENGTH:
        return False, None
    return _hasher.verify_and_update(password, password_hash)


def spend_like_a_verify(password: str) -> None:
    """Do the work of one verification, so an unknown e-mail answers as slowly as a known one."""
    _hasher.verify(password[:MAX_LENGTH], _dummy_hash())


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
