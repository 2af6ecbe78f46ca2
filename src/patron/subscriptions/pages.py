"""The staff pages of subscriptions: the list, one subscription, the reports."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from patron.web.i18n import N_
from patron.web.rendering import NavItem, SectionSource

TEMPLATES = Path(__file__).parent / "templates"
READ = "subscriptions:read"
WRITE = "subscriptions:write"
NAV = (NavItem(N_("Subscriptions"), "/subscriptions", READ, order=50),)
SECTIONS: tuple[SectionSource, ...] = ()
router = APIRouter(include_in_schema=False)
