"""Customer-facing pages without sign-in: unsubscribe (with RFC 8058 one-click), double opt-in
confirmation, and the open and click tracking links."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
