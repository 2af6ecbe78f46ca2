"""Rule tables from a file: lifecycle, loyalty, regularity and the RFM segment table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patron.analytics.lifecycle import LifecycleRules
from patron.analytics.rfm import SEGMENT_RULES, SegmentRule
from patron.analytics.rules import apply_rules, read_rules
from patron.analytics.scoring import InvalidScoringSettings, ScoringSettings

TOML = """
[lifecycle]
dissolution_p_alive = 0.25
period_days = 60

[loyalty]
promoter_nps = 8.5

[[segments]]
name = "best"
r = [4, 5]
f = [4, 5]

[[segments]]
name = "everyone else"
r = [1, 5]
f = [1, 5]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_toml_file_replaces_the_sections_it_names(tmp_path: Path) -> None:
    settings = apply_rules(ScoringSettings(), read_rules(_write(tmp_path, "rules.toml", TOML)))
    assert settings.lifecycle == LifecycleRules(dissolution_p_alive=0.25, period_days=60)
    assert settings.loyalty.promoter_nps == 8.5
    assert settings.segments == (
        SegmentRule("best", (4, 5), (4, 5)),
        SegmentRule("everyone else", (1, 5), (1, 5)),
    )
    assert settings.regularity == ScoringSettings().regularity  # not named: the defaults


def test_json_works_the_same(tmp_path: Path) -> None:
    document = {"regularity": {"min_purchases": 6, "max_variation": 0.2}}
    path = _write(tmp_path, "rules.json", json.dumps(document))
    settings = apply_rules(ScoringSettings(), read_rules(path))
    assert settings.regularity.min_purchases == 6
    assert settings.regularity.max_variation == 0.2
    assert settings.segments == SEGMENT_RULES


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[lifecycle]\nperiod = 30\n", "lifecycle.period"),
        ("[lifecycle]\nperiod_days = 30.5\n", "lifecycle.period_days"),
        ("[loyalty]\npromoter_nps = 'nine'\n", "loyalty.promoter_nps"),
        ("[churn]\nx = 1\n", "churn"),
        ("[[segments]]\nname = 'only the best'\nr = [5, 5]\nf = [5, 5]\n", "segments"),
        ("[[segments]]\nname = 'x'\nr = [1, 5]\n", "segments[1]"),
        ("lifecycle = [", "rules"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, "rules.toml", text)
    with pytest.raises(InvalidScoringSettings) as caught:
        apply_rules(ScoringSettings(), read_rules(path))
    assert caught.value.details["field"] == field


def test_a_segment_table_that_leaves_cells_unnamed_says_which(tmp_path: Path) -> None:
    path = _write(tmp_path, "rules.toml", "[[segments]]\nname = 'top'\nr = [1, 5]\nf = [2, 5]\n")
    with pytest.raises(InvalidScoringSettings) as caught:
        apply_rules(ScoringSettings(), read_rules(path))
    assert "R=1, F=1" in caught.value.message
