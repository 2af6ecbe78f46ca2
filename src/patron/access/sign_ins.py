"""Sign-in sessions of the web app: start (rotating any earlier one), resume, end.

The browser holds a random token in an HTTP-only cookie; the store keeps only its SHA-256, so
a copy of the database signs no one in. Each session has its own CSRF secret for forms.
Like ``service``, every function commits its own work.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from patron.access.models import SignInSession, User
from patron.access.schemas import SignedIn, UserPublic

IDLE_TIMEOUT = timedelta(hours=8)
LIFETIME = timedelta(days=7)
# last_seen_at is written at most this often, so not every page view is a write.
TOUCH_EVERY = timedelta(minutes=5)
_TOKEN_BYTES = 32


def start(
    session: Session, *, user_id: int, now: datetime, replaces: str | None = None
) -> tuple[str, SignedIn]:
    """A new session for the user and its cookie token; the session ``replaces`` ends.

    Always a new token, never the one the browser brought: an attacker who planted a session
    cookie before sign-in does not share the signed-in session (session fixation).
    """
    if replaces:
        session.execute(delete(SignInSession).where(SignInSession.token_hash == _hash(replaces)))
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    row = SignInSession(
        token_hash=_hash(token),
        user_id=user_id,
        csrf_token=secrets.token_urlsafe(_TOKEN_BYTES),
        created_at=now,
        last_seen_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    session.commit()
    user = session.get_one(User, user_id)
    return token, SignedIn(user=UserPublic.model_validate(user), csrf_token=row.csrf_token)


def resume(session: Session, *, token: str, now: datetime) -> SignedIn | None:
    """The live session this token belongs to, or ``None`` (unknown, expired, user inactive)."""
    if not token or len(token) > 128:
        return None
    found = session.execute(
        select(SignInSession, User)
        .join(User, User.id == SignInSession.user_id)
        .where(SignInSession.token_hash == _hash(token))
    ).first()
    if found is None:
        session.rollback()
        return None
    row, user = found
    if not user.active or now >= row.expires_at or now - row.last_seen_at >= IDLE_TIMEOUT:
        session.delete(row)
        session.commit()
        return None
    signed_in = SignedIn(user=UserPublic.model_validate(user), csrf_token=row.csrf_token)
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    else:
        session.rollback()
    return signed_in


def end(session: Session, *, token: str) -> None:
    """End the session of this token (sign-out); an unknown token changes nothing."""
    session.execute(delete(SignInSession).where(SignInSession.token_hash == _hash(token)))
    session.commit()


def end_all(session: Session, *, user_id: int) -> int:
    """End every session of a user (after a new password); how many there were."""
    result = session.execute(delete(SignInSession).where(SignInSession.user_id == user_id))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
