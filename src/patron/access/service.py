"""Use cases of users and API keys: create, sign in (with throttling), verify a key, revoke, list.

Every write commits its own work: a failed sign-in must be recorded although it raises, so
pass a plain session (``sessions()``), not one inside ``session.begin()``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.access import passwords
from patron.access.models import LANGUAGES, ApiKey, SignInSession, User
from patron.access.permissions import check_role, check_scopes
from patron.access.schemas import ApiKeyPublic, ApiKeysPublic, UserPublic, UsersPublic
from patron.errors import Conflict, NotFound, PatronError, TooManyAttempts, Unauthenticated

MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
INVALID_CREDENTIALS = "wrong e-mail address or password"

TOKEN_PREFIX = "pk"
_PREFIX_BYTES = 4  # 8 hex characters: the key's public name in lists and its lookup index
_SECRET_BYTES = 32
_TOKEN = re.compile(r"pk_(?P<prefix>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# --- users -------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    name: str | None = None,
    language: str | None = None,
) -> UserPublic:
    """A new, active user; the e-mail address (case-insensitive) must not be taken yet."""
    address = _normal_email(email)
    user = User(
        email=address,
        name=(name or "").strip() or None,
        role=check_role(role),
        language=_check_language(language),
        password_hash=passwords.hash_password(password),
        active=True,
        failed_sign_ins=0,
    )
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise _email_taken(address)
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent create of the same address won the race
        session.rollback()
        raise _email_taken(address) from exc
    return UserPublic.model_validate(user)


def set_password(session: Session, *, email: str, password: str) -> UserPublic:
    """Replace a user's password; this also lifts a lock, as an administrator's reset should."""
    user = _user_by_email(session, email)
    user.password_hash = passwords.hash_password(password)
    user.failed_sign_ins = 0
    user.locked_until = None
    # A new password signs the user out everywhere: whoever knew the old one is out too.
    session.execute(delete(SignInSession).where(SignInSession.user_id == user.id))
    session.commit()
    return UserPublic.model_validate(user)


def set_language(session: Session, *, user_id: int, language: str | None) -> UserPublic:
    """The user's language for the web app; ``None`` follows the browser's Accept-Language."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with the id {user_id}", code="users.not_found")
    user.language = _check_language(language)
    session.commit()
    return UserPublic.model_validate(user)


def list_users(session: Session) -> UsersPublic:
    users = session.scalars(select(User).order_by(User.email)).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=len(users))


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> UserPublic:
    """The user whose e-mail address and password these are, or ``Unauthenticated``.

    An unknown address, an inactive user and a wrong password get the same message (and take
    as long), so the answer never tells which addresses exist. After ``MAX_FAILED_SIGN_INS``
    failures in a row the account is locked for ``LOCK_DURATION``: attempts then fail with
    ``auth.locked`` without looking at the password. A success resets the count.
    """
    address = email.strip().lower()
    # FOR UPDATE (PostgreSQL): concurrent attempts on one account count every failure.
    user = session.scalars(select(User).where(User.email == address).with_for_update()).first()
    if user is None or not user.active:
        passwords.spend_like_a_verify(password)
        session.rollback()
        raise _invalid_credentials()
    if user.locked_until is not None:
        if now < user.locked_until:
            session.rollback()
            raise TooManyAttempts(
                f"too many failed sign-ins: this account is locked until "
                f"{user.locked_until:%Y-%m-%d %H:%M} UTC; try again then, or ask an "
                "administrator to set a new password",
                code="auth.locked",
                details={"locked_until": user.locked_until.isoformat()},
            )
        user.locked_until = None  # the lock has run out: a fresh count of attempts
        user.failed_sign_ins = 0
    matches, new_hash = passwords.verify_password(password, user.password_hash)
    if not matches:
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= MAX_FAILED_SIGN_INS:
            user.locked_until = now + LOCK_DURATION
        session.commit()
        raise _invalid_credentials()
    if new_hash is not None:
        user.password_hash = new_hash
    user.failed_sign_ins = 0
    user.last_sign_in_at = now
    session.commit()
    return UserPublic.model_validate(user)


def _normal_email(email: str) -> str:
    address = email.strip().lower()
    if not _EMAIL.fullmatch(address) or len(address) > 254:
        raise PatronError(
            f"{email!r} is not an e-mail address", code="users.bad_email", details={"email": email}
        )
    return address


def _check_language(language: str | None) -> str | None:
    if language is None or language in LANGUAGES:
        return language
    raise PatronError(
        f"unknown language {language!r}; choose one of: {', '.join(LANGUAGES)}",
        code="users.unknown_language",
        details={"language": language, "allowed": list(LANGUAGES)},
    )


def _user_by_email(session: Session, email: str) -> User:
    address = email.strip().lower()
    user = session.scalars(select(User).where(User.email == address)).first()
    if user is None:
        raise NotFound(f"no user with the e-mail address {address!r}", code="users.not_found")
    return user


def _email_taken(address: str) -> Conflict:
    return Conflict(
        f"a user with the e-mail address {address!r} exists already",
        code="users.email_taken",
        details={"email": address},
    )


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated(INVALID_CREDENTIALS, code="auth.invalid_credentials")


# --- API keys ----------------------------------------------------------------------------


def create_api_key(session: Session, *, name: str, scopes: list[str]) -> tuple[ApiKeyPublic, str]:
    """A new key and its token ``pk_<prefix>_<secret>``: the token exists only in this answer."""
    label = name.strip()
    if not label or len(label) > 100:
        raise PatronError(
            "an API key needs a name of 1 to 100 characters (say who or what uses it)",
            code="apikeys.bad_name",
        )
    allowed = check_scopes(scopes)
    prefix = _unused_prefix(session)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    key = ApiKey(name=label, prefix=prefix, secret_hash=_hash_secret(secret), scopes=allowed)
    session.add(key)
    session.commit()
    return ApiKeyPublic.model_validate(key), f"{TOKEN_PREFIX}_{prefix}_{secret}"


# "Last used" is kept to the minute: a key that sends many requests writes once a minute.
LAST_USED_PRECISION = timedelta(minutes=1)


def verify_api_key(session: Session, *, token: str, now: datetime) -> set[str]:
    """The scopes of the live key this token belongs to; records its use.

    A malformed, unknown or revoked token raises ``auth.invalid_key``, all with one message.
    """
    found = _TOKEN.fullmatch(token.strip())
    key = None
    if found is not None:
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == found["prefix"])).first()
    if (
        found is None
        or key is None
        or key.revoked_at is not None
        or not hmac.compare_digest(key.secret_hash, _hash_secret(found["secret"]))
    ):
        session.rollback()
        raise Unauthenticated(
            "invalid API key: unknown, revoked or not of the form pk_<prefix>_<secret>",
            code="auth.invalid_key",
        )
    scopes = set(key.scopes)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        key.last_used_at = now
        session.commit()
    else:
        session.rollback()  # a busy key is not rewritten on every request
    return scopes


def api_key_prefix(token: str) -> str | None:
    """The public prefix of a token of the form ``pk_<prefix>_<secret>`` (None if malformed):
    the key's name in lists and audit trails, never its secret."""
    found = _TOKEN.fullmatch(token.strip())
    return found["prefix"] if found is not None else None


def revoke_api_key(session: Session, *, prefix: str, now: datetime) -> ApiKeyPublic:
    """Revoke a key for good; revoking it again changes nothing."""
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix.strip())).first()
    if key is None:
        raise NotFound(f"no API key with the prefix {prefix!r}", code="apikeys.not_found")
    if key.revoked_at is None:
        key.revoked_at = now
    session.commit()
    return ApiKeyPublic.model_validate(key)


def list_api_keys(session: Session) -> ApiKeysPublic:
    keys = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
    return ApiKeysPublic(data=[ApiKeyPublic.model_validate(k) for k in keys], count=len(keys))


def _hash_secret(secret: str) -> str:
    # A plain SHA-256 suffices here, unlike for passwords: the secret is 32 random bytes, so
    # there is nothing to guess and a slow or salted hash would only slow every API request.
    # Unkeyed, so changing PATRON_SECRET_KEY does not invalidate the keys integrators hold.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _unused_prefix(session: Session) -> str:
    """A random prefix no key has yet (the unique index is the last word on a race)."""
    while True:
        prefix = secrets.token_hex(_PREFIX_BYTES)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix
