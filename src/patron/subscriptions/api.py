"""The JSON API of subscriptions: create and change them, due deliveries, reports."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["subscriptions"])
