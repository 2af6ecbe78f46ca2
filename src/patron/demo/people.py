"""Who the demo shop's customers are: persons and organisations with believable contact data.

Language, country, city, time zone and phone format always agree (Germany, Austria and
Switzerland speak ``de``, Norway ``nb``, the UK and Ireland ``en``); e-mail addresses only use
the reserved example domains, so a demo can never mail a real person.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from patron.demo.people_data import (
    COUNTRIES,
    EMAIL_DOMAINS,
    NAMES_BY_LANGUAGE,
    ORGANISATION_CHANNELS,
    PERSON_CHANNELS,
    TRANSLITERATION,
    Country,
    Names,
)
from patron.demo.simulate import OBSERVATION_END

ORGANISATION_SHARE = 0.04
CHANNELS = ("online", "store", "phone", "b2b")


@dataclass(frozen=True)
class People:
    """Contact data per customer, as parallel columns."""

    external_id: list[str]
    is_org: np.ndarray
    country: np.ndarray  # index into COUNTRIES
    name: list[str]
    email: list[str]
    phone: list[str | None]
    birthday: np.ndarray  # datetime64[D], NaT when unknown or an organisation
    city: list[str]
    acquisition_channel: list[str]
    home_channel: np.ndarray  # index into CHANNELS: where this customer usually buys
    home_store: list[str]  # the store they visit when they buy in a store

    def __len__(self) -> int:
        return len(self.external_id)

    def countries(self) -> list[Country]:
        return [COUNTRIES[c] for c in self.country.tolist()]


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> list[str]:
    return [options[i] for i in rng.integers(0, len(options), n).tolist()]


@cache  # names repeat a lot; transliteration is the slow part
def _slug(text: str) -> str:
    return text.lower().translate(TRANSLITERATION)


def _weighted(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> list[str]:
    names = [name for name, _ in pairs]
    weights = np.array([weight for _, weight in pairs])
    return [names[i] for i in rng.choice(len(names), n, p=weights / weights.sum()).tolist()]


def _names(
    rng: np.random.Generator, names: Names, is_org: np.ndarray, legal: list[str]
) -> list[str]:
    n = len(is_org)
    female = rng.random(n) < 0.5
    first = [
        f if is_f else m
        for f, m, is_f in zip(
            _pick(rng, names.female, n), _pick(rng, names.male, n), female, strict=True
        )
    ]
    last = _pick(rng, names.last, n)
    words = _pick(rng, names.company_words, n)
    return [
        f"{surname} {word} {form}" if org else f"{given} {surname}"
        for given, surname, word, form, org in zip(first, last, words, legal, is_org, strict=True)
    ]


def _email(name: str, number: int, is_org: bool, style: int, names: Names, domain: str) -> str:
    if is_org:
        return f"{names.purchasing}.{_slug(name.rsplit(' ', 1)[0])}{number}@{domain}"
    given, surname = name.split(" ", 1)
    given, surname = _slug(given), _slug(surname)
    local = (f"{given}.{surname}", f"{given}{surname}", f"{given[0]}.{surname}")[style]
    return f"{local}{number}@{domain}"


def _phones(rng: np.random.Generator, countries: list[Country]) -> list[str | None]:
    known = rng.random(len(countries)) < 0.7
    digits = rng.integers(0, 10**8, len(countries)).tolist()
    return [
        f"{c.phone_prefix}{d % 10**c.phone_digits:0{c.phone_digits}d}" if k else None
        for c, d, k in zip(countries, digits, known.tolist(), strict=True)
    ]


def _birthdays(rng: np.random.Generator, is_org: np.ndarray) -> np.ndarray:
    age_days = np.clip(rng.normal(44, 15, len(is_org)), 18, 88) * 365.25
    birthday = OBSERVATION_END.astype("datetime64[D]") - age_days.astype("timedelta64[D]")
    unknown = is_org | (rng.random(len(is_org)) < 0.2)
    return np.where(unknown, np.datetime64("NaT"), birthday)


def _home_channels(rng: np.random.Generator, is_org: np.ndarray, acquired: list[str]) -> np.ndarray:
    in_store = np.array([channel == "store" for channel in acquired])
    u = rng.random(len(is_org))
    person = np.where(u < 0.85, 0, np.where(u < 0.97, 1, 2))
    person = np.where(in_store & (u < 0.7), 1, person)
    return np.where(is_org, np.where(u < 0.7, 3, 2), person)


def draw_people(rng: np.random.Generator, n: int) -> People:
    is_org = rng.random(n) < ORGANISATION_SHARE
    shares = np.array([c.share for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), n, p=shares / shares.sum())
    countries = [COUNTRIES[c] for c in country.tolist()]
    name = ["" for _ in range(n)]
    for language, names in NAMES_BY_LANGUAGE.items():
        who = np.flatnonzero([c.language == language for c in countries])
        drawn = _names(rng, names, is_org[who], [countries[i].legal_form for i in who.tolist()])
        for i, text in zip(who.tolist(), drawn, strict=True):
            name[i] = text
    styles = rng.integers(0, 3, n).tolist()
    domains = _pick(rng, EMAIL_DOMAINS, n)
    email = [
        _email(
            name[i], i + 1, bool(is_org[i]), styles[i], NAMES_BY_LANGUAGE[c.language], domains[i]
        )
        for i, c in enumerate(countries)
    ]
    org_channels = _weighted(rng, ORGANISATION_CHANNELS, n)
    person_channels = _weighted(rng, PERSON_CHANNELS, n)
    acquired = [
        org if flag else person
        for org, person, flag in zip(org_channels, person_channels, is_org.tolist(), strict=True)
    ]
    # Squared uniforms favour the first (biggest) cities and stores of each country.
    city_rank, store_rank = rng.random(n) ** 2, rng.random(n) ** 2
    return People(
        external_id=[f"D{i + 1:06d}" for i in range(n)],
        is_org=is_org,
        country=country,
        name=name,
        email=email,
        phone=_phones(rng, countries),
        birthday=_birthdays(rng, is_org),
        city=[c.cities[int(u * len(c.cities))] for c, u in zip(countries, city_rank, strict=True)],
        acquisition_channel=acquired,
        home_channel=_home_channels(rng, is_org, acquired),
        home_store=[
            c.stores[int(u * len(c.stores))] for c, u in zip(countries, store_rank, strict=True)
        ],
    )
