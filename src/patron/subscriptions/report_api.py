"""The JSON API of subscription reports and offers: MRR, churn, revenue share, CLV, offers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["subscriptions"])
