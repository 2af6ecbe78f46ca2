"""Customer-facing pages without sign-in: unsubscribe (with RFC 8058 one-click), double opt-in
confirmation, and the open and click tracking links.

Nobody signs in here, so the signed token in the address is the whole credential: it names the
customer and channel (or message) and nobody can make one without the shop's secret. That is
also why the unsubscribe POST needs no CSRF token: a forged form cannot know the token, and a
mail provider's one-click POST (RFC 8058: body ``List-Unsubscribe=One-Click``, no cookies) must
work as it is. The pages speak the customer's language (de, en, nb, else the shop's). The staff
pages' Babel catalogues know English and German only, so these few texts live here, per language.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.config import Settings
from patron.db import utcnow
from patron.engage import consent, links
from patron.engage.rendering import LANGUAGES
from patron.errors import PatronError
from patron.web.deps import SessionDep, SettingsDep, public
from patron.web.rendering import render

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)

# A transparent 1×1 GIF: the smallest image every mail client shows without a broken icon.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x01D\x00;"
)
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}

TEXTS: Mapping[str, Mapping[str, str]] = {
    "de": {
        "unsubscribe": "Abmelden",
        "question": "{address} von den {channel}-Newslettern von {shop} abmelden?",
        "question_anonymous": "Von den {channel}-Newslettern von {shop} abmelden?",
        "button": "Abmelden",
        "again": "Sie können sich jederzeit wieder anmelden.",
        "done_title": "Sie sind abgemeldet",
        "done": "{shop} sendet Ihnen keine {channel}-Newsletter mehr.",
        "already": "Sie sind bereits von den {channel}-Newslettern von {shop} abgemeldet.",
        "orders": "Nachrichten zu Ihren Bestellungen erhalten Sie weiterhin.",
        "thanks": "Vielen Dank!",
        "confirmed": "Sie haben bestätigt: {shop} darf Ihnen {what} per {channel} senden.",
        "confirmed_before": "Sie hatten das bereits bestätigt. Sie müssen nichts weiter tun.",
        "expired_title": "Dieser Link ist abgelaufen",
        "expired": "Bitten Sie {shop} um eine neue Bestätigungs-E-Mail.",
        "bad_title": "Dieser Link funktioniert nicht",
        "bad": "Er wurde vielleicht gekürzt oder verändert. Bitte verwenden Sie den "
        "vollständigen Link aus der Nachricht.",
    },
    "en": {
        "unsubscribe": "Unsubscribe",
        "question": "Unsubscribe {address} from {shop}'s {channel} newsletters?",
        "question_anonymous": "Unsubscribe from {shop}'s {channel} newsletters?",
        "button": "Unsubscribe",
        "again": "You can subscribe again at any time.",
        "done_title": "You are unsubscribed",
        "done": "{shop} will send you no more {channel} newsletters.",
        "already": "You are already unsubscribed from {shop}'s {channel} newsletters.",
        "orders": "Messages about your orders still reach you.",
        "thanks": "Thank you!",
        "confirmed": "You confirmed that {shop} may send you {what} by {channel}.",
        "confirmed_before": "You had already confirmed this. There is nothing else to do.",
        "expired_title": "This link has expired",
        "expired": "Please ask {shop} for a new confirmation e-mail.",
        "bad_title": "This link does not work",
        "bad": "It may have been cut short or changed. Please use the complete link from the "
        "message.",
    },
    "nb": {
        "unsubscribe": "Meld av",
        "question": "Vil du melde {address} av nyhetsbrevene fra {shop} via {channel}?",
        "question_anonymous": "Vil du melde deg av nyhetsbrevene fra {shop} via {channel}?",
        "button": "Meld av",
        "again": "Du kan melde deg på igjen når som helst.",
        "done_title": "Du er meldt av",
        "done": "{shop} sender deg ikke flere nyhetsbrev via {channel}.",
        "already": "Du er allerede meldt av nyhetsbrevene fra {shop} via {channel}.",
        "orders": "Meldinger om bestillingene dine får du fortsatt.",
        "thanks": "Takk!",
        "confirmed": "Du har bekreftet at {shop} kan sende deg {what} via {channel}.",
        "confirmed_before": "Du hadde allerede bekreftet dette. Du trenger ikke gjøre noe mer.",
        "expired_title": "Denne lenken er utløpt",
        "expired": "Be {shop} om en ny bekreftelse på e-post.",
        "bad_title": "Denne lenken virker ikke",
        "bad": "Den kan være forkortet eller endret. Bruk hele lenken fra meldingen.",
    },
}


@router.get("/u/{token}", dependencies=[public()])
def unsubscribe_page(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """Ask before unsubscribing: a link opened by a mail scanner must not unsubscribe anyone."""
    try:
        target = consent.unsubscribe_target(session, token=token, settings=settings)
    except PatronError as error:
        return _problem(request, settings, error)
    return _unsubscribe_page(request, settings, target, "public/unsubscribe.html", token=token)


@router.post("/u/{token}", dependencies=[public()])
def unsubscribe_now(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """Unsubscribe at once: the page's button, and RFC 8058 one-click POSTs from mail providers
    (whatever the body: the signed token is what counts)."""
    try:
        done = consent.unsubscribe(session, token=token, settings=settings, now=utcnow())
    except PatronError as error:
        return _problem(request, settings, error)
    return _unsubscribe_page(request, settings, done, "public/unsubscribed.html")


@router.get("/optin/{token}", dependencies=[public()])
def confirm_opt_in(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The confirmation link of a double opt-in e-mail: confirms and thanks."""
    try:
        done = consent.confirm_opt_in(session, token=token, now=utcnow())
    except PatronError as error:
        return _problem(request, settings, error)
    language = consent.language_of(done.language, settings)
    words = _words(language, settings, channel=done.channel, what=done.purpose)
    return _page(
        request,
        "public/optin.html",
        language,
        settings,
        title=TEXTS[language]["thanks"],
        lines=[
            TEXTS[language]["confirmed"].format(**words),
            *([TEXTS[language]["confirmed_before"]] if done.already else []),
        ],
        already=done.already,
    )


@router.get("/t/o/{token}.gif", dependencies=[public()])
def opened(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """The open pixel: records the first open, answers a transparent GIF never to be cached
    (a cached image would hide every later open from the same client). An edited or foreign
    token records nothing but gets the GIF all the same: a mail client shows no broken image."""
    with suppress(links.BadLink):
        consent.record_open(session, token=token, settings=settings, now=utcnow())
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


@router.get("/t/c/{token}", dependencies=[public()])
def clicked(request: Request, token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """A tracked link: records the click and sends the reader on (http and https targets only)."""
    try:
        target = consent.record_click(session, token=token, settings=settings, now=utcnow())
    except PatronError as error:
        return _problem(request, settings, error)
    return RedirectResponse(target, status_code=303, headers=NO_CACHE)


# --- rendering ------------------------------------------------------------------------------


def _unsubscribe_page(
    request: Request,
    settings: Settings,
    target: consent.Unsubscribe,
    template: str,
    *,
    token: str | None = None,
) -> HTMLResponse:
    language = consent.language_of(target.language, settings)
    texts = TEXTS[language]
    words = _words(language, settings, channel=target.channel, address=target.address or "")
    if template.endswith("unsubscribed.html"):
        title = texts["done_title"]
        lines = [texts["already" if target.already else "done"].format(**words), texts["orders"]]
    elif target.already:
        title, lines = texts["unsubscribe"], [texts["already"].format(**words), texts["orders"]]
    else:
        question = texts["question" if target.address else "question_anonymous"]
        title, lines = texts["unsubscribe"], [question.format(**words), texts["again"]]
    return _page(
        request,
        template,
        language,
        settings,
        title=title,
        lines=lines,
        already=target.already,
        action=f"/u/{token}" if token else None,
        button=texts["button"],
    )


def _words(language: str, settings: Settings, **values: str) -> dict[str, str]:
    """The values of a page's sentences: the shop, and channel and purpose in the language."""
    words = {"shop": settings.shop_name} | values
    if "channel" in values:
        words["channel"] = consent.CHANNEL_WORDS[language].get(values["channel"], values["channel"])
    if "what" in values:
        words["what"] = consent.PURPOSE_WORDS[language].get(values["what"], values["what"])
    return words


def _problem(request: Request, settings: Settings, error: PatronError) -> HTMLResponse:
    """A customer's error page: what went wrong and what to do, in the browser's language."""
    language = browser_language(request.headers.get("accept-language"), settings.language)
    texts = TEXTS[language]
    expired = error.code == "consent.optin_expired"
    title = texts["expired_title" if expired else "bad_title"]
    line = texts["expired" if expired else "bad"].format(shop=settings.shop_name)
    return _page(
        request,
        "public/problem.html",
        language,
        settings,
        title=title,
        lines=[line],
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


def browser_language(accept_language: str | None, default: str) -> str:
    """The first of de, en, nb the browser accepts (``no``/``nn`` read as ``nb``), else
    ``default``: for pages whose link no longer tells whose they are."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().replace("_", "-").split("-")[0].lower()
        primary = "nb" if primary in ("no", "nn") else primary
        if primary in LANGUAGES and quality > 0:
            wanted.append((-quality, position, primary))
    return min(wanted)[2] if wanted else default
