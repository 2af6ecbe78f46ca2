"""The JSON API of subscription deliveries: the due list, export, fulfilment by an order."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["subscriptions"])
