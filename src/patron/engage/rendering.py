"""Personal messages from templates: Jinja2 in a sandbox, per language with fallback, and a
plain-text part made from the HTML (from the body's text version, made once per template).

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
        text = _text_part(template.bodies[chosen], html, context)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f" line {line}" if line else ""
        raise TemplateProblem(
            f"Template {template.key!r} ({chosen}){where}: {error.message or error}",
            details={"template": template.key, "language": chosen, "line": line},
        ) from None
    subject = " ".join(subject.split())  # one line: a header cannot hold a line break
    return Rendered(chosen, subject, html, text)


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


SKIPPED = {"script", "style", "head", "title"}
BREAK = "\ue000"  # a line break of the layout (a private-use character, not white space)
# a comment, a tag (its attributes may quote ">"), or text up to the next tag
_TOKEN = re.compile(
    r"<!--.*?(?:-->|$)|<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*)>|([^<]+|<)",
    re.DOTALL,
)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def plain_text(html: str) -> str:
    """HTML to readable text: paragraphs as blank lines, list items with a dash, links with
    their address after the words, no scripts or styles."""
    return _tidy(_walk(html))


def _text_part(source: str, html: str, context: Mapping[str, Any]) -> str:
    """The plain-text part of a message: its body's text template rendered, or else the
    rendered HTML made plain. The same text, but a campaign renders one template for a hundred
    thousand customers, and rendering the text template costs half as much as walking each
    message's HTML."""
    text = _text_template(source)
    return plain_text(html) if text is None else _tidy(text.render(context))


# a "<" inside {{ … }} or {% … %} could be read as a tag: such a body's text is made from its HTML
_LESS_IN_JINJA = re.compile(r"\{\{(?:(?!\}\}).)*<|\{%(?:(?!%\}).)*<", re.DOTALL)


@lru_cache(maxsize=512)
def _text_template(source: str) -> JinjaTemplate | None:
    """The body's plain-text version with its Jinja kept (``<a href="{{ url }}">here</a>``
    becomes ``here ({{ url }})``), compiled once; None when it cannot be made safely."""
    if _LESS_IN_JINJA.search(source):
        return None
    try:
        return _compiled(_walk(source), html=False)
    except TemplateError:
        return None


def _walk(html: str) -> str:
    """One regular expression walks the tags and the text between them (several times faster
    than ``HTMLParser``): the text with the layout's line breaks, not yet tidied."""
    parts: list[str] = []
    links: list[str | None] = []
    skip = 0
    for found in _TOKEN.finditer(html):
        closing, tag, attributes, data = found.groups()
        if data is not None:
            if not skip:
                parts.append(unescape(data) if "&" in data else data)
            continue
        if tag is None:
            continue  # a comment
        tag = tag.lower()
        if not closing:
            if tag in SKIPPED:
                skip += 1
            elif tag == "li":
                parts.append(BREAK + "- ")
            elif tag in BLOCKS:
                parts.append(BREAK * 2 if tag != "br" else BREAK)
            if tag == "a":
                href = _HREF.search(attributes or "")
                links.append(
                    unescape(next(g for g in href.groups() if g is not None)) if href else None
                )
        elif tag in SKIPPED:
            skip = max(skip - 1, 0)
        elif tag == "a" and links:
            address = links.pop()
            if address and not address.startswith(("#", "mailto:")):
                parts.append(f" ({address})")
        elif tag in BLOCKS:
            parts.append(BREAK * 2)
    return "".join(parts)


def _tidy(text: str) -> str:
    """White space as in HTML, one space, also in the values put in; then the layout's breaks."""
    lines = [line.strip() for line in _SPACE.sub(" ", text).split(BREAK)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
