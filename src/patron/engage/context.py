"""Personal variables for templates, built for a whole audience at once.

``contexts`` gives each customer the variables a template may use: ``customer`` (id, name,
first_name, email, language), ``salutation``, ``shop`` (name, url, currency), and for marketing
``unsubscribe_url``; and only when the template uses them, ``tier``, ``points``,
``expiring_points`` and ``expiring_on`` (the loyalty programme), ``recommended`` (the
"recommended for you" block), ``voucher`` (issued on demand), ``event`` (an invitation's
details) and ``offer`` (a subscription offer's). The cheap ones cost a query per 5,000
customers; the loyalty figures one more (``loyalty.reading.summaries``), so a newsletter to
100,000 customers is personalised in a few queries. Recommendations and vouchers are per
customer (tens of milliseconds each) and meant for journeys' small daily audiences.

Values are written the customer's way: dates as "15. März 2026" / "15 March 2026" /
"15. mars 2026", money with its currency; points stay integers so templates can compare them.
``localise`` does the same for an occasion's variables (``triggers.Occasion.context``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from html import escape
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.customers.models import Customer
from patron.engage import audience, links
from patron.engage.rendering import LANGUAGES, Template, TemplateProblem, pick_language
from patron.errors import PatronError
from patron.loyalty import reading as loyalty_reading
from patron.loyalty import service as loyalty
from patron.recommend import service as recommend

CHUNK = 5_000  # customer ids per query
LOYALTY = frozenset({"tier", "points", "expiring_points", "expiring_on"})
EXPIRING_WITHIN = timedelta(days=30)
LOCALES = {"de": "de_DE", "en": "en_GB", "nb": "nb_NO"}
# (with a first name, without one): a neutral greeting that suits a shop's customers
SALUTATIONS = {
    "de": ("Hallo {name}", "Guten Tag"),
    "en": ("Hi {name}", "Hello"),
    "nb": ("Hei {name}", "Hei"),
}
FOOTERS = {
    "de": (
        "Sie erhalten diese E-Mail, weil Sie Neuigkeiten von {shop} erhalten möchten. "
        'Wenn Sie keine mehr wünschen, können Sie sich hier <a href="{url}">abmelden</a>.'
    ),
    "en": (
        "You are receiving this e-mail because you signed up for news from {shop}. "
        'If you would rather not hear from us, you can <a href="{url}">unsubscribe here</a>.'
    ),
    "nb": (
        "Du får denne e-posten fordi du har sagt ja til nyheter fra {shop}. "
        'Vil du ikke ha flere, kan du <a href="{url}">melde deg av her</a>.'
    ),
}
# Words before a first name that are not one: titles and forms of address.
TITLES = frozenset(
    {
        "dr",
        "prof",
        "herr",
        "frau",
        "hr",
        "fr",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "fru",
        "dipl",
        "ing",
    }
)


class NoVoucher(PatronError):
    """A template shows a voucher, but the campaign gave nothing to issue it under."""

    code = "engage.no_voucher"
    status = 422


# --- what a template uses ----------------------------------------------------------------------


def needs(template: Template) -> frozenset[str]:
    """The top-level variables ``template`` uses in any language (``customer``, ``voucher``,
    ``order`` …): what ``contexts`` has to build for it."""
    sources = (*template.subjects.values(), *template.bodies.values())
    try:
        return _variables(tuple(sources))
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            f"Template {template.key!r} line {error.lineno}: {error.message or error}",
            details={"template": template.key, "line": error.lineno},
        ) from None


@lru_cache(maxsize=256)
def _variables(sources: tuple[str, ...]) -> frozenset[str]:
    environment = SandboxedEnvironment()
    found: set[str] = set()
    for source in sources:
        found |= meta.find_undeclared_variables(environment.parse(source))
    return frozenset(found)


# --- the contexts ------------------------------------------------------------------------------


def contexts(
    session: Session,
    customer_ids: Sequence[int],
    *,
    needs: frozenset[str],
    settings: Settings,
    now: datetime,
    channel: str,
    purpose: str,
    references: Mapping[int, str] | None = None,
    campaign_settings: Mapping[str, Any] | None = None,
    languages: Sequence[str] = LANGUAGES,
) -> dict[int, dict[str, Any]]:
    """The variables of each customer in ``customer_ids`` (unknown ids are left out).

    ``languages`` are the template's: each customer's variables are written in the language
    the message will be in. A ``voucher`` is issued (uncommitted, in the caller's transaction)
    for each customer under ``references[customer_id]`` — the same reference gives the same
    voucher — worth ``campaign_settings["voucher_value"]`` for ``valid_days`` days; without a
    ``voucher_value`` the variable is None (the template's ``{% if voucher %}`` leaves it out).
    """
    ids = sorted(set(customer_ids))
    extra = campaign_settings or {}
    found = _people(
        session, ids, settings=settings, channel=channel, purpose=purpose, languages=languages
    )
    if needs & LOYALTY:
        _add_loyalty(session, found, now=now, programme=extra.get("programme"))
    if "recommended" in needs:
        _add_recommended(session, found, now=now)
    if "voucher" in needs:
        _add_vouchers(session, found, now=now, references=references, settings=extra)
    if "event" in needs:
        event = invitation(extra)
        for customer_id, values in found.items():
            values["event"] = localise(
                event, language=_language(values), currency=settings.currency
            )
            if extra.get("event_key"):  # care's events: each guest's own answer page
                values["event"]["rsvp_url"] = links.rsvp_url(
                    settings.public_url, settings.secret_key, str(extra["event_key"]), customer_id
                )
    if "offer" in needs:  # a subscription offer (patron.subscriptions.offers)
        for values in found.values():
            values["offer"] = offer(extra, _language(values))
    return found


def _people(
    session: Session,
    ids: Sequence[int],
    *,
    settings: Settings,
    channel: str,
    purpose: str,
    languages: Sequence[str],
) -> dict[int, dict[str, Any]]:
    """Who each customer is, in the language their message will be in, and for marketing the
    link that unsubscribes them."""
    shop = {"name": settings.shop_name, "url": settings.public_url, "currency": settings.currency}
    marketing = purpose == "marketing"
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(
                Customer.id, Customer.kind, Customer.name, Customer.email, Customer.language
            ).where(audience.ids_among(session, Customer.id, ids[start : start + CHUNK]))
        )
        for customer_id, kind, name, email, wanted in rows:
            first = first_name(name) if kind == "person" else None
            language = pick_language(wanted, languages, default=settings.language)
            values: dict[str, Any] = {
                "customer": {
                    "id": customer_id,
                    "name": name,
                    "first_name": first,
                    "email": email,
                    "language": language,
                },
                "salutation": salutation(language, first),
                "shop": dict(shop),
            }
            if marketing:
                values["unsubscribe_url"] = links.unsubscribe_url(
                    settings.public_url, settings.secret_key, customer_id, channel
                )
            found[customer_id] = values
    return found


def _language(values: Mapping[str, Any]) -> str:
    language: str = values["customer"]["language"]
    return language


def _add_loyalty(
    session: Session, found: dict[int, dict[str, Any]], *, now: datetime, programme: str | None
) -> None:
    members = loyalty_reading.summaries(
        session, list(found), now=now, within=EXPIRING_WITHIN, programme_code=programme
    )
    for customer_id, values in found.items():
        member = members.get(customer_id)
        if member is None:
            values |= dict.fromkeys(LOYALTY)
            continue
        values["tier"] = member.tier_name
        values["points"] = max(member.available, 0)
        values["expiring_points"] = member.expiring_points
        values["expiring_on"] = (
            _date(member.expiring_on, _language(values)) if member.expiring_on else None
        )


def _add_recommended(session: Session, found: dict[int, dict[str, Any]], *, now: datetime) -> None:
    """Per customer: ``recommend.recommended_for_you`` costs some 10–70 ms each, so this is
    for journeys (a few hundred customers a day), not for a newsletter to everyone."""
    for customer_id, values in found.items():
        language, currency = _language(values), values["shop"]["currency"]
        values["recommended"] = [
            {
                "name": item.name or item.sku,
                "sku": item.sku,
                "category": item.category,
                "price": None
                if item.price is None
                else _money(Decimal(str(item.price)), currency, language),
                "partner_name": item.partner_name,
            }
            for item in recommend.recommended_for_you(session, customer_id=customer_id, now=now)
        ]


def _add_vouchers(
    session: Session,
    found: dict[int, dict[str, Any]],
    *,
    now: datetime,
    references: Mapping[int, str] | None,
    settings: Mapping[str, Any],
) -> None:
    value = settings.get("voucher_value")
    if value is None:
        for values in found.values():
            values["voucher"] = None
        return
    missing = [c for c in found if not references or c not in references]
    if missing:
        raise NoVoucher(
            f"the template shows a voucher, but customer {missing[0]} has no reference to "
            "issue it under (a campaign passes its message keys)",
            details={"customer_id": missing[0]},
        )
    assert references is not None
    for customer_id, values in found.items():
        issued = loyalty.issue_voucher(
            session,
            customer_id=customer_id,
            value=Decimal(str(value)),
            valid_days=int(settings.get("valid_days", 30)),
            reference=references[customer_id],
            now=now,
            programme_code=settings.get("programme"),
        )
        language = _language(values)
        values["voucher"] = {
            "code": issued.code,
            "value": _money(issued.value, issued.currency, language),
            "valid_until": _date(issued.valid_until.date(), language)
            if issued.valid_until
            else None,
        }


# --- words -------------------------------------------------------------------------------------


def first_name(name: str | None) -> str | None:
    """The first word of a person's name that is no title ("Dr. Anna Berg" → "Anna");
    "Berg, Anna" → "Anna". None when the name holds none."""
    if not name:
        return None
    if "," in name:
        family, _, given = name.partition(",")
        name = given if given.strip() else family
    for word in name.split():
        if word.rstrip(".").lower() in TITLES or word.endswith("."):
            continue
        return word
    return None


def salutation(language: str, first: str | None) -> str:
    """ "Hallo Anna" / "Hi Anna" / "Hei Anna"; without a first name (an organisation, a
    nameless record) the neutral "Guten Tag" / "Hello" / "Hei"."""
    named, plain = SALUTATIONS.get(language, SALUTATIONS["en"])
    return named.format(name=first) if first else plain


def footer(language: str, shop_name: str, unsubscribe_url: str) -> str:
    """The unsubscribe footer that a staff-written marketing template without one gets."""
    text = FOOTERS.get(language, FOOTERS["en"])
    sentence = text.format(shop=escape(shop_name), url=escape(unsubscribe_url, quote=True))
    return f'\n<p style="font-size:12px;color:#666666">{sentence}</p>\n'


def invitation(settings: Mapping[str, Any]) -> dict[str, Any]:
    """An event invitation's variables from its campaign's settings: ``event.name``,
    ``event.date`` (a date), ``event.place``, ``event.capacity``; with an ``event_key`` (an
    event of care's), ``contexts`` adds each guest's ``event.rsvp_url``."""
    day = settings.get("event_date")
    return {
        "name": settings.get("event_name") or "",
        "date": date.fromisoformat(day) if isinstance(day, str) and day else None,
        "place": settings.get("event_place") or "",
        "capacity": settings.get("capacity"),
    }


def offer(settings: Mapping[str, Any], language: str) -> dict[str, Any]:
    """A subscription offer's variables from its campaign's settings, which hold them written
    out per language: ``offer.product``, ``offer.interval`` ("every 4 weeks"),
    ``offer.discount`` ("10 %", or empty), ``offer.benefit`` and ``offer.url`` (or empty)."""

    def written(name: str) -> str:
        value = settings.get(name)
        if isinstance(value, Mapping):
            value = value.get(language) or value.get("en")
        return str(value) if value else ""

    return {
        name: written(f"offer_{name}")
        for name in ("product", "interval", "discount", "benefit", "url")
    }


def localise(values: Any, *, language: str, currency: str) -> Any:
    """``values`` with dates and datetimes written as long dates and ``Decimal`` amounts as
    money in ``language`` (lists and mappings walked through; everything else as it is)."""
    if isinstance(values, Mapping):
        return {k: localise(v, language=language, currency=currency) for k, v in values.items()}
    if isinstance(values, list | tuple):
        return [localise(v, language=language, currency=currency) for v in values]
    if isinstance(values, datetime):
        return _date(values.date(), language)
    if isinstance(values, date):
        return _date(values, language)
    if isinstance(values, Decimal):
        return _money(values, currency, language)
    return values


@lru_cache(maxsize=4096)
def _date(day: date, language: str) -> str:
    return str(format_date(day, "long", locale=LOCALES.get(language, "en_GB")))


@lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, language: str) -> str:
    return str(format_currency(amount, currency, locale=LOCALES.get(language, "en_GB")))
