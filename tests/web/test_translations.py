"""The German catalogue covers every text of the pages, and languages are chosen as promised."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from patron.web import i18n

SOURCE = Path(i18n.__file__).resolve().parents[1]  # src/patron
CATALOG = i18n.LOCALES_DIR / "de" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _texts_in_the_code() -> set[str]:
    method_map = [
        ("**.py", "python"),
        ("**/templates/**.html", "jinja2"),
    ]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str] = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
        str(SOURCE), method_map, options, keywords=keywords
    ):
        # A plural entry is found by its singular text; its plural is checked with it below.
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_text_has_a_german_translation_with_the_same_placeholders() -> None:
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="de")
    texts = _texts_in_the_code()
    assert len(texts) > 50  # the extraction itself works
    missing, fuzzy, broken = [], [], []
    for text in sorted(texts):
        entry = catalog.get(text)
        if entry is None or not entry.string:
            missing.append(text)
            continue
        if entry.fuzzy:
            fuzzy.append(text)
        english = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(forms):
            missing.append(text)
        wanted = set().union(*(PLACEHOLDER.findall(form) for form in english))
        found_in = [set(PLACEHOLDER.findall(form)) for form in forms]
        if set().union(*found_in) != wanted or any(not f <= wanted for f in found_in):
            broken.append(text)
    assert missing == [], "run `make messages` and translate:\n" + "\n".join(missing)
    assert fuzzy == []
    assert broken == [], "placeholders differ from the English text"


def test_german_pages_say_german_words() -> None:
    german = i18n.translations("de")
    assert german.gettext("Customers") == "Kunden"
    assert german.gettext("Sign in") == "Anmelden"
    assert i18n.translations("en").gettext("Customers") == "Customers"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("de", "de"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("de-AT", "de"),
        ("en-GB,de;q=0.5", "en"),
        ("fr-FR,de;q=0.7,en;q=0.3", "de"),
        ("fr, it", "en"),
        ("en;q=0.2, de;q=0.9", "de"),
        ("de;q=0, en", "en"),
        ("de;q=abc, en;q=0.1", "en"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_numbers_money_and_dates_follow_the_locale() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    de = i18n.Formats("de", berlin, "EUR")
    en = i18n.Formats("en", berlin, "EUR")
    assert de.number(1234567) == "1.234.567"
    assert en.number(1234567) == "1,234,567"
    assert de.money(Decimal("1234.5")) == "1.234,50\xa0€"
    assert en.money(Decimal("1234.5")) == "€1,234.50"
    assert de.percent(0.256) == "25,6\xa0%"
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # already 2 March in Berlin
    assert de.date(late) == "02.03.2026"
    assert en.date(late) == "Mar 2, 2026"
    assert de.number(None) == "–"
