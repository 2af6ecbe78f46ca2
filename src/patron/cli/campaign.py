"""``patron campaign``: segments, templates, journeys, campaigns and their messages.

Commands parse, call ``patron.engage`` and print; with ``--json`` exactly one document. The
worker (``patron worker``) runs what is scheduled and due, and sends what is queued; ``run``
here runs one campaign at once.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli import campaign_report
from patron.cli.output import JSON_OPTION, console, in_session, print_json, runtime, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from patron.engage.schemas import CampaignPublic

app = typer.Typer(
    help="Engagement: segments, message templates, journeys and campaigns, with holdout groups.",
    no_args_is_help=True,
)
app.command("report")(campaign_report.report)
app.command("experiment")(campaign_report.experiment)
CAMPAIGN = typer.Argument(..., help="The campaign's id or key.")


def _now() -> datetime:
    from patron.db import utcnow

    return utcnow()


def _campaign_id(session: Session, campaign: str) -> int:
    from patron.engage import campaigns

    return campaigns.get(session, campaign).id


# --- segments ----------------------------------------------------------------------------------


@app.command("segment")
def segment(
    text: str = typer.Argument(..., help="A filter, e.g. 'abc = \"A\" and p_alive < 0.5'."),
    sample: int = typer.Option(10, "--sample", min=0, max=100, help="Customers to show."),
    json_output: bool = JSON_OPTION,
) -> None:
    """How many customers a segment holds now, and the first few of them."""
    from patron.engage import audience

    found = in_session(lambda s: audience.preview(s, text=text, sample=sample))
    if json_output:
        print_json({"segment": text, "count": found.count, "sample": found.sample})
        return
    out = console()
    out.print(f"[bold]{found.count}[/] customers match {text}")
    if found.sample:
        shown = table("First customers", "#", "external id", "name", "e-mail")
        for row in found.sample:
            shown.add_row(
                str(row["id"]), row["external_id"] or "", row["name"] or "", row["email"] or ""
            )
        out.print(shown)
    if found.snapshot_id is None:
        out.print("[dim]No analytics snapshot yet: score fields are empty (patron analyze).[/]")


@app.command("fields")
def fields(json_output: bool = JSON_OPTION) -> None:
    """The fields a segment may name, with their types."""
    from patron.engage import audience

    found = audience.catalogue()
    if json_output:
        print_json(
            [
                {"name": f.name, "type": f.type.value, "meaning": f.description}
                for f in found.values()
            ]
        )
        return
    shown = table("Segment fields", "field", "type", "meaning", no_wrap=("field",))
    for item in found.values():
        shown.add_row(item.name, item.type.value, item.description)
    console().print(shown)


# --- templates -----------------------------------------------------------------------------------


@app.command("templates")
def templates(json_output: bool = JSON_OPTION) -> None:
    """The message templates (the shipped ones are installed first if missing)."""
    from patron.engage import authoring, library

    def work(session: Session) -> Any:
        library.install(session, now=_now())
        session.commit()
        return authoring.listed(session)

    found = in_session(work)
    if json_output:
        print_json([t.model_dump(mode="json") for t in found])
        return
    shown = table("Templates", "key", "name", "purpose", "languages", "shipped", no_wrap=("key",))
    for item in found:
        shown.add_row(
            item.key,
            item.name,
            item.purpose.value,
            ", ".join(item.languages),
            "yes" if item.shipped else "",
        )
    console().print(shown)


@app.command("template-save")
def template_save(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A YAML or JSON file."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create or change a template from a file with key, name, purpose, subjects and bodies
    (one per language: de, en, nb). It is rendered once with a sample customer first."""
    import yaml

    from patron.cli.loyalty_shared import request
    from patron.engage import authoring
    from patron.engage.schemas import TemplateIn
    from patron.errors import PatronError

    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PatronError(
            f"{file.name} is not YAML or JSON: {exc}", code="template.invalid"
        ) from None
    if not isinstance(loaded, dict):
        raise PatronError(f"{file.name} must hold a mapping", code="template.invalid")
    wanted = request(TemplateIn, **loaded)
    saved = in_session(lambda s: authoring.save(s, wanted, now=_now()))
    if json_output:
        print_json(saved)
    else:
        console().print(f"Template [bold]{saved.key}[/] saved ({', '.join(saved.languages)}).")


@app.command("preview")
def preview(
    template: str = typer.Argument(..., help="The template's key."),
    customer: str = typer.Argument(..., help="Patron id or the shop's external id."),
    html: bool = typer.Option(False, "--html", help="Print the HTML part, not the text part."),
    json_output: bool = JSON_OPTION,
) -> None:
    """The message a real customer would get from a template; nothing is sent."""
    from patron.engage import campaigns

    rt = runtime()
    found = in_session(
        lambda s: campaigns.preview(
            s, template_key=template, customer=customer, settings=rt.settings, now=_now()
        ),
        rt,
    )
    if json_output:
        print_json(found)
        return
    out = console()
    out.print(f"[bold]Subject:[/] {found.subject}   [dim]({found.language})[/]")
    out.print(found.html if html else found.text, markup=False)


# --- journeys and campaigns ---------------------------------------------------------------------


@app.command("journeys")
def journeys_(json_output: bool = JSON_OPTION) -> None:
    """The journeys Patron ships, and which of them are enabled."""
    from sqlalchemy import select

    from patron.engage import journeys
    from patron.engage.models import Campaign

    def work(session: Session) -> dict[str, tuple[int, str]]:
        rows = session.execute(
            select(Campaign.journey, Campaign.id, Campaign.status).where(
                Campaign.kind == "journey", Campaign.status.in_(("active", "paused"))
            )
        )
        return {journey or "": (cid, status) for journey, cid, status in rows}

    enabled = in_session(work)
    rows: list[dict[str, Any]] = [
        {
            "key": j.key,
            "name": j.name,
            "purpose": j.purpose,
            "template": j.template,
            "description": j.description,
            "campaign": enabled.get(j.key, (None, None))[0],
            "status": enabled.get(j.key, (None, "off"))[1],
        }
        for j in journeys.JOURNEYS.values()
    ]
    if json_output:
        print_json(rows)
        return
    shown = table("Journeys", "key", "name", "purpose", "status", "campaign", no_wrap=("key",))
    for row in rows:
        shown.add_row(
            row["key"], row["name"], row["purpose"], row["status"], str(row["campaign"] or "")
        )
    console().print(shown)


@app.command("enable")
def enable(
    journey: str = typer.Argument(..., help="A journey's key (see `patron campaign journeys`)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Switch on a shipped journey with its template and default settings."""
    from patron.engage import campaigns

    made = in_session(lambda s: campaigns.enable_journey(s, journey, actor="cli", now=_now()))
    _print_campaign(made, json_output, done="enabled")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The campaign's name."),
    template: str = typer.Option(..., "--template", help="The template of variant A."),
    segment: str | None = typer.Option(None, "--segment", help="Who gets it (everyone if absent)."),
    variant: list[str] = typer.Option(
        [], "--variant", help="A further variant as NAME=TEMPLATE (repeat for more)."
    ),
    holdout: float = typer.Option(0.1, "--holdout", min=0.0, max=0.99, help="Holdout share."),
    window: int = typer.Option(30, "--window", min=1, help="Days after sending that count."),
    at: datetime | None = typer.Option(None, "--at", help="Send at (ISO time, UTC if no offset)."),
    channel: str = typer.Option("email", "--channel", help="email, sms or push."),
    purpose: str | None = typer.Option(None, "--purpose", help="marketing or transactional."),
    key: str | None = typer.Option(None, "--key", help="A stable key (made from the name)."),
    invitation: bool = typer.Option(
        False, "--invitation", help="An event invitation: contacts that went quiet come first."
    ),
    capacity: int | None = typer.Option(
        None, "--capacity", min=1, help="Most customers to assign."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """A one-off campaign: a draft, or scheduled with --at (`run` sends a draft at once)."""
    from datetime import UTC

    from patron.cli.loyalty_shared import request
    from patron.engage import campaigns
    from patron.engage.schemas import CampaignCreate
    from patron.errors import PatronError

    variants = [{"name": "A", "template": template}]
    for given in variant:
        name_, _, template_ = given.partition("=")
        if not name_ or not template_:
            raise PatronError(
                f"--variant {given!r}: write it as NAME=TEMPLATE", code="campaign.invalid"
            )
        variants.append({"name": name_, "template": template_})
    settings: dict[str, Any] = {}
    if capacity is not None:
        settings["capacity"] = capacity
    wanted = request(
        CampaignCreate,
        name=name,
        key=key,
        segment=segment,
        variants=variants,
        holdout_share=holdout,
        window_days=window,
        scheduled_at=at if at is None or at.tzinfo else at.replace(tzinfo=UTC),
        channel=channel,
        purpose=purpose,
        journey="event_invitation" if invitation else None,
        settings=settings,
    )
    made = in_session(lambda s: campaigns.create(s, wanted, actor="cli", now=_now()))
    _print_campaign(made, json_output, done="created")


@app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status", help="Only campaigns in this status."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Every campaign, newest first, with its members and messages."""
    from patron.engage import campaigns

    found = in_session(lambda s: campaigns.list_campaigns(s, status=status))
    if json_output:
        print_json(found)
        return
    shown = table(
        "Campaigns",
        "#",
        "name",
        "kind",
        "status",
        "members",
        "holdout",
        "sent",
        "queued",
        right=("#", "members", "holdout", "sent", "queued"),
    )
    for item in found.data:
        members = sum(n for k, n in item.counts.items() if k.startswith("group:"))
        shown.add_row(
            str(item.id),
            item.name,
            item.journey or "one-off",
            item.status,
            str(members),
            str(item.counts.get("group:holdout", 0)),
            str(item.counts.get("sent", 0)),
            str(item.counts.get("queued", 0)),
        )
    console().print(shown)


@app.command("show")
def show(campaign: str = CAMPAIGN, json_output: bool = JSON_OPTION) -> None:
    """One campaign with its settings and counts."""
    from patron.engage import campaigns

    found = in_session(lambda s: campaigns.public(s, campaigns.get(s, campaign)))
    _print_campaign(found, json_output, done=None)


@app.command("run")
def run(campaign: str = CAMPAIGN, json_output: bool = JSON_OPTION) -> None:
    """Run a campaign now: draw the holdout, render, and queue the messages."""
    from patron.engage import campaigns

    rt = runtime()
    done = in_session(
        lambda s: campaigns.run(s, _campaign_id(s, campaign), settings=rt.settings, now=_now()),
        rt,
    )
    if json_output:
        print_json(done)
        return
    console().print(
        f"Campaign {done.campaign_id}: {done.candidates} named, {done.control_group} in the "
        f"control group, {done.unreachable} unreachable, {done.already} assigned before; "
        f"{done.holdout} held out, [bold]{done.queued}[/] messages queued "
        f"({done.deferred} for later: cap or quiet hours)."
    )


@app.command("schedule")
def schedule(
    campaign: str = CAMPAIGN,
    at: datetime = typer.Option(..., "--at", help="When (ISO time, UTC if no offset)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Schedule a draft or paused one-off campaign."""
    from datetime import UTC

    from patron.engage import campaigns

    when = at if at.tzinfo else at.replace(tzinfo=UTC)
    done = in_session(lambda s: campaigns.schedule(s, _campaign_id(s, campaign), at=when))
    _print_campaign(done, json_output, done="scheduled")


@app.command("pause")
def pause(campaign: str = CAMPAIGN, json_output: bool = JSON_OPTION) -> None:
    """Pause a campaign: it does not run, and its queued messages wait."""
    from patron.engage import campaigns

    done = in_session(lambda s: campaigns.pause(s, _campaign_id(s, campaign)))
    _print_campaign(done, json_output, done="paused")


@app.command("resume")
def resume(campaign: str = CAMPAIGN, json_output: bool = JSON_OPTION) -> None:
    """Resume a paused campaign."""
    from patron.engage import campaigns

    done = in_session(lambda s: campaigns.resume(s, _campaign_id(s, campaign)))
    _print_campaign(done, json_output, done="resumed")


@app.command("cancel")
def cancel(campaign: str = CAMPAIGN, json_output: bool = JSON_OPTION) -> None:
    """Cancel a campaign for good; its queued messages are cancelled."""
    from patron.engage import campaigns

    done = in_session(lambda s: campaigns.cancel(s, _campaign_id(s, campaign), now=_now()))
    _print_campaign(done, json_output, done="cancelled")


@app.command("messages")
def messages_(
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign's."),
    status: str | None = typer.Option(None, "--status", help="queued, sent, bounced …"),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    json_output: bool = JSON_OPTION,
) -> None:
    """The newest messages."""
    from patron.engage import messages

    def work(session: Session) -> Any:
        campaign_id = _campaign_id(session, campaign) if campaign else None
        return messages.listed(session, campaign_id=campaign_id, status=status, limit=limit)

    found = in_session(work)
    if json_output:
        print_json(found)
        return
    shown = table("Messages", "#", "to", "subject", "status", "send after", "sent", no_wrap=("to",))
    for m in found.data:
        shown.add_row(
            str(m.id),
            m.recipient,
            m.subject,
            m.status,
            f"{m.send_after:%Y-%m-%d %H:%M}",
            f"{m.sent_at:%Y-%m-%d %H:%M}" if m.sent_at else "",
        )
    console().print(shown)


@app.command("send")
def send(
    customer: str = typer.Argument(..., help="Patron id or the shop's external id."),
    template: str = typer.Argument(..., help="The template's key."),
    key: str = typer.Option(..., "--key", help="Idempotency key: sending it again does nothing."),
    channel: str = typer.Option("email", "--channel"),
    var: list[str] = typer.Option(
        [], "--var", help="A template variable as NAME=VALUE; dots nest (order.number=1001)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Queue a transactional message to one customer (no marketing consent needed)."""
    from patron.engage import transactional

    variables = _variables(var)
    rt = runtime()
    message, created = in_session(
        lambda s: transactional.send(
            s,
            customer=customer,
            template_key=template,
            channel=channel,
            key=key,
            variables=variables,
            settings=rt.settings,
            now=_now(),
        ),
        rt,
    )
    if json_output:
        print_json({"created": created, "message": message.model_dump(mode="json")})
        return
    what = "queued" if created else "was queued before"
    console().print(f"Message {message.id} to {message.recipient} {what}: {message.subject}")


def _variables(given: list[str]) -> dict[str, Any]:
    """``order.number=1001`` → ``{"order": {"number": "1001"}}``."""
    from patron.errors import PatronError

    found: dict[str, Any] = {}
    for item in given:
        name, sep, value = item.partition("=")
        parts = name.strip().split(".")
        if not sep or not all(parts):
            raise PatronError(f"--var {item!r}: write it as NAME=VALUE", code="message.invalid")
        place = found
        for part in parts[:-1]:
            place = place.setdefault(part, {})
            if not isinstance(place, dict):
                raise PatronError(f"--var {item!r} nests under a value", code="message.invalid")
        place[parts[-1]] = value
    return found


def _print_campaign(found: CampaignPublic, json_output: bool, *, done: str | None) -> None:
    if json_output:
        print_json(found)
        return
    out = console()
    if done:
        out.print(f"Campaign [bold]{found.id}[/] ({found.key}) {done}: {found.status}.")
    shown = table(f"Campaign {found.id}: {found.name}", "", "")
    shown.add_row("key", found.key)
    shown.add_row("kind", found.journey or "one-off")
    shown.add_row("status", found.status)
    shown.add_row("segment", found.segment or "everyone")
    shown.add_row("channel / purpose", f"{found.channel.value} / {found.purpose.value}")
    shown.add_row(
        "variants", ", ".join(f"{v.name}={v.template} ({v.weight:g})" for v in found.variants)
    )
    shown.add_row("holdout", f"{found.holdout_share:.0%}")
    shown.add_row("window", f"{found.window_days} days")
    if found.scheduled_at:
        shown.add_row("scheduled", f"{found.scheduled_at:%Y-%m-%d %H:%M} UTC")
    for name, count in sorted(found.counts.items()):
        shown.add_row(name.replace("group:", "group "), str(count))
    out.print(shown)
