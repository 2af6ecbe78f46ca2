"""Server-rendered pages: Jinja2 templates from the shell and every area, in the reader's language.

One Jinja2 environment per language, each with its Babel catalogue and locale formats
installed, so a render never swaps global state. An area keeps its templates in its own
``templates/`` folder, beside its ``pages.py``; ``create_app`` hands the folders in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from patron import __version__
from patron.access.permissions import allows
from patron.access.schemas import SignedIn
from patron.config import Settings
from patron.web import i18n

SHELL_TEMPLATES = Path(__file__).parent / "templates"
ROLE_NAMES = {
    "admin": i18n.N_("Administrator"),
    "marketer": i18n.N_("Marketer"),
    "account_manager": i18n.N_("Account manager"),
    "service_agent": i18n.N_("Service agent"),
    "analyst": i18n.N_("Analyst"),
}


@dataclass(frozen=True)
class NavItem:
    """An entry of the main navigation, shown to users whose role grants ``permission``."""

    label: str  # an English message id, translated when shown
    path: str
    permission: str
    order: int = 100
    # further paths whose pages belong to this entry (e.g. segments under campaigns)
    also: tuple[str, ...] = ()

    def covers(self, current: str) -> bool:
        """Whether the page at ``current`` belongs to this entry, so the entry is marked."""
        return any(
            current == path or current.startswith(path + "/") for path in (self.path, *self.also)
        )


@dataclass(frozen=True)
class Section:
    """A part of a page that another area fills in: ``template`` rendered with ``values`` in
    the place the page calls ``slot``."""

    slot: str
    template: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class SectionSource:
    """An area's contribution to another area's page, shown to roles granted ``permission``.

    The layers let a higher area use a lower one, never the reverse: the customer 360 (in
    ``customers``) cannot import the scores (in ``analytics``). So the higher area hands its
    part to the shell (``create_app``'s ``AREA_SECTIONS``), and the page asks the shell for the
    parts of ``page`` (``sections(request, page, session, subject)``) without knowing whose
    they are. ``build`` gets the page's subject (the customer's id) and may answer None.
    """

    page: str
    permission: str
    build: Callable[[Request, Session, int], Section | None]


class Pages:
    """Renders templates for a request: its language, its user, the navigation they may see."""

    def __init__(
        self,
        settings: Settings,
        folders: Iterable[Path],
        nav: Iterable[NavItem],
        sections: Iterable[SectionSource] = (),
    ) -> None:
        self.section_sources = tuple(sections)
        loader = ChoiceLoader([FileSystemLoader(str(p)) for p in (SHELL_TEMPLATES, *folders)])
        self.nav = sorted(nav, key=lambda item: (item.order, item.path))
        self.environments: dict[str, Environment] = {}
        for language in i18n.LANGUAGES:
            env = Environment(
                loader=loader,
                autoescape=select_autoescape(["html"]),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
            env.filters.update(i18n.Formats(language, settings.tz, settings.currency).filters())
            env.globals.update(
                version=__version__,
                languages=i18n.LANGUAGES,
                language_names=i18n.LANGUAGE_NAMES,
                role_names=ROLE_NAMES,
            )
            self.environments[language] = env

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        language = request_language(request)
        signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
        role = signed_in.user.role if signed_in else None
        values: dict[str, Any] = {
            "request": request,
            "language": language,
            "signed_in": signed_in,
            "user": signed_in.user if signed_in else None,
            "csrf_token": signed_in.csrf_token
            if signed_in
            else getattr(request.state, "anonymous_csrf", ""),
            "nav": [item for item in self.nav if role and allows(role, item.permission)],
            "can": lambda permission: bool(role and allows(role, permission)),
            "current_path": request.url.path,
        }
        values.update(context or {})
        html = self.environments[language].get_template(template).render(values)
        return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def sections(request: Request, page: str, session: Session, subject: int) -> dict[str, Section]:
    """The parts other areas contribute to ``page`` for ``subject``, by slot, as far as the
    signed-in user's role may see them."""
    pages: Pages = request.app.state.pages
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    role = signed_in.user.role if signed_in else None
    found: dict[str, Section] = {}
    for source in pages.section_sources:
        if source.page == page and role and allows(role, source.permission):
            section = source.build(request, session, subject)
            if section is not None:
                found[section.slot] = section
    return found


def request_language(request: Request) -> str:
    """The signed-in user's language, else the best match for the browser's Accept-Language."""
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    if signed_in is not None and signed_in.user.language in i18n.LANGUAGES:
        return signed_in.user.language
    return i18n.negotiate(request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` for ``request`` with the app's ``Pages`` (see ``create_app``)."""
    pages: Pages = request.app.state.pages
    return pages.render(request, template, context, status=status, headers=headers)


def is_partial(request: Request) -> bool:
    """Whether the page's script asked for a fragment only (search and paging update in place)."""
    return request.headers.get("x-patron-partial") == "1"


def page_numbers(page: int, pages: int, around: int = 2) -> Sequence[int | None]:
    """The page links to show: first, last and ``around`` each side of ``page``; None is a gap."""
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)} - {0})
    result: list[int | None] = []
    for number in shown:
        previous = result[-1] if result else None
        if previous is not None and number - previous > 1:
            result.append(None)
        result.append(number)
    return result
