"""The templates Patron ships (``engage/library/*.yaml``), put into a shop's store, and read back.

Each file is one template: ``name``, ``purpose``, and ``subjects`` and ``bodies`` in German,
English and Norwegian Bokmål. ``install`` adds those a store lacks and never touches one that
is there, so a shop's edits survive every upgrade; ``template`` reads what the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.engage.models import PURPOSES, MessageTemplate
from patron.engage.rendering import LANGUAGES, Template, TemplateProblem
from patron.errors import NotFound

LIBRARY = Path(__file__).with_name("library")


@dataclass(frozen=True)
class ShippedTemplate:
    name: str
    purpose: str
    template: Template

    @property
    def key(self) -> str:
        return self.template.key


def shipped() -> list[ShippedTemplate]:
    """Every shipped template, by key."""
    return list(_read_all())


@cache
def _read_all() -> tuple[ShippedTemplate, ...]:
    return tuple(_read(path) for path in sorted(LIBRARY.glob("*.yaml")))


def _read(path: Path) -> ShippedTemplate:
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    problem = _problem(document)
    if problem:
        raise TemplateProblem(f"shipped template {path.name}: {problem}")
    subjects = {language: document["subjects"][language] for language in LANGUAGES}
    bodies = {language: document["bodies"][language] for language in LANGUAGES}
    return ShippedTemplate(
        name=document["name"],
        purpose=document["purpose"],
        template=Template(path.stem, subjects, bodies),
    )


def _problem(document: Any) -> str | None:
    if not isinstance(document, dict):
        return "not a mapping"
    if not isinstance(document.get("name"), str):
        return "no name"
    if document.get("purpose") not in PURPOSES:
        return f"purpose must be one of {', '.join(PURPOSES)}"
    for part in ("subjects", "bodies"):
        texts = document.get(part)
        if not isinstance(texts, dict) or set(texts) != set(LANGUAGES):
            return f"{part} must have exactly {', '.join(LANGUAGES)}"
        if not all(isinstance(text, str) and text.strip() for text in texts.values()):
            return f"every one of its {part} must be a text"
    return None


def install(session: Session, *, now: datetime) -> int:
    """Add the shipped templates the store lacks (by key); how many were added. Nothing is
    committed, and a template already there — shipped or a shop's own — stays as it is."""
    rows = [
        {
            "key": item.key,
            "name": item.name,
            "purpose": item.purpose,
            "subjects": dict(item.template.subjects),
            "bodies": dict(item.template.bodies),
            "shipped": True,
            "created_at": now,
            "updated_at": now,
        }
        for item in shipped()
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(MessageTemplate)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[MessageTemplate.key])
        .returning(MessageTemplate.id)
    )
    return len(session.scalars(statement).all())


def ensure(session: Session, key: str, *, now: datetime) -> None:
    """Install the shipped templates if the store lacks template ``key`` (a store made before
    it shipped, whose ``patron db upgrade`` has not run since); nothing is committed."""
    if session.scalar(select(MessageTemplate.id).where(MessageTemplate.key == key)) is None:
        install(session, now=now)


def template(session: Session, key: str) -> Template:
    """The template ``key`` as the store holds it (with the shop's edits)."""
    row = session.execute(
        select(MessageTemplate.subjects, MessageTemplate.bodies).where(MessageTemplate.key == key)
    ).first()
    if row is None:
        raise NotFound(
            f"no template {key!r}; `patron campaign templates` lists them",
            code="template.not_found",
            details={"template": key},
        )
    return Template(key, dict(row.subjects), dict(row.bodies))
