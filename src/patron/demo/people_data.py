"""Invented names, places and phone formats for the demo shop's customers, per country."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    name: str
    share: float  # of customers
    language: str
    time_zone: str
    phone_prefix: str  # mobile numbers: this prefix and ``phone_digits`` random digits
    phone_digits: int
    cities: tuple[str, ...]
    stores: tuple[str, ...]  # the shop's own stores in this country
    legal_form: str  # appended to organisation names


@dataclass(frozen=True)
class Names:
    female: tuple[str, ...]
    male: tuple[str, ...]
    last: tuple[str, ...]
    company_words: tuple[str, ...]
    purchasing: str  # mailbox name of an organisation's purchasing department


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split(", "))


GERMAN = Names(
    female=_split(
        "Anna, Julia, Laura, Sophie, Marie, Lena, Katharina, Sabine, Petra, Claudia, "
        "Monika, Hannah, Lea, Emma, Mia, Johanna, Ursula, Birgit, Franziska, Theresa, "
        "Jana, Nina, Carla, Greta, Elisabeth"
    ),
    male=_split(
        "Thomas, Michael, Andreas, Stefan, Markus, Jürgen, Lukas, Felix, Jonas, "
        "Maximilian, Paul, Leon, Tobias, Florian, Sebastian, Matthias, Klaus, Wolfgang, "
        "Daniel, Simon, Niklas, Moritz, Fabian, Christian, Georg"
    ),
    last=_split(
        "Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, "
        "Hoffmann, Koch, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Braun, "
        "Zimmermann, Krüger, Hofmann, Hartmann, Lange, Huber, Gruber, Bauer, Steiner, "
        "Moser, Keller, Brunner, Frei, Graf"
    ),
    company_words=_split(
        "Logistik, Gastro, Bürotechnik, Handel, Hausverwaltung, Kanzlei, Architekten, "
        "Praxis, Bäckerei, Hotel, Werkstatt, Consulting"
    ),
    purchasing="einkauf",
)
NORWEGIAN = Names(
    female=_split(
        "Ingrid, Kari, Nora, Emma, Sofie, Ida, Maja, Astrid, Silje, Hanne, Marit, "
        "Solveig, Ingeborg, Thea, Eli, Tone, Kristin, Liv"
    ),
    male=_split(
        "Ole, Lars, Jan, Per, Bjørn, Kjetil, Magnus, Henrik, Jakob, Emil, Sander, Eirik, "
        "Håkon, Sindre, Torbjørn, Erlend, Knut, Trond"
    ),
    last=_split(
        "Hansen, Johansen, Olsen, Larsen, Andersen, Pedersen, Nilsen, Kristiansen, "
        "Jensen, Karlsen, Berg, Haugen, Hagen, Johannessen, Dahl, Lie, Solberg, Bakke, "
        "Strand, Moen, Nygård, Aasen"
    ),
    company_words=_split(
        "Logistikk, Regnskap, Eiendom, Kontorservice, Bakeri, Hotell, Verksted, "
        "Rådgivning, Tannlegesenter, Handel"
    ),
    purchasing="innkjop",
)
ENGLISH = Names(
    female=_split(
        "Emily, Olivia, Sophie, Charlotte, Amelia, Grace, Hannah, Lucy, Chloe, Aoife, "
        "Siobhan, Niamh, Sarah, Rebecca, Eleanor, Jessica, Ruth"
    ),
    male=_split(
        "James, Oliver, Harry, George, Thomas, William, Jack, Daniel, Samuel, Conor, "
        "Sean, Ciaran, Michael, David, Edward, Patrick, Robert"
    ),
    last=_split(
        "Smith, Jones, Taylor, Brown, Williams, Wilson, Evans, Thomas, Johnson, Roberts, "
        "Walker, Wright, Murphy, Kelly, O'Brien, Byrne, Ryan, Clarke, Hughes, Green, "
        "Hall, Wood"
    ),
    company_words=_split(
        "Logistics, Catering, Office Services, Trading, Property, Consulting, "
        "Dental Practice, Bakery, Hotel, Workshop"
    ),
    purchasing="purchasing",
)
NAMES_BY_LANGUAGE = {"de": GERMAN, "nb": NORWEGIAN, "en": ENGLISH}

COUNTRIES: tuple[Country, ...] = (
    Country(
        "Germany",
        0.52,
        "de",
        "Europe/Berlin",
        "+49 151 ",
        8,
        (
            "Berlin",
            "Hamburg",
            "München",
            "Köln",
            "Frankfurt am Main",
            "Stuttgart",
            "Leipzig",
            "Düsseldorf",
            "Dresden",
            "Hannover",
            "Nürnberg",
            "Bremen",
            "Freiburg",
            "Münster",
        ),
        ("Berlin Mitte", "Hamburg Altona", "München Schwabing", "Köln Ehrenfeld"),
        "GmbH",
    ),
    Country(
        "Austria",
        0.10,
        "de",
        "Europe/Vienna",
        "+43 664 ",
        7,
        ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Klagenfurt"),
        ("Wien Neubau",),
        "GmbH",
    ),
    Country(
        "Switzerland",
        0.07,
        "de",
        "Europe/Zurich",
        "+41 79 ",
        7,
        ("Zürich", "Basel", "Bern", "Luzern", "St. Gallen", "Winterthur"),
        ("Zürich West",),
        "AG",
    ),
    Country(
        "Norway",
        0.16,
        "nb",
        "Europe/Oslo",
        "+47 9",
        7,
        ("Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Kristiansand", "Drammen"),
        ("Oslo Grünerløkka", "Bergen Sentrum"),
        "AS",
    ),
    Country(
        "United Kingdom",
        0.11,
        "en",
        "Europe/London",
        "+44 7700 900",
        3,
        ("London", "Manchester", "Bristol", "Edinburgh", "Leeds", "Brighton", "York"),
        ("London Shoreditch",),
        "Ltd",
    ),
    Country(
        "Ireland",
        0.04,
        "en",
        "Europe/Dublin",
        "+353 85 ",
        7,
        ("Dublin", "Cork", "Galway", "Limerick"),
        ("Dublin Docklands",),
        "Ltd",
    ),
)

EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
PERSON_CHANNELS = (
    ("organic_search", 0.26),
    ("paid_search", 0.18),
    ("social", 0.14),
    ("newsletter", 0.08),
    ("referral", 0.10),
    ("store", 0.18),
    ("marketplace", 0.06),
)
ORGANISATION_CHANNELS = (
    ("trade_fair", 0.35),
    ("sales_call", 0.30),
    ("referral", 0.20),
    ("organic_search", 0.15),
)
TRANSLITERATION = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "ø": "oe",
        "å": "aa",
        "æ": "ae",
        "é": "e",
        "'": "",
        " ": "-",
        "&": "and",
    }
)
