"""What the ``patron loyalty`` commands share: a session per command, the default programme,
requests built from options, and how points, money, instants and tables are shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from patron.cli.output import in_session, runtime

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy.orm import Session

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")

PROGRAMME = typer.Option(
    None, "--programme", "-p", help="Programme code (default: the only programme)."
)
CUSTOMER = typer.Argument(..., help="External id, or Patron's number for the customer.")
ACTOR = typer.Option(
    None, "--actor", help="Who does this, for the audit log (default: your user name)."
)
NUMERIC = frozenset({"#", "points", "balance", "debt", "cost", "stock", "members", "value"})


def run(work: Callable[[Session], T]) -> tuple[T, tzinfo]:
    """Run one use case on a fresh session; also return the shop's time zone for display."""
    rt = runtime()
    return in_session(work, rt), rt.settings.tz


def member_read(
    read: Callable[..., T], programme: str | None, customer: str, **options: Any
) -> tuple[T, tzinfo]:
    """One member's reading (``reading.balance``, ``statement``, ``progress``) in the
    programme given, or the only one there is; with the shop's time zone."""
    return run(
        lambda session: read(
            session,
            programme_code=programme_code(session, programme),
            customer=customer,
            **options,
        )
    )


def programme_code(session: Session, given: str | None) -> str:
    """The programme asked for, or the only one there is."""
    if given is not None:
        return given
    from patron.errors import PatronError
    from patron.loyalty import setup

    codes = [spec.code for _row, spec in setup.programmes(session)]
    if len(codes) == 1:
        return codes[0]
    if not codes:
        raise PatronError(
            "there is no loyalty programme yet: set one up with `patron loyalty setup FILE`",
            code="loyalty.no_programme",
        )
    raise PatronError(
        f"there are several programmes ({', '.join(codes)}): choose one with --programme",
        code="loyalty.programme_needed",
        details={"programmes": codes},
    )


def request(model: type[M], **fields: Any) -> M:
    """A service request from the command's options, refused naming the bad option."""
    from pydantic import ValidationError

    from patron.errors import PatronError

    try:
        return model(**fields)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in e["loc"]), "problem": e["msg"]}
            for e in error.errors()
        ]
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise PatronError(
            f"invalid request: {listed}", code="cli.invalid", details={"problems": problems}
        ) from None


def actor(given: str | None) -> str:
    """``cli:`` and who runs the command: what the audit log and the entries record."""
    if given is None:
        import getpass

        try:
            given = getpass.getuser()
        except (KeyError, OSError):  # no login name in the environment or the user database
            given = "unknown"
    return given if given.startswith("cli:") else f"cli:{given}"


def instant(text: str) -> datetime:
    """``YYYY-MM-DD`` (00:00 UTC that day) or an ISO date and time (UTC without an offset)."""
    from patron.errors import PatronError

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        found = datetime.fromisoformat(text)
    except ValueError:
        raise PatronError(
            f"--as-of takes a date like 2027-01-31 or a date and time like "
            f"2027-01-31T08:00:00+01:00, not {text!r}",
            code="cli.invalid_date",
            details={"field": "as_of", "value": text},
        ) from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(highlight=False, stderr=stderr)


def table(title: str, *columns: str) -> Table:
    from rich.table import Table

    made = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        made.add_column(column, justify="right" if column in NUMERIC else "left")
    return made


def grid(title: str) -> Table:
    """Label and value pairs under a title."""
    from rich.table import Table

    made = Table.grid(padding=(0, 2))
    made.title, made.title_justify, made.title_style = title, "left", "bold"
    return made


def print_or_none(shown: Table, message: str) -> None:
    """An empty table is its title and a line saying so, not an empty frame."""
    if shown.rows:
        console().print(shown)
    else:
        console().print(f"[bold]{shown.title}[/]  [dim]{message}[/]")


def when(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def number(value: Decimal | int) -> str:
    """2,000 or 1.5 or 0.01: thousands separated, no trailing zeros."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return format(int(value), ",")
    return format(value.normalize(), ",f")
