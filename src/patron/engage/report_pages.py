"""The report pages of engagement: a campaign's uplift, imported experiments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
