"""The page on which a customer accepts or declines an invitation to an event (``/r/{token}``).

Nobody signs in: the signed link from the invitation e-mail (``links.rsvp_url``) names the
event and the guest, and nobody can make one without the shop's secret, so it is the whole
credential — which is also why the form needs no CSRF token (a forged form cannot know the
link). The link works until the event is over. The page speaks the guest's language (de, en,
nb, else the shop's); like engagement's public pages its few texts live here, per language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from babel.dates import format_datetime
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from patron.care.accounts import events
from patron.care.accounts.schemas import MAX_COMPANIONS
from patron.care.models import Event, EventGuest
from patron.config import Settings
from patron.db import utcnow
from patron.engage.public import NO_CACHE, browser_language
from patron.errors import PatronError
from patron.web.deps import SessionDep, SettingsDep, public
from patron.web.rendering import render

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)
LOCALES = {"de": "de_DE", "en": "en_GB", "nb": "nb_NO"}

TEXTS: Mapping[str, Mapping[str, str]] = {
    "de": {
        "title": "Ihre Einladung",
        "question": "Sind Sie dabei?",
        "accept": "Ja, ich komme",
        "decline": "Nein, leider nicht",
        "companions": "Begleitpersonen",
        "send": "Antwort senden",
        "change": "Antwort ändern",
        "accepted": "Schön, dass Sie kommen! Wir haben {people} Platz/Plätze für Sie reserviert.",
        "declined": "Schade, dass Sie nicht kommen können. Danke für Ihre Antwort.",
        "answered_yes": "Sie haben zugesagt ({people} Person(en)). Sie können Ihre Antwort ändern.",
        "answered_no": "Sie haben abgesagt. Sie können Ihre Antwort ändern.",
        "full": "Leider ist die Veranstaltung ausgebucht: noch {left} Platz/Plätze frei.",
        "invalid": "Bitte wählen Sie zwischen 0 und {most} Begleitpersonen.",
        "over_title": "Diese Veranstaltung ist vorbei",
        "over": "Die Einladung gilt nicht mehr. Wir freuen uns, Sie bald wiederzusehen.",
        "cancelled_title": "Diese Veranstaltung wurde abgesagt",
        "cancelled": "Es tut uns leid. {shop} meldet sich mit einem neuen Termin.",
        "bad_title": "Dieser Link funktioniert nicht",
        "bad": "Er wurde vielleicht gekürzt oder verändert. Bitte verwenden Sie den "
        "vollständigen Link aus der Einladung.",
    },
    "en": {
        "title": "Your invitation",
        "question": "Will you join us?",
        "accept": "Yes, I will come",
        "decline": "No, I cannot come",
        "companions": "Companions",
        "send": "Send my answer",
        "change": "Change my answer",
        "accepted": "We are glad you are coming! We have saved {people} place(s) for you.",
        "declined": "We are sorry you cannot come. Thank you for letting us know.",
        "answered_yes": "You accepted ({people} person(s)). You can change your answer.",
        "answered_no": "You declined. You can change your answer.",
        "full": "Sorry, the event is fully booked: {left} place(s) left.",
        "invalid": "Please choose between 0 and {most} companions.",
        "over_title": "This event is over",
        "over": "The invitation no longer applies. We hope to see you again soon.",
        "cancelled_title": "This event was cancelled",
        "cancelled": "We are sorry. {shop} will be in touch with a new date.",
        "bad_title": "This link does not work",
        "bad": "It may have been cut short or changed. Please use the complete link from the "
        "invitation.",
    },
    "nb": {
        "title": "Invitasjonen din",
        "question": "Blir du med?",
        "accept": "Ja, jeg kommer",
        "decline": "Nei, jeg kan dessverre ikke",
        "companions": "Følge",
        "send": "Send svaret",
        "change": "Endre svaret",
        "accepted": "Så hyggelig at du kommer! Vi har holdt av {people} plass(er) til deg.",
        "declined": "Synd at du ikke kan komme. Takk for svaret.",
        "answered_yes": "Du har takket ja ({people} person(er)). Du kan endre svaret.",
        "answered_no": "Du har takket nei. Du kan endre svaret.",
        "full": "Beklager, arrangementet er fullt: {left} plass(er) igjen.",
        "invalid": "Velg mellom 0 og {most} i følge.",
        "over_title": "Dette arrangementet er over",
        "over": "Invitasjonen gjelder ikke lenger. Vi håper å se deg igjen snart.",
        "cancelled_title": "Dette arrangementet er avlyst",
        "cancelled": "Vi beklager. {shop} tar kontakt med en ny dato.",
        "bad_title": "Denne lenken virker ikke",
        "bad": "Den kan være forkortet eller endret. Bruk hele lenken fra invitasjonen.",
    },
}


@router.get("/r/{token}", dependencies=[public()])
def rsvp_page(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The invitation with the guest's current answer and the form to give or change it."""
    try:
        event, guest, language = events.invitation(
            session, token=token, settings=settings, now=utcnow()
        )
    except PatronError as error:
        return _problem(request, settings, error)
    return _form(request, settings, event, guest, language, token=token)


@router.post("/r/{token}", dependencies=[public()])
def rsvp_answer(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    answer: Annotated[str, Form(max_length=16)] = "",
    companions: Annotated[str, Form(max_length=4)] = "0",
) -> HTMLResponse:
    """Accept (with companions) or decline; the page says what was recorded."""
    try:
        event, guest, language = events.invitation(
            session, token=token, settings=settings, now=utcnow()
        )
    except PatronError as error:
        return _problem(request, settings, error)
    texts = TEXTS[language]
    count = int(companions) if companions.strip().isdigit() else -1
    if answer not in ("accept", "decline") or (answer == "accept" and count < 0):
        message = texts["invalid"].format(most=MAX_COMPANIONS)
        return _form(request, settings, event, guest, language, token=token, error=message)
    try:
        done = events.respond(
            session,
            token=token,
            accept=answer == "accept",
            companions=max(count, 0),
            settings=settings,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        if error.code == "events.full":
            message = texts["full"].format(left=(error.details or {}).get("left", 0))
        elif error.code == "events.invalid":
            message = texts["invalid"].format(most=MAX_COMPANIONS)
        else:
            return _problem(request, settings, error)
        return _form(request, settings, event, guest, language, token=token, error=message)
    line = (
        texts["accepted"].format(people=1 + done.companions)
        if done.rsvp == "accepted"
        else texts["declined"]
    )
    return _page(
        request,
        "accounts/rsvp_done.html",
        language,
        settings,
        title=event.name,
        lines=[line],
        answer=done.rsvp,
        action=f"/r/{token}",
        change=texts["change"],
    )


def _form(
    request: Request,
    settings: Settings,
    event: Event,
    guest: EventGuest,
    language: str,
    *,
    token: str,
    error: str | None = None,
) -> HTMLResponse:
    texts = TEXTS[language]
    lines = [when(event.starts_at, language, settings)]
    if event.place:
        lines.append(event.place)
    if guest.rsvp == "accepted":
        state = texts["answered_yes"].format(people=1 + guest.guests)
    elif guest.rsvp == "declined":
        state = texts["answered_no"]
    else:
        state = None
    return _page(
        request,
        "accounts/rsvp.html",
        language,
        settings,
        title=event.name,
        lines=lines,
        description=event.description,
        state=state,
        error=error,
        texts=texts,
        rsvp=guest.rsvp,
        companions=guest.guests,
        most=MAX_COMPANIONS,
        action=f"/r/{token}",
        status=409 if error else 200,
    )


def when(moment: datetime, language: str, settings: Settings) -> str:
    """The event's start in the shop's time zone, written the guest's way."""
    return str(
        format_datetime(
            moment.astimezone(settings.tz), "full", tzinfo=settings.tz, locale=LOCALES[language]
        )
    )


def _problem(request: Request, settings: Settings, error: PatronError) -> HTMLResponse:
    """Over, cancelled or a bad link: what happened, in the browser's language."""
    language = browser_language(request.headers.get("accept-language"), settings.language)
    texts = TEXTS[language]
    kind = {
        "engage.expired_link": "over",
        "events.over": "over",
        "events.cancelled": "cancelled",
    }.get(error.code, "bad")
    return _page(
        request,
        "accounts/rsvp_problem.html",
        language,
        settings,
        title=texts[f"{kind}_title"],
        lines=[texts[kind].format(shop=settings.shop_name)],
        code=error.code,
        status=error.status if 400 <= error.status < 500 else 404,
    )


def _page(
    request: Request,
    template: str,
    language: str,
    settings: Settings,
    *,
    title: str,
    lines: list[str],
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    context = {"language": language, "shop": settings.shop_name, "title": title, "lines": lines}
    return render(request, template, context | values, status=status, headers=NO_CACHE)
