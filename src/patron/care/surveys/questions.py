"""What a questionnaire asks and what counts as an answer to it; pure, no database.

An NPS or CSAT survey asks one question (per language); a Kano survey asks, per feature, how
the customer would feel if the product had it (functional) and if it had not (dysfunctional).
German and English texts are required, Norwegian falls back to English. An answer is a whole
score in the kind's range, or for Kano exactly one 1..5 pair per feature of the survey; anything
else is refused naming the field, before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from patron.care.surveys import kano
from patron.errors import PatronError

LANGUAGES = ("de", "en", "nb")
REQUIRED_LANGUAGES = ("de", "en")
KINDS = ("nps", "csat", "kano")
RANGES = {"nps": (0, 10), "csat": (1, 5)}
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TEXT_MAX = 500
MAX_FEATURES = 40
COMMENT_MAX = 2000


class SurveyProblem(PatronError):
    """A survey definition or an answer that cannot be used; ``details.field`` says where."""

    code = "survey.invalid"
    status = 422


def _bad(field: str, message: str) -> SurveyProblem:
    return SurveyProblem(message, details={"field": field})


def check_key(key: Any, field: str = "key") -> str:
    if not isinstance(key, str) or not KEY.match(key):
        raise _bad(field, f"{field} {key!r} must be 1-64 lower-case letters, digits, - or _")
    return key


def texts(value: Any, field: str) -> dict[str, str]:
    """A text per language: de and en required, nb optional; no other language."""
    if not isinstance(value, Mapping):
        raise _bad(field, f"{field} must give a text per language (de, en, optionally nb)")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise _bad(field, f"{field} has unknown language(s) {', '.join(map(str, unknown))}")
    found: dict[str, str] = {}
    for language in LANGUAGES:
        text = value.get(language)
        if text is None and language not in REQUIRED_LANGUAGES:
            continue
        if not isinstance(text, str) or not text.strip():
            raise _bad(f"{field}.{language}", f"{field} needs a {language} text")
        if len(text) > TEXT_MAX:
            raise _bad(f"{field}.{language}", f"{field}.{language} is longer than {TEXT_MAX}")
        found[language] = text.strip()
    return found


def kano_features(features: Any) -> list[dict[str, Any]]:
    """The features of a Kano survey, checked: at least one, unique keys, all texts."""
    if not isinstance(features, Sequence) or isinstance(features, str) or not features:
        raise _bad("features", "a Kano survey needs at least one feature")
    if len(features) > MAX_FEATURES:
        raise _bad("features", f"a Kano survey has at most {MAX_FEATURES} features")
    checked: list[dict[str, Any]] = []
    for position, feature in enumerate(features):
        where = f"features[{position}]"
        if not isinstance(feature, Mapping):
            raise _bad(where, f"{where} must have key, name, functional and dysfunctional")
        key = check_key(feature.get("key"), f"{where}.key")
        if any(c["key"] == key for c in checked):
            raise _bad(f"{where}.key", f"feature key {key!r} appears twice")
        checked.append(
            {
                "key": key,
                "name": texts(feature.get("name"), f"{where}.name"),
                "functional": texts(feature.get("functional"), f"{where}.functional"),
                "dysfunctional": texts(feature.get("dysfunctional"), f"{where}.dysfunctional"),
            }
        )
    return checked


def questions(
    kind: str, question: Any, features: Any, default: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``questions`` document of a new survey of ``kind``."""
    if kind not in KINDS:
        raise _bad("kind", f"kind {kind!r} must be one of {', '.join(KINDS)}")
    if kind == "kano":
        if question:
            raise _bad("question", "a Kano survey asks per feature: give features, no question")
        return {"features": kano_features(features)}
    if features:
        raise _bad("features", f"an {kind.upper()} survey has no features")
    if question is None:
        assert default is not None
        return {"question": dict(default["question"])}
    return {"question": texts(question, "question")}


def text_in(values: Mapping[str, str], language: str) -> str:
    """The text in ``language``, else English, else German."""
    for candidate in (language, "en", "de"):
        if values.get(candidate):
            return values[candidate]
    return next(iter(values.values()), "")


def features_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(document.get("features") or [])


# --- answers -------------------------------------------------------------------------------


def score(kind: str, value: Any) -> float:
    """An NPS (0..10) or CSAT (1..5) score: a whole number in range."""
    low, high = RANGES[kind]
    whole = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and float(value).is_integer()
        and low <= value <= high
    )
    if not whole:
        raise _bad("score", f"an {kind.upper()} score is a whole number {low}..{high}")
    return float(value)


def kano_answers(document: Mapping[str, Any], answers: Any) -> dict[str, list[int]]:
    """One (functional, dysfunctional) pair on 1..5 for exactly each feature of the survey."""
    wanted = [f["key"] for f in features_of(document)]
    if not isinstance(answers, Mapping):
        raise _bad("answers", "a Kano answer gives {feature: [functional, dysfunctional]}")
    missing = [key for key in wanted if key not in answers]
    extra = sorted(str(key) for key in answers if key not in wanted)
    if missing:
        raise _bad(f"answers.{missing[0]}", f"no answer for feature(s) {', '.join(missing)}")
    if extra:
        raise _bad(f"answers.{extra[0]}", f"the survey has no feature(s) {', '.join(extra)}")
    checked: dict[str, list[int]] = {}
    for key in wanted:
        pair = answers[key]
        ok = (
            isinstance(pair, Sequence)
            and not isinstance(pair, str)
            and len(pair) == 2
            and all(
                isinstance(a, int) and not isinstance(a, bool) and a in kano.ANSWERS for a in pair
            )
        )
        if not ok:
            raise _bad(f"answers.{key}", f"the answer for {key!r} must be two whole numbers 1..5")
        checked[key] = [int(pair[0]), int(pair[1])]
    return checked


def comment(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("comment", "the comment must be a text")
    value = value.strip()
    if len(value) > COMMENT_MAX:
        raise _bad("comment", f"the comment is longer than {COMMENT_MAX} characters")
    return value or None


def language(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if value not in LANGUAGES:
        raise _bad("language", f"language must be one of {', '.join(LANGUAGES)}")
    return str(value)


# --- the staff form's text format -----------------------------------------------------------

FEATURE_LINE = re.compile(r"^(?P<key>\S+)\s+(?P<language>[a-z]{2}):\s*(?P<rest>.*)$")


def parse_features(text: str) -> list[dict[str, Any]]:
    """Kano features from the staff form: one line per feature and language,
    ``<key> <language>: <name> | <functional question> | <dysfunctional question>``;
    empty lines and lines starting with ``#`` are skipped. The features are then checked like
    any others (de and en required)."""
    features: dict[str, dict[str, dict[str, str]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = FEATURE_LINE.match(line)
        parts = [p.strip() for p in found["rest"].split("|")] if found else []
        if found is None or len(parts) != 3:
            raise _bad(
                "features",
                f"line {number}: write <key> <language>: <name> | <functional question> | "
                "<dysfunctional question>",
            )
        feature = features.setdefault(
            found["key"], {"name": {}, "functional": {}, "dysfunctional": {}}
        )
        for part, value in zip(("name", "functional", "dysfunctional"), parts, strict=True):
            feature[part][found["language"]] = value
    return kano_features([{"key": key} | texts_ for key, texts_ in features.items()])
