"""Personal messages from templates: Jinja2 in a sandbox, per language with fallback, and a
plain-text part made from the HTML.

A template is a subject and an HTML body per language. The customer's language is used when
the template has it, else the shop's default language, else English (``pick_language``).
Templates are written by shop staff, so they run in Jinja2's ``SandboxedEnvironment``: no
attribute of Python internals, no imports, no file access; a missing variable is an error at
preview time rather than an empty gap in ten thousand e-mails (``StrictUndefined``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from html import unescape
from html.parser import HTMLParser
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment

from patron.errors import PatronError

FALLBACK_LANGUAGE = "en"
LANGUAGES = ("de", "en", "nb")


class TemplateProblem(PatronError):
    code = "template.invalid"
    status = 422


@dataclass(frozen=True)
class Template:
    """Subject and HTML body per language code."""

    key: str
    subjects: Mapping[str, str]
    bodies: Mapping[str, str]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.subjects) & set(self.bodies)))


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    html: str
    text: str


def pick_language(
    wanted: str | None, available: Sequence[str], *, default: str = FALLBACK_LANGUAGE
) -> str:
    """The customer's language if the template has it (``de-AT`` → ``de``), else the shop's
    default, else English, else the first the template has."""
    candidates = []
    if wanted:
        candidates += [wanted.lower(), wanted.lower().split("-")[0].split("_")[0]]
    candidates += [default, FALLBACK_LANGUAGE]
    for language in candidates:
        if language in available:
            return language
    if not available:
        raise TemplateProblem("The template has no language at all.")
    return sorted(available)[0]


def render(
    template: Template,
    context: Mapping[str, Any],
    *,
    language: str | None,
    default_language: str = FALLBACK_LANGUAGE,
) -> Rendered:
    """The message for one customer. ``TemplateProblem`` names the template, language and
    line of a mistake (an unknown variable, a syntax error, a forbidden operation)."""
    chosen = pick_language(language, template.languages, default=default_language)
    try:
        subject = _compiled(template.subjects[chosen], html=False).render(context)
        html = _compiled(template.bodies[chosen], html=True).render(context)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f" line {line}" if line else ""
        raise TemplateProblem(
            f"Template {template.key!r} ({chosen}){where}: {error.message or error}",
            details={"template": template.key, "language": chosen, "line": line},
        ) from None
    subject = " ".join(subject.split())  # one line: a header cannot hold a line break
    return Rendered(chosen, subject, html, plain_text(html))


@lru_cache(maxsize=512)
def _compiled(source: str, *, html: bool) -> JinjaTemplate:
    """A template compiled once per process: compiling costs a thousand renders, and a
    campaign renders the same few sources for every customer."""
    return _environment(html=html).from_string(source)


@cache
def _environment(*, html: bool) -> SandboxedEnvironment:
    """The body escapes what it inserts (HTML); the subject is plain text and does not."""
    return SandboxedEnvironment(autoescape=html, undefined=StrictUndefined)


# -- the plain-text part ---------------------------------------------------------------------

BLOCKS = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "ul", "ol", "table", "section"}


class _Text(HTMLParser):
    """HTML to readable text: paragraphs as blank lines, list items with a dash, links with
    their address after the words, no scripts or styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str | None] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")
        if tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(self.skip - 1, 0)
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.parts.append(f" ({href})")
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def plain_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = unescape("".join(parser.parts))
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
