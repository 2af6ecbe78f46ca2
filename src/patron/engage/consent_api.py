"""JSON routes of consent under ``/api/v1``: consent changes, double opt-in, the suppression list."""

from __future__ import annotations

from fastapi import APIRouter

from patron.web.deps import error_responses

router = APIRouter(prefix="/api/v1", tags=["consent"], responses=error_responses(401, 403))
