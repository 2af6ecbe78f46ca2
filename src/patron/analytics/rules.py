"""The rule tables of an analysis from a TOML or JSON file (``patron analyze --rules FILE``).

Sections, each optional (a missing one keeps the defaults of its module)::

    [lifecycle]                      # patron.analytics.lifecycle.LifecycleRules
    dissolution_p_alive = 0.25
    period_days = 60

    [loyalty]                        # patron.analytics.loyalty_types.LoyaltyRules
    promoter_nps = 9

    [regularity]                     # patron.analytics.regularity.RegularitySettings
    min_purchases = 5

    [[segments]]                     # patron.analytics.rfm: the whole table, first match wins
    name = "champions"
    r = [5, 5]
    f = [4, 5]

An unknown section or field, or a value of the wrong kind, is refused naming it; nothing runs.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from patron.analytics.lifecycle import LifecycleRules
from patron.analytics.loyalty_types import LoyaltyRules
from patron.analytics.regularity import RegularitySettings
from patron.analytics.rfm import SegmentRule, check_rules
from patron.analytics.scoring import InvalidScoringSettings, ScoringSettings

SECTIONS: dict[str, type] = {
    "lifecycle": LifecycleRules,
    "loyalty": LoyaltyRules,
    "regularity": RegularitySettings,
}


def _invalid(message: str, field: str) -> InvalidScoringSettings:
    return InvalidScoringSettings(message, details={"field": field})


def read_rules(path: Path) -> dict[str, Any]:
    """The file's document (TOML by default, JSON for ``.json``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise _invalid(f"{path}: cannot read the rules file ({error})", "rules") from None
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise _invalid(
            f"{path.name}: not valid {path.suffix or 'TOML'}: {error}", "rules"
        ) from None
    if not isinstance(document, dict):
        raise _invalid(f"{path.name}: the rules must be a table of sections", "rules")
    return document


def apply_rules(settings: ScoringSettings, document: dict[str, Any]) -> ScoringSettings:
    """``settings`` with the sections of ``document`` in place of the defaults."""
    changes: dict[str, Any] = {}
    for section, values in document.items():
        if section == "segments":
            changes["segments"] = _segments(values)
        elif section in SECTIONS:
            changes[section] = _section(section, SECTIONS[section], values)
        else:
            known = ", ".join([*SECTIONS, "segments"])
            raise _invalid(f"unknown section [{section}]: the rules have {known}", section)
    return replace(settings, **changes)


def _section(section: str, kind: type, values: Any) -> Any:
    if not isinstance(values, dict):
        raise _invalid(f"[{section}] must be a table of values", section)
    defaults = {field.name: field for field in fields(kind)}
    for name, value in values.items():
        if name not in defaults:
            known = ", ".join(defaults)
            raise _invalid(
                f"[{section}] has no field {name!r}: it has {known}", f"{section}.{name}"
            )
        whole = defaults[name].type in ("int", int)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(
                f"[{section}] {name} must be a number, not {value!r}", f"{section}.{name}"
            )
        if whole and value != int(value):
            raise _invalid(
                f"[{section}] {name} must be a whole number, not {value!r}", f"{section}.{name}"
            )
    return kind(
        **{
            name: int(value) if defaults[name].type in ("int", int) else float(value)
            for name, value in values.items()
        }
    )


def _segments(values: Any) -> tuple[SegmentRule, ...]:
    if not isinstance(values, list) or not values:
        raise _invalid("segments must be a list of rules (name, r, f)", "segments")
    rules = []
    for index, rule in enumerate(values, start=1):
        where = f"segments[{index}]"
        if not isinstance(rule, dict) or set(rule) != {"name", "r", "f"}:
            raise _invalid(f"{where} must have exactly name, r and f", where)
        bounds = []
        for key in ("r", "f"):
            pair = rule[key]
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
            ):
                raise _invalid(f"{where}.{key} must be two whole numbers [low, high]", where)
            bounds.append((pair[0], pair[1]))
        if not isinstance(rule["name"], str) or not rule["name"].strip():
            raise _invalid(f"{where}.name must be a text", where)
        rules.append(SegmentRule(rule["name"].strip(), bounds[0], bounds[1]))
    try:
        check_rules(rules)
    except Exception as error:
        raise _invalid(str(error), "segments") from None
    return tuple(rules)
