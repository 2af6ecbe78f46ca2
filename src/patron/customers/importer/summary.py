"""What an import reports: counts by outcome and by kind of line, and the rejected rows."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from patron.customers.importer.convert import RowError
from patron.errors import PatronError

SHOWN_ERRORS = 20


@dataclass
class ImportSummary:
    file: str
    kind: str
    layout: str = ""
    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    rows_read: int = 0
    rows_rejected: int = 0
    blank_lines: int = 0
    stored: bool = False
    changed: bool = False
    seconds: float = 0.0
    rows_per_second: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    line_kinds: dict[str, int] = field(default_factory=dict)
    errors_file: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ErrorLog:
    """Keeps the first rejected rows for the summary and writes all of them to a CSV file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.lines: set[int] = set()  # a row with two bad cells is one rejected row
        self.first: list[RowError] = []
        self._handle: Any = None
        self._writer: Any = None

    def add(self, errors: list[RowError]) -> None:
        if not errors:
            return
        errors = sorted(errors, key=lambda error: error.line)  # a batch reports field by field
        if self._writer is None:
            try:
                self._handle = self.path.open("w", newline="", encoding="utf-8")
            except OSError as exc:
                raise PatronError(
                    f"cannot write the rejected rows to {self.path}: {exc.strerror or exc}",
                    code="import.errors_file",
                ) from exc
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "column", "value", "reason"])
        for error in errors:
            self._writer.writerow([error.line, error.column, error.value, error.reason])
        self.count += len(errors)
        self.lines.update(error.line for error in errors)
        self.first.extend(errors[: max(0, SHOWN_ERRORS - len(self.first))])

    def rows(self) -> set[int]:
        return {error.line for error in self.first}

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def shown(self) -> list[dict[str, Any]]:
        return [asdict(error) for error in sorted(self.first, key=lambda e: e.line)]
