"""Staff pages (to be written)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from patron.web.rendering import NavItem, SectionSource

TEMPLATES = Path(__file__).parent / "templates"
NAV: tuple[NavItem, ...] = ()
SECTIONS: tuple[SectionSource, ...] = ()
router = APIRouter(include_in_schema=False)
