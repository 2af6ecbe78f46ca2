"""Languages of the web app: Babel catalogues, choosing a language, formatting per locale.

English is the source language (the message ids); German comes from ``locales/de``. The
catalogues are the ``.po`` files themselves, compiled in memory at start-up, so no build step
stands between a translator's edit and the app. ``make messages`` extracts and merges them.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.messages import mofile, pofile
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}
LOCALES_DIR = Path(__file__).parent / "locales"
_CACHED = 8192  # formatted values remembered per language (a few hundred kB at most)


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language`` (English needs none: its ids are the text)."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = pofile.read_po(source, locale=language)
    compiled = io.BytesIO()
    mofile.write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def negotiate(accept_language: str | None) -> str:
    """The best of ``LANGUAGES`` for an ``Accept-Language`` header (q-values honoured)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((-quality, position, tag.strip().replace("_", "-")))
    preferred = [tag for _q, _p, tag in sorted(wanted)]
    chosen = Locale.negotiate(preferred, list(LANGUAGES), sep="-")
    if chosen is None:  # "de-AT" against "de": fall back to the primary subtags
        primaries = [tag.split("-")[0].lower() for tag in preferred]
        chosen_tag = next((tag for tag in primaries if tag in LANGUAGES), DEFAULT_LANGUAGE)
        return chosen_tag
    return str(chosen.language)


class Formats:
    """Numbers, money, percentages, dates and instants as ``language``'s readers write them."""

    def __init__(self, language: str, timezone: ZoneInfo, currency: str) -> None:
        self.locale = Locale.parse(language)
        self.timezone = timezone
        self.currency = currency
        # Babel parses its patterns on every call; a page of 50 customers formats about 150
        # values, most of them seen before (there are only so many days and counts), so each
        # instance remembers what it formatted. Keys are values, never requests or users.
        self._number = lru_cache(maxsize=_CACHED)(self._format_number)
        self._money = lru_cache(maxsize=_CACHED)(self._format_money)
        self._date = lru_cache(maxsize=_CACHED)(self._format_date)

    def number(self, value: int | float | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        return self._number(value, digits)

    def _format_number(self, value: int | float | Decimal, digits: int) -> str:
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return numbers.format_decimal(value, format=pattern, locale=self.locale)

    def money(self, value: Decimal | float | None, currency: str | None = None) -> str:
        if value is None:
            return "–"
        return self._money(value, currency or self.currency)

    def _format_money(self, value: Decimal | float, currency: str) -> str:
        return numbers.format_currency(value, currency, locale=self.locale)

    def percent(self, value: float | Decimal | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        # The locale's own pattern ("#,##0 %" in German, "#,##0%" in English) with decimals.
        pattern = self.locale.percent_formats[None].pattern
        if digits:
            pattern = pattern.replace("0", "0." + "0" * digits, 1)
        return numbers.format_percent(value, format=pattern, locale=self.locale)

    def date(self, value: dt.date | dt.datetime | None, form: str = "medium") -> str:
        if value is None:
            return "–"
        if isinstance(value, dt.datetime):
            value = value.astimezone(self.timezone).date()
        return self._date(value, form)

    def _format_date(self, value: dt.date, form: str) -> str:
        return dates.format_date(value, format=form, locale=self.locale)

    def datetime(self, value: dt.datetime | None, form: str = "medium") -> str:
        if value is None:
            return "–"
        return dates.format_datetime(value, format=form, tzinfo=self.timezone, locale=self.locale)

    def month(self, value: dt.date) -> str:
        return dates.format_date(value, format="MMM yyyy", locale=self.locale)

    def filters(self) -> dict[str, Callable[..., str]]:
        return {
            "number": self.number,
            "money": self.money,
            "percent": self.percent,
            "date": self.date,
            "datetime": self.datetime,
            "month": self.month,
        }
