"""What the access area shows to the outside. No schema here carries a hash or a secret."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

# As in the knowledge store's schemas (a sibling area, so not imported): "+00:00", not "Z".
Instant = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


class _FromRows(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserPublic(_FromRows):
    id: int
    email: str
    name: str | None
    role: str
    language: str | None
    active: bool
    created_at: Instant
    last_sign_in_at: Instant | None
    locked_until: Instant | None


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class ApiKeyPublic(_FromRows):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: Instant
    last_used_at: Instant | None
    revoked_at: Instant | None


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class ApiKeyCreated(BaseModel):
    """The answer to creating a key: the key, and its token, shown this once and never again."""

    key: ApiKeyPublic
    token: str


class SignedIn(BaseModel):
    """A live sign-in session: who is signed in, and the secret their forms must carry."""

    user: UserPublic
    csrf_token: str
