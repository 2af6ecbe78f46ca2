"""``patron loyalty``: set up a programme from a file, read members' points, book by hand, upkeep.

Commands parse, call ``patron.loyalty`` and print; with ``--json`` exactly one document. Where a
command takes ``--programme``, it may be left out while the store has only one programme. The
read-outs live in ``loyalty_reads``, the rules in words in ``loyalty_words``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli import loyalty_reads as reads
from patron.cli import loyalty_shared as shared
from patron.cli import loyalty_words as words
from patron.cli.output import JSON_OPTION, print_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from patron.loyalty.programme import ProgrammeSpec
    from patron.loyalty.schemas import RewardPublic

app = typer.Typer(
    help="The loyalty club: programmes, members' points and tiers, vouchers, upkeep.",
    no_args_is_help=True,
)
vouchers_app = typer.Typer(help="Vouchers issued by staff.", no_args_is_help=True)
app.add_typer(vouchers_app, name="vouchers")
UPKEEP_LABELS = {
    "lots_vested": "lots vested (pending points now usable)",
    "members": "members whose points expired",
    "points_expired": "points expired",
    "tiers_changed": "tiers changed",
    "grace_started": "grace periods started (members below their tier's threshold)",
}


@app.command("setup")
def set_up(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="The programme as YAML (or JSON)."
    ),
    actor: str | None = shared.ACTOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a programme, or bring it in line with FILE; every change goes to the audit log."""
    from patron.db import utcnow
    from patron.loyalty import setup

    spec = _read_file(file)  # refused naming each bad field, before the store is touched
    changed, _ = shared.run(
        lambda session: setup.set_up(session, spec=spec, actor=shared.actor(actor), now=utcnow())
    )
    if json_output:
        print_json(changed)
        return
    what = "; ".join(changed["changes"]) or "no changes"
    shared.console().print(f"Programme [bold]{changed['programme']}[/]: {what}.")


@app.command("show")
def show(
    code: str | None = typer.Argument(None, help="A programme's code: show its rules."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the programmes, or say one programme's rules in plain words."""
    from patron.db import utcnow
    from patron.loyalty import reading, setup

    if code is None:
        found, _ = shared.run(setup.programmes)
        specs = [spec for _row, spec in found]
        if json_output:
            listed = [
                {
                    "code": spec.code,
                    "name": spec.name,
                    "currency": spec.currency,
                    "point_value": spec.point_value,
                    "tiers": [tier.code for tier in spec.tiers.levels],
                    "rewards": [reward.code for reward in spec.rewards],
                }
                for spec in specs
            ]
            print_json({"data": listed, "count": len(listed)})
            return
        table = shared.table(
            "Loyalty programmes", "code", "name", "currency", "point value", "tiers"
        )
        for spec in specs:
            tiers = ", ".join(tier.name for tier in spec.tiers.levels)
            table.add_row(
                spec.code, spec.name, spec.currency, shared.number(spec.point_value), tiers
            )
        shared.print_or_none(table, "no programme yet: set one up with `patron loyalty setup FILE`")
        return

    def load(session: Session) -> tuple[ProgrammeSpec, list[RewardPublic]]:
        _row, spec = setup.programme(session, code)
        return spec, reading.rewards(session, programme_code=code, customer=None, now=utcnow())

    (spec, rewards), _ = shared.run(load)
    rules = words.describe(spec)
    if json_output:
        print_json({"programme": spec.model_dump(mode="json"), "rules": rules, "rewards": rewards})
        return
    console = shared.console()
    console.print(f"[bold]{spec.name}[/] [dim]({spec.code}, {spec.currency})[/]")
    for section, sentences in rules.items():
        console.print(f"\n[bold]{section}[/]")
        for sentence in sentences:
            console.print(f"  • {sentence}")
    table = shared.table("Rewards", "code", "name", "kind", "cost", "stock", "from tier")
    for reward in rewards:
        stock = "" if reward.stock is None else str(reward.stock)
        table.add_row(
            reward.code, reward.name, reward.kind, f"{reward.cost:,}", stock, reward.min_tier or ""
        )
    console.print()
    shared.print_or_none(table, "none")


app.command("balance")(reads.balance)
app.command("statement")(reads.statement)
app.command("progress")(reads.progress)
app.command("members")(reads.members)
app.command("liability")(reads.liability)


@app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(
    customer: str = shared.CUSTOMER,
    points: int = typer.Argument(..., help="Points to grant, or (negative) to take off."),
    reason: str = typer.Option(..., "--reason", help="Why; kept with the entry and audited."),
    programme: str | None = shared.PROGRAMME,
    allow_negative: bool = typer.Option(
        False, "--allow-negative", help="Take off more than the member holds (becomes debt)."
    ),
    key: str | None = typer.Option(
        None, "--key", help="Idempotency key: the same key books once (default: a new one)."
    ),
    actor: str | None = shared.ACTOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Book points by hand (a goodwill gesture, a correction); audited with its reason."""
    import uuid

    from patron.db import utcnow
    from patron.loyalty import service
    from patron.loyalty.schemas import AdjustIn

    request = shared.request(
        AdjustIn, customer=customer, points=points, reason=reason, allow_negative=allow_negative
    )
    key = key or f"cli-{uuid.uuid4()}"
    booked, _ = shared.run(
        lambda session: service.adjust(
            session,
            programme_code=shared.programme_code(session, programme),
            key=key,
            request=request,
            actor=shared.actor(actor),
            now=utcnow(),
        )
    )
    if json_output:
        print_json({"key": key, "replayed": booked.replayed, "booking": booked.booking})
        return
    done = booked.booking
    again = " [dim](this key was booked before: nothing changed)[/]" if booked.replayed else ""
    shared.console().print(
        f"Booked {done.points:+,} points for {customer}{again}: balance {done.balance.balance:,}, "
        f"available {done.balance.available:,}.\nidempotency key: {key}"
    )


@app.command("verify")
def verify(json_output: bool = JSON_OPTION) -> None:
    """Check every member's ledger and the vouchers; exit 1 if anything is broken."""
    (problems, members, entries), _ = shared.run(_verify)
    if json_output:
        print_json(
            {"sound": not problems, "members": members, "entries": entries, "problems": problems}
        )
    elif problems:
        from rich.markup import escape

        console = shared.console(stderr=True)
        for found in problems:
            where = f"customer {found['customer']}" if found["account_id"] else "vouchers"
            console.print(f"[bold red]problem[/] {where}: {escape(found['problem'])}")
        console.print(f"{len(problems)} problems in {members:,} members, {entries:,} entries")
    else:
        shared.console().print(f"ledger sound: {members:,} members, {entries:,} entries checked")
    if problems:
        raise typer.Exit(1)


def _verify(session: Session) -> tuple[list[dict[str, Any]], int, int]:
    """``upkeep.verify``'s problems, each naming the member's customer; and what was checked."""
    from sqlalchemy import String, cast, func, select

    from patron.customers.models import Customer
    from patron.loyalty import upkeep
    from patron.loyalty.models import Account, Entry

    members = session.scalar(select(func.count()).select_from(Account)) or 0
    entries = session.scalar(select(func.count()).select_from(Entry)) or 0
    problems = upkeep.verify(session)
    accounts = {p.account_id for p in problems if p.account_id is not None}
    customers: dict[int | None, str] = dict(
        session.execute(
            select(Account.id, func.coalesce(Customer.external_id, cast(Customer.id, String)))
            .join(Customer, Customer.id == Account.customer_id)
            .where(Account.id.in_(accounts))
        ).all()
    )
    described = [
        {"account_id": p.account_id, "customer": customers.get(p.account_id), "problem": p.problem}
        for p in problems
    ]
    return described, members, entries


@app.command("expire")
def expire(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Act as of this instant: YYYY-MM-DD (00:00 UTC) or an ISO date and time, UTC if "
        "it names no offset (default: now). Bookings are made at that instant.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Vest pending points, expire old ones and review tiers, as the worker does; idempotent."""
    from patron.db import utcnow

    when = shared.instant(as_of) if as_of else utcnow()
    from patron.loyalty import upkeep

    counts, _ = shared.run(lambda session: upkeep.run_all(session, as_of=when))
    if json_output:
        print_json({"as_of": when, **counts})
        return
    grid = shared.grid(f"Upkeep as of {when:%Y-%m-%d %H:%M} UTC")
    for name, value in counts.items():
        grid.add_row(UPKEEP_LABELS.get(name, name.replace("_", " ")), f"{value:,}")
    shared.console().print(grid)


@vouchers_app.command("issue")
def issue_vouchers(
    value: Decimal = typer.Option(..., "--value", help="What a voucher takes off an order."),
    count: int = typer.Option(1, "--count", min=1, help="How many vouchers."),
    customer: str | None = typer.Option(
        None, "--customer", help="Only this customer may use them (default: anyone with a code)."
    ),
    valid_days: int = typer.Option(90, "--valid-days", min=1, help="Valid for this many days."),
    max_uses: int = typer.Option(1, "--max-uses", min=1, help="Uses per voucher."),
    minimum_order: Decimal = typer.Option(
        Decimal(0), "--minimum-order", help="The order total a voucher needs."
    ),
    programme: str | None = shared.PROGRAMME,
    actor: str | None = shared.ACTOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Issue amount vouchers and print their codes (audited)."""
    from patron.db import utcnow
    from patron.loyalty import service
    from patron.loyalty.schemas import VoucherIssueIn

    request = shared.request(
        VoucherIssueIn,
        value=value,
        count=count,
        customer=customer,
        valid_days=valid_days,
        max_uses=max_uses,
        minimum_order=minimum_order,
    )
    made, zone = shared.run(
        lambda session: service.issue_vouchers(
            session,
            programme_code=shared.programme_code(session, programme),
            request=request,
            actor=shared.actor(actor),
            now=utcnow(),
        )
    )
    if json_output:
        print_json({"data": [v.model_dump(mode="json") for v in made], "count": len(made)})
        return
    table = shared.table(f"{len(made)} vouchers", "code", "value", "uses", "valid until")
    for voucher in made:
        table.add_row(
            voucher.code,
            f"{voucher.value} {voucher.currency}",
            str(voucher.max_uses),
            shared.when(voucher.valid_until, zone),
        )
    shared.console().print(table)


@app.command("audit")
def audit(
    programme: str | None = typer.Option(
        None, "--programme", "-p", help="Only this programme (default: all)."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="The newest N records."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Who changed what, newest first: programme settings, rewards, points booked by hand."""
    from patron.loyalty import setup

    def load(session: Session) -> list[dict[str, Any]]:
        records = setup.audit_log(session, programme_code=programme, limit=limit)
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "programme_id": r.programme_id,
                "action": r.action,
                "subject": r.subject,
                "details": r.details,
            }
            for r in records
        ]

    records, zone = shared.run(load)
    if json_output:
        print_json({"data": records, "count": len(records)})
        return
    table = shared.table("Audit log", "#", "when", "actor", "action", "subject", "details")
    for record in records:
        table.add_row(
            str(record["id"]),
            shared.when(record["at"], zone),
            record["actor"],
            record["action"],
            record["subject"] or "",
            _short(record["details"]),
        )
    shared.print_or_none(table, "nothing recorded yet")


def _read_file(file: Path) -> ProgrammeSpec:
    """A programme file: YAML, which JSON is a part of."""
    import yaml

    from patron.loyalty.programme import ProgrammeError, read_spec

    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ProgrammeError(
            f"{file.name} is neither YAML nor JSON: {error}", details={"file": str(file)}
        ) from None
    return read_spec(document, source=file.name)


def _short(details: Any, width: int = 80) -> str:
    import json

    text = json.dumps(details, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"
