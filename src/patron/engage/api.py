"""JSON routes of engagement under ``/api/v1``: segments, templates, campaigns, messages."""

from __future__ import annotations

from fastapi import APIRouter

from patron.web.deps import error_responses

router = APIRouter(prefix="/api/v1", tags=["engagement"], responses=error_responses(401, 403))
