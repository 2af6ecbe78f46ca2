"""Staff write and change message templates; a template that cannot render is refused.

Every language of a new or changed template is rendered once with a sample customer, so a
typo (``{{ custmer.name }}``) or a forbidden operation is reported with its line when it is
saved — not as ten thousand failed messages later.

Variables are checked by name first. A marketing template gets only what Patron gives (the
customer, loyalty, recommendations, a voucher, an occasion's variables such as ``order``), so
any other name is refused. A transactional template may also use the variables a shop sends with a
transactional message (``tracking_url``), so there only a name that looks like a misspelt known
one (``custmer``) is refused.
"""

from __future__ import annotations

from datetime import datetime
from difflib import get_close_matches
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.engage import context, journeys
from patron.engage.models import MessageTemplate
from patron.engage.rendering import LANGUAGES, Template, TemplateProblem, render
from patron.engage.schemas import TemplateIn, TemplatePublic
from patron.errors import Conflict, NotFound

# A sample customer's variables, with exactly the keys real messages get (``context``: ``shop``
# from ``_people``, each ``recommended`` item from ``_add_recommended``), so a template is
# refused on save for a key real messages lack, and accepted for every key they have.
SAMPLE: dict[str, Any] = {
    "customer": {
        "id": 1,
        "name": "Anna Berg",
        "first_name": "Anna",
        "email": "anna@example.org",
        "language": "de",
    },
    "salutation": "Hallo Anna",
    "shop": {"name": "Shop", "url": "https://shop.example", "currency": "EUR"},
    "unsubscribe_url": "https://shop.example/u/sample",
    "tier": "Gold",
    "points": 1200,
    "expiring_points": 150,
    "expiring_on": "2027-01-31",
    "recommended": [
        {
            "name": "Espresso beans",
            "sku": "ESP-1",
            "category": "Coffee",
            "price": "12,90 €",
            "partner_name": "Rösterei Nord",
        }
    ],
    "voucher": {"code": "ABCD-EFGH-JKLM", "value": "10.00", "valid_until": "2027-01-31"},
    "campaign": "Sample",
}


class _Anything:
    """Stands in for an occasion's variables (``order.number``) when a template is checked."""

    def __getattr__(self, name: str) -> _Anything:
        return self

    def __getitem__(self, key: object) -> _Anything:
        return self

    def __iter__(self) -> Any:
        return iter(())

    def __str__(self) -> str:
        return "…"

    def __html__(self) -> str:  # what autoescaping asks of it in an HTML body
        return "…"


# What Patron itself gives a template: the sample's variables, every journey's occasion
# variables, and an event invitation's.
KNOWN = frozenset(SAMPLE) | {name for e in journeys.EXAMPLES.values() for name in e} | {"event"}


def save(
    session: Session, request: TemplateIn, *, now: datetime, create: bool = False
) -> TemplatePublic:
    """Change the template with this key, or create it; checked first, then committed.

    With ``create`` an existing key is refused (``template.exists``) rather than changed.
    """
    template = Template(request.key, request.subjects, request.bodies)
    _check(template, request)
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == request.key))
    if row is not None and create:
        raise Conflict(f"a template {request.key!r} exists", code="template.exists")
    if row is None:
        row = MessageTemplate(key=request.key, shipped=False, created_at=now)
        session.add(row)
    row.name = request.name
    row.purpose = request.purpose.value
    row.subjects = dict(request.subjects)
    row.bodies = dict(request.bodies)
    row.updated_at = now
    session.commit()
    return public(row)


def _check(template: Template, request: TemplateIn) -> None:
    unknown = sorted((set(request.subjects) | set(request.bodies)) - set(LANGUAGES))
    if unknown:
        raise TemplateProblem(
            f"unknown language {unknown[0]!r}; templates are written in {', '.join(LANGUAGES)}",
            details={"field": "subjects", "language": unknown[0]},
        )
    lonely = sorted(set(request.subjects) ^ set(request.bodies))
    if lonely:
        raise TemplateProblem(
            f"language {lonely[0]!r} has a subject or a body but not both",
            details={"field": "bodies", "language": lonely[0]},
        )
    if not template.languages:
        raise TemplateProblem("a template needs a subject and a body in at least one language")
    for language in template.languages:
        _check_names(template, language, marketing=request.purpose.value == "marketing")
        # occasion variables (an order, a product) and a shop's own: stand-ins that render "…"
        sample = SAMPLE | {n: _Anything() for n in context.needs(template) if n not in SAMPLE}
        render(template, sample, language=language)


def _check_names(template: Template, language: str, *, marketing: bool) -> None:
    parts = {
        ("subjects", "subject"): Template(
            template.key, {language: template.subjects[language]}, {}
        ),
        ("bodies", "body"): Template(template.key, {}, {language: template.bodies[language]}),
    }
    for (part, word), alone in parts.items():
        for name in sorted(context.needs(alone) - KNOWN):
            close = get_close_matches(name, KNOWN, n=1, cutoff=0.75)
            if not marketing and not close:
                continue  # a variable the shop sends with its transactional messages
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TemplateProblem(
                f"{word} in {language}: unknown variable {name!r}{hint}. A template can use"
                f" {', '.join(sorted(KNOWN))}.",
                details={"field": part, "language": language, "variable": name},
            )


def listed(session: Session) -> list[TemplatePublic]:
    rows = session.scalars(select(MessageTemplate).order_by(MessageTemplate.key))
    return [public(row) for row in rows]


def one(session: Session, key: str) -> TemplatePublic:
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == key))
    if row is None:
        raise NotFound(f"no template {key!r}", code="template.not_found")
    return public(row)


def public(row: MessageTemplate) -> TemplatePublic:
    template = Template(row.key, row.subjects, row.bodies)
    return TemplatePublic(
        id=row.id,
        key=row.key,
        name=row.name,
        purpose=row.purpose,
        languages=list(template.languages),
        subjects=row.subjects,
        bodies=row.bodies,
        shipped=row.shipped,
        variables=sorted(context.needs(template)),
        updated_at=row.updated_at,
    )
