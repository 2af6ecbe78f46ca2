"""The customer portal: the customers' own site under ``/portal``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/portal", include_in_schema=False)
