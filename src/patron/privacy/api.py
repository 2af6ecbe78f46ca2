"""The JSON API of privacy: a person's data export, erasure requests and their decision."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["privacy"])
