"""The staff pages of privacy: erasure requests to approve or reject, a person's export."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from patron.web.i18n import N_
from patron.web.rendering import NavItem, SectionSource

TEMPLATES = Path(__file__).parent / "templates"
MANAGE = "privacy:manage"
NAV = (NavItem(N_("Privacy"), "/privacy", MANAGE, order=85),)
SECTIONS: tuple[SectionSource, ...] = ()
router = APIRouter(include_in_schema=False)
