"""What every command shares: the composition root, error handling, and JSON or Rich output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from patron.config import Settings

JSON_OPTION = typer.Option(False, "--json", help="Print exactly one JSON document.")


@dataclass
class Runtime:
    """Settings and engine, built once per command invocation (the CLI's composition root)."""

    overrides: dict[str, Any]

    @cached_property
    def settings(self) -> Settings:
        from patron.config import load_settings

        return load_settings(**self.overrides)

    @cached_property
    def engine(self) -> Engine:
        from patron.db import make_engine

        return make_engine(self.settings.database_url)

    def sessions(self, *, check_schema: bool = True) -> sessionmaker[Session]:
        from patron.db import session_factory
        from patron.schema import ensure_current

        if check_schema:
            ensure_current(self.engine)
        return session_factory(self.engine)


def runtime() -> Runtime:
    return Runtime(overrides={})


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def print_json(document: Any) -> None:
    """Print one JSON document (pydantic models, dataclasses dumped by the caller, Decimals as text)."""
    if hasattr(document, "model_dump"):
        document = document.model_dump(mode="json")
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False, indent=2) + "\n")


def run_guarded(app: Callable[..., Any]) -> None:
    from patron.errors import PatronError

    try:
        app(standalone_mode=True)
    except PatronError as exc:
        _print_error(exc)
        raise SystemExit(1) from None


def _print_error(exc: Any) -> None:
    wants_json = "--json" in sys.argv
    if wants_json:
        print_json({"error": exc.to_dict()})
    else:
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold red]error[/] [dim]({exc.code})[/] {exc.message}", highlight=False
        )
