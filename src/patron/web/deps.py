"""Request-scoped dependencies, as ``Annotated`` aliases so that a route states what it needs.

The session factory and the settings come from ``app.state``, where ``create_app`` (the one
composition root) put them; nothing here builds an engine or reads the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from patron.config import Settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed (and any unfinished transaction rolled back) afterwards."""
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
