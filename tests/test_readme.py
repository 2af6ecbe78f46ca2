"""Every setting is documented: each ``Settings`` field has a row in the README's settings table.

(The idea follows datasette's test that every setting appears in its documentation.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_rows() -> list[str]:
    return [
        line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("|")
    ]


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_has_a_row_in_the_readme_settings_table(field: str) -> None:
    variable = f"PATRON_{field.upper()}"
    assert any(variable in row for row in _table_rows()), (
        f"README.md's settings table has no row for {variable}"
    )
