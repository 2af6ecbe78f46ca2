"""The loyalty tests' shop: the demo programme, a start instant, and purchases to book."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from patron.loyalty.programme import ProgrammeSpec, read_spec
from patron.loyalty.schemas import PurchaseIn, PurchaseLineIn

DEMO_PROGRAMME = Path(__file__).resolve().parents[2] / "src" / "patron" / "demo" / "programme.yaml"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, outside the Advent promotion


def demo_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DEMO_PROGRAMME.read_text())["programme"]
    return document


def spec_with(**changes: Any) -> ProgrammeSpec:
    """The demo programme with top-level sections replaced (e.g. ``lots={...}``)."""
    return read_spec(demo_document() | changes)


def purchase(
    customer: str, order: str, *amounts: str, category: str = "Pasta & Rice", **extra: Any
) -> PurchaseIn:
    lines = [PurchaseLineIn(amount=Decimal(a), category=category) for a in amounts]
    return PurchaseIn(customer=customer, order=order, currency="EUR", lines=lines, **extra)
