"""What every command shares: the composition root, error handling, and JSON or Rich output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from patron.config import Settings

T = TypeVar("T")
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

    def close(self) -> None:
        """Release the engine's connections, if the command got as far as building it."""
        if "engine" in vars(self):
            self.engine.dispose()


def runtime() -> Runtime:
    return Runtime(overrides={})


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(highlight=False, stderr=stderr)


def table(
    title: str,
    *columns: str,
    right: Collection[str] = ("#",),
    no_wrap: Collection[str] = (),
) -> Table:
    """A Rich table with the house style: the title on the left, ``right`` columns (numbers)
    right-aligned, ``no_wrap`` columns kept on one line."""
    from rich.table import Table

    built = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        built.add_column(
            column, justify="right" if column in right else "left", no_wrap=column in no_wrap
        )
    return built


def in_session(work: Callable[[Session], T], rt: Runtime | None = None) -> T:
    """Run one use case on a fresh session (the service commits its own writes), then release
    the engine."""
    rt = rt or runtime()
    try:
        with rt.sessions()() as session:
            return work(session)
    finally:
        rt.close()


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
