"""``patron subscription …``: subscriptions and delivery contracts from the command line.

Commands parse, call ``patron.subscriptions`` and print; with ``--json`` exactly one document.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from patron.subscriptions.schemas import SubscriptionCreate, SubscriptionPublic

app = typer.Typer(
    help="Subscriptions: list, create, pause, cancel, due deliveries, reports.",
    no_args_is_help=True,
)

ACTOR = typer.Option("cli", "--by", help="Who does it, for the history (default: cli).")
KEY = typer.Argument(..., help="The subscription's key (S-000123 or the shop's own).")
JSON = typer.Option(False, "--json", help="One JSON document.")


# --- subscriptions: list, show, create, pause, resume, skip, cancel ------------------------------


def _now() -> datetime:
    from patron.db import utcnow

    return utcnow()


def _say(made: SubscriptionPublic, what: str, json_output: bool) -> None:
    from patron.cli.output import console, print_json

    if json_output:
        print_json(made)
        return
    due = made.next_due.isoformat() if made.next_due else "–"
    ends = f", ends on {made.ends_on}" if made.ends_on else ""
    console().print(f"{what} [bold]{made.key}[/]: {made.status}, next delivery {due}{ends}.")


@app.command("list")
def list_subscriptions(
    status: str | None = typer.Option(None, "--status", help="active, paused or cancelled."),
    customer: str | None = typer.Option(None, "--customer", help="One customer's (key)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    json_output: bool = JSON,
) -> None:
    """Subscriptions, newest first."""
    from patron.cli.output import console, in_session, print_json, table
    from patron.subscriptions import service

    found = in_session(
        lambda s: service.list_subscriptions(
            s, status=status, customer=customer, limit=limit, now=_now()
        )
    )
    if json_output:
        print_json(found)
        return
    shown = table(
        f"Subscriptions ({found.count})",
        "key",
        "customer",
        "rhythm",
        "status",
        "next",
        "per month",
        right=("per month",),
    )
    for sub in found.data:
        rhythm = f"{sub.interval.count} × {sub.interval.unit}"
        monthly = f"{sub.monthly_value} {sub.currency}" if sub.monthly_value is not None else "–"
        due = sub.next_due.isoformat() if sub.next_due else "–"
        shown.add_row(sub.key, sub.customer, rhythm, sub.status, due, monthly)
    console().print(shown)


@app.command("show")
def show(key: str = KEY, json_output: bool = JSON) -> None:
    """One subscription: items, prices, contract dates and its history."""
    from patron.cli.output import console, in_session, print_json, table
    from patron.subscriptions import service

    made, past = in_session(lambda s: (service.get(s, key, now=_now()), service.history(s, key)))
    if json_output:
        print_json({"subscription": made.model_dump(mode="json"), "history": past.data})
        return
    out = console()
    _say(made, "Subscription", False)
    out.print(
        f"Customer {made.customer} · every {made.interval.count} {made.interval.unit}(s) · "
        f"{made.delivery_value} {made.currency} a delivery, {made.monthly_value} a month"
        + (f" · {made.benefit}" if made.benefit else "")
    )
    out.print(
        f"Contract from {made.started_on}: term ends {made.term_ends_on or '–'}, notice "
        f"deadline {made.notice_deadline or '–'}, earliest end {made.earliest_end or '–'}"
    )
    items = table("Items", "sku", "product", "quantity", "price", "total")
    for item in made.items:
        items.add_row(
            item.sku,
            item.product_name or "",
            str(item.quantity),
            str(item.effective_price),
            str(item.line_total),
        )
    out.print(items)
    lines = table("History", "when", "what", "by", "why")
    for line in past.data:
        lines.add_row(f"{line.at:%Y-%m-%d %H:%M}", line.kind, line.actor, line.reason or "")
    out.print(lines)


@app.command("create")
def create(
    customer: str = typer.Argument(..., help="The customer's external id or number."),
    item: list[str] = typer.Option(
        ..., "--item", help="SKU, SKU:QUANTITY or SKU:QUANTITY:PRICE (repeatable)."
    ),
    every: str = typer.Option("1 month", "--every", help="The rhythm: 2 weeks, 30 days, 1 month."),
    first_due: str | None = typer.Option(None, "--first", help="First delivery (YYYY-MM-DD)."),
    started_on: str | None = typer.Option(None, "--start", help="Contract start (YYYY-MM-DD)."),
    discount: str | None = typer.Option(None, "--discount", help="Subscriber discount in %."),
    benefit: str | None = typer.Option(None, "--benefit", help="A benefit: free delivery…"),
    minimum_term: int = typer.Option(0, "--minimum-term", help="Minimum term in months."),
    notice_days: int = typer.Option(0, "--notice-days", help="Notice period in days."),
    renewal: int = typer.Option(0, "--renewal", help="Renews by months (0: runs on)."),
    key: str | None = typer.Option(None, "--key", help="The shop's reference (idempotent)."),
    actor: str = ACTOR,
    json_output: bool = JSON,
) -> None:
    """Create a subscription (source: staff)."""
    from patron.cli.output import in_session, runtime
    from patron.subscriptions import service

    request = _request(
        {
            "key": key,
            "customer": customer,
            "items": [_item(text) for text in item],
            "interval": _every(every),
            "first_due": first_due,
            "started_on": started_on,
            "discount_percent": discount,
            "benefit": benefit,
            "minimum_term_months": minimum_term,
            "notice_days": notice_days,
            "renewal_months": renewal,
            "source": "staff",
        }
    )
    rt = runtime()
    made, created = in_session(
        lambda s: service.create_or_repeat(
            s, request, settings=rt.settings, actor=actor, now=_now()
        ),
        rt,
    )
    _say(made, "Created" if created else "Found (same key)", json_output)


def _request(values: dict[str, Any]) -> SubscriptionCreate:
    from pydantic import ValidationError

    from patron.errors import PatronError
    from patron.subscriptions.schemas import SubscriptionCreate

    try:
        return SubscriptionCreate.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PatronError(f"{where}: {first['msg']}", code="request.invalid") from None


def _item(text: str) -> dict[str, str]:
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not parts[0]:
        from patron.errors import PatronError

        raise PatronError(
            f"--item {text!r}: write SKU, SKU:QUANTITY or SKU:QUANTITY:PRICE",
            code="request.invalid",
        )
    return dict(zip(("sku", "quantity", "unit_price"), parts, strict=False))


def _every(text: str) -> dict[str, object]:
    from patron.errors import PatronError

    words = text.split()
    count, unit = (words[0], words[1]) if len(words) == 2 else ("1", words[0] if words else "")
    unit = unit.rstrip("s")
    if not count.isdigit() or unit not in ("day", "week", "month"):
        raise PatronError(
            f"--every {text!r}: write a number and days, weeks or months (2 weeks)",
            code="request.invalid",
        )
    return {"unit": unit, "count": int(count)}


@app.command("pause")
def pause(
    key: str = KEY,
    until: str | None = typer.Option(
        None, "--until", help="The first day it runs again (YYYY-MM-DD); none: until resumed."
    ),
    actor: str = ACTOR,
    json_output: bool = JSON,
) -> None:
    """Pause a subscription (at most 183 days ahead)."""
    from patron.cli.output import in_session
    from patron.subscriptions import service

    day = _day(until, "--until")
    made = in_session(lambda s: service.pause(s, key, until=day, actor=actor, now=_now()))
    _say(made, "Paused", json_output)


@app.command("resume")
def resume(key: str = KEY, actor: str = ACTOR, json_output: bool = JSON) -> None:
    """Resume a paused subscription now."""
    from patron.cli.output import in_session
    from patron.subscriptions import service

    made = in_session(lambda s: service.resume(s, key, actor=actor, now=_now()))
    _say(made, "Resumed", json_output)


@app.command("skip")
def skip(key: str = KEY, actor: str = ACTOR, json_output: bool = JSON) -> None:
    """Skip the next delivery (not once it was announced to the shop)."""
    from patron.cli.output import in_session
    from patron.subscriptions import service

    made = in_session(lambda s: service.skip(s, key, actor=actor, now=_now()))
    _say(made, "Skipped a delivery of", json_output)


@app.command("cancel")
def cancel(
    key: str = KEY,
    reason: str = typer.Option(
        ...,
        "--reason",
        help="too_expensive, too_much_product, quality, delivery_problems, "
        "switching_supplier, no_longer_needed, moving or other.",
    ),
    note: str | None = typer.Option(None, "--note", help="The customer's words."),
    actor: str = ACTOR,
    json_output: bool = JSON,
) -> None:
    """Cancel at the earliest end the contract allows; deliveries continue until then."""
    from patron.cli.output import in_session, runtime
    from patron.subscriptions import service

    rt = runtime()
    made = in_session(
        lambda s: service.cancel(
            s, key, reason=reason, note=note, actor=actor, settings=rt.settings, now=_now()
        )
    )
    _say(made, "Cancelled", json_output)


# --- deliveries: the due list, its export, fulfilment (the worker opens them each round) -----


@app.command("due")
def due(
    status: list[str] = typer.Option(
        ["announced"], "--status", help="due, announced, fulfilled, skipped, cancelled."
    ),
    since: str | None = typer.Option(None, "--from", help="Due on or after (YYYY-MM-DD)."),
    until: str | None = typer.Option(None, "--to", help="Due on or before (YYYY-MM-DD)."),
    open_now: bool = typer.Option(
        False, "--open", help="First open what is due now, as the worker's round does."
    ),
    json_output: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """The deliveries the shop is to fulfil, by due day (announced, not yet fulfilled)."""
    from patron.cli.output import console, in_session, print_json, runtime, table
    from patron.db import utcnow
    from patron.subscriptions import deliveries, fulfilment

    rt = runtime()

    def work(session: Session) -> fulfilment.DeliveriesPublic:
        if open_now:
            deliveries.resume_paused(session, settings=rt.settings, now=utcnow())
            deliveries.open_due(session, settings=rt.settings, now=utcnow())
        return fulfilment.due_deliveries(
            session, status=status, since=_day(since, "--from"), until=_day(until, "--to")
        )

    found = in_session(work, rt)
    if json_output:
        print_json(found)
        return
    shown = table(
        f"{found.count} deliveries", "reference", "customer", "due", "status", "items", "total"
    )
    for d in found.data:
        items = ", ".join(f"{i.quantity} × {i.sku}" for i in d.items)
        total = f"{d.total} {d.currency}" if d.total is not None else "–"
        shown.add_row(d.reference, d.customer, d.due_on.isoformat(), d.status, items, total)
    console().print(shown)


@app.command("export")
def export(
    format_: str = typer.Option("csv", "--format", help="csv (a pick list) or json."),
    status: list[str] = typer.Option(["announced"], "--status", help="As for `due`."),
    since: str | None = typer.Option(None, "--from", help="Due on or after (YYYY-MM-DD)."),
    until: str | None = typer.Option(None, "--to", help="Due on or before (YYYY-MM-DD)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="A file (default: stdout)."),
) -> None:
    """Export the due deliveries for the shop or warehouse: CSV, one row per item, or JSON."""
    from patron.cli.output import in_session
    from patron.errors import PatronError
    from patron.subscriptions import fulfilment

    if format_ not in ("csv", "json"):
        raise PatronError(f"--format {format_!r}: choose csv or json", code="request.invalid")
    found = in_session(
        lambda s: fulfilment.due_deliveries(
            s, status=status, since=_day(since, "--from"), until=_day(until, "--to")
        )
    )
    text = fulfilment.to_csv(found) if format_ == "csv" else fulfilment.to_json(found) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command("fulfil")
def fulfil(
    reference: str = typer.Argument(..., help="The delivery's reference (S-000123/2026-12-01)."),
    order: str = typer.Option(..., "--order", help="The order's external id."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Record which order fulfilled a delivery (imported orders with subscription_ref are
    linked without this)."""
    from patron.cli.output import console, in_session, print_json
    from patron.db import utcnow
    from patron.subscriptions import fulfilment

    done = in_session(lambda s: fulfilment.fulfil(s, reference, order=order, now=utcnow()))
    if json_output:
        print_json(done)
        return
    console().print(f"Delivery [bold]{done.reference}[/] fulfilled by order {done.order}.")


def _day(value: str | None, option: str) -> date | None:
    from patron.errors import PatronError

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PatronError(
            f"{option} {value!r}: write a day as YYYY-MM-DD", code="request.invalid"
        ) from None


# --- reports and offers ----------------------------------------------------------------------


@app.command("report")
def report(
    since: str | None = typer.Option(None, "--from", help="The period's first day (YYYY-MM-DD)."),
    until: str | None = typer.Option(None, "--to", help="Its last day (default: today)."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """In force, MRR, subscriber churn and its reasons, revenue share, CLV against similar
    customers (an association, not proof of an effect), and what offers brought."""
    from patron.cli.output import console, in_session, print_json, runtime, table
    from patron.subscriptions import reports

    rt = runtime()
    found = in_session(
        lambda s: reports.report(
            s,
            settings=rt.settings,
            now=_now(),
            since=_day(since, "--from"),
            until=_day(until, "--to"),
        ),
        rt,
    )
    if json_output:
        print_json(found)
        return
    out = console()
    last = found.churn.last_month
    churn = f"{last.rate:.1%}" if last is not None and last.rate is not None else "–"
    out.print(
        f"As of {found.as_of}: [bold]{found.active.in_force}[/] subscriptions in force "
        f"({found.active.subscribers} subscribers), MRR [bold]{found.mrr.mrr} {found.currency}[/], "
        f"subscriber churn last month {churn}."
    )
    months = table("MRR", "month", "MRR", "subscriptions", right=("MRR", "subscriptions"))
    for month in found.mrr.by_month:
        months.add_row(month.month.strftime("%Y-%m"), str(month.mrr), str(month.subscriptions))
    out.print(months)
    share = found.revenue
    if share.subscriber_share is not None:
        out.print(
            f"{share.since} – {share.until}: subscribers {share.subscriber_share:.1%} of revenue, "
            f"deliveries {share.delivery_share or 0:.1%}."
        )
    reasons = [r for r in found.churn.reasons if r.cancellations]
    if reasons:
        out.print("Reasons: " + ", ".join(f"{r.reason} {r.cancellations}" for r in reasons))
    clv = found.clv
    if clv.difference is not None:
        out.print(
            f"CLV subscribers {clv.subscriber_mean:.2f} vs similar {clv.comparison_mean:.2f}: "
            f"{clv.difference:+.2f} (95 % {clv.low:.2f} to {clv.high:.2f}), "
            f"{clv.subscribers_matched} subscribers in {clv.strata} strata. {clv.note}"
        )


@app.command("offer")
def offer(
    customer: str | None = typer.Option(
        None, "--customer", help="One customer (key); default: every current candidate."
    ),
    discount: str | None = typer.Option(None, "--discount", help="Subscriber discount in %."),
    benefit: str | None = typer.Option(None, "--benefit", help='E.g. "free delivery".'),
    url: str | None = typer.Option(None, "--url", help="Where to subscribe (default: portal)."),
    candidates_only: bool = typer.Option(
        False, "--candidates", help="Only list the candidates; offer nothing."
    ),
    actor: str = ACTOR,
    json_output: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Offer regular buyers a subscription of their regular product in their own rhythm, as
    marketing through engagement (consent, control group, holdout, frequency cap)."""
    from pydantic import ValidationError

    from patron.cli.output import console, in_session, print_json, runtime, table
    from patron.errors import PatronError
    from patron.subscriptions import offers

    rt = runtime()
    if candidates_only:
        found = in_session(lambda s: offers.candidates(s, now=_now()), rt)
        if json_output:
            print_json({"data": found, "count": len(found)})
            return
        shown = table(f"{len(found)} candidates", "customer", "product", "every", "offered")
        for c in found:
            offered = c.offered_at.date().isoformat() if c.offered_at else "–"
            shown.add_row(c.customer, c.product, f"{c.count} {c.unit}", offered)
        console().print(shown)
        return
    try:
        wanted = offers.OfferIn(
            customer=customer, discount_percent=discount, benefit=benefit, url=url
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise PatronError(
            f"--{first['loc'][0]}: {first['msg']}".replace("_percent", ""), code="request.invalid"
        ) from None
    done = in_session(
        lambda s: offers.offer(s, wanted, settings=rt.settings, actor=actor, now=_now()), rt
    )
    if json_output:
        print_json(done)
        return
    console().print(
        f"Offers queued: [bold]{done.queued}[/] of {done.candidates} candidates; left out: "
        f"{done.offered_recently} offered recently, {done.control_group} control group, "
        f"{done.unreachable} unreachable, {done.holdout} holdout."
    )
