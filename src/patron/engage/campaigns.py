"""Campaigns: create, schedule, pause, run — from an audience to rendered messages in the outbox.

A run, in one transaction:

1. **Who** — a one-off campaign takes its segment (everyone without one); a journey asks its
   trigger who is due now (``triggers.due``) and keeps those in its segment, if it has one.
2. **Left out** — for marketing, the global control group (it never gets marketing, so every
   campaign's effect can be measured against it); then whoever cannot be reached on the
   channel (no consent, no address, suppressed); then whoever this campaign assigned before on
   the same occasion. Leaving out the unreachable *before* the draw keeps the holdout
   comparable: treatment and holdout hold only customers the message could have reached.
3. **The draw** — the stable hash draw of ``holdout.campaign_groups`` puts each customer in
   the holdout or a variant; every one is recorded in ``campaign_members`` (the report's
   population: intention to treat).
4. **The messages** — for the treated: a personal context (``context.contexts``), the
   variant's template rendered in the customer's language, a send time that keeps the
   frequency cap and the quiet hours of the customer's time zone (``pacing``), and one row
   each in the message outbox. The worker sends them.

Because members are unique per (campaign, customer, occasion) and messages per key, running a
campaign twice — or two workers running it at once — queues nothing twice.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.db import insert_new
from patron.engage import audience, context, holdout, journeys, library, messages, pacing
from patron.engage import triggers as triggering
from patron.engage.models import Campaign, CampaignMember, Message, MessageTemplate
from patron.engage.rendering import Rendered, render
from patron.engage.schemas import (
    CampaignCreate,
    CampaignKind,
    CampaignPublic,
    CampaignsPublic,
    PreviewPublic,
    RunPublic,
    VariantIn,
)
from patron.errors import Conflict, NotFound, PatronError

# What may happen to a campaign in each status.
JOURNEY_EVERY = timedelta(minutes=1)
CAN_SCHEDULE = ("draft", "paused")
# A one-off is done once it has run; pausing or cancelling it then holds or drops what is still
# queued (messages the frequency cap or the quiet hours put off). It never runs again: a paused
# one-off is scheduled only if it has not run, and resuming one that has brings it back to done.
CAN_PAUSE = ("scheduled", "active", "done")
CAN_RESUME = ("paused",)
CAN_CANCEL = ("draft", "scheduled", "active", "paused", "done")
PREVIEW_VOUCHER = {"code": "PREV-IEW0-0000", "value": "10.00", "valid_until": None}


class CampaignProblem(PatronError):
    code = "campaign.invalid"
    status = 422


# --- create and change ---------------------------------------------------------------------


def create(
    session: Session, request: CampaignCreate, *, actor: str | None, now: datetime
) -> CampaignPublic:
    """A new campaign, checked: its segment parses, its templates exist, its journey is known,
    its settings are ones it can run with (a wrong one is refused naming it, ``journey.invalid``,
    rather than failing each time the worker runs it).

    A one-off campaign with ``scheduled_at`` is scheduled; without, it is a draft (``schedule``
    or ``run_now`` sends it). A journey starts active: it reaches customers as they become due.
    A transactional journey holds nobody out unless ``holdout_share`` is given: a customer in
    its holdout would never get the note about their own order or complaint.
    """
    journey = _journey(request)
    settings = (
        journeys.settings_for(journey.key, request.settings)
        if journey
        else journeys.checked(request.settings)
    )
    variants = request.variants or [VariantIn(name="A", template=_default_template(journey))]
    _check_variants(session, variants)
    purpose = request.purpose.value if request.purpose else _purpose(session, journey, variants)
    if request.segment:
        audience.compile_segment(request.segment)
    key = request.key or _new_key(request.name)
    if session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None:
        raise Conflict(f"a campaign with the key {key!r} exists", code="campaign.exists")
    holdout_share = request.holdout_share
    if (
        request.kind is CampaignKind.journey
        and purpose == journeys.TRANSACTIONAL
        and "holdout_share" not in request.model_fields_set
    ):
        holdout_share = 0.0
    if request.kind is CampaignKind.journey:
        status = "active"
    else:
        status = "scheduled" if request.scheduled_at is not None else "draft"
    campaign = Campaign(
        key=key,
        name=request.name,
        kind=request.kind.value,
        journey=journey.key if journey else None,
        status=status,
        segment=request.segment or None,
        channel=request.channel.value,
        purpose=purpose,
        variants=[v.model_dump() for v in variants],
        holdout_share=holdout_share,
        window_days=request.window_days,
        settings=settings,
        scheduled_at=request.scheduled_at,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.commit()
    return public(session, campaign)


def _journey(request: CampaignCreate) -> journeys.Journey | None:
    if request.kind is CampaignKind.one_off:
        if request.journey is not None and request.journey != "event_invitation":
            raise CampaignProblem(
                "a one-off campaign has no trigger; make it a journey (kind journey)",
                details={"field": "journey"},
            )
        return journeys.JOURNEYS.get(request.journey) if request.journey else None
    if request.journey is None:
        raise CampaignProblem(
            f"a journey needs its trigger: one of {', '.join(sorted(journeys.JOURNEYS))}",
            details={"field": "journey"},
        )
    found = journeys.JOURNEYS.get(request.journey)
    if found is None or request.journey == "event_invitation":
        raise CampaignProblem(
            f"unknown journey {request.journey!r}; choose one of "
            + ", ".join(k for k in sorted(journeys.JOURNEYS) if k != "event_invitation"),
            details={"field": "journey"},
        )
    return found


def _default_template(journey: journeys.Journey | None) -> str:
    if journey is None:
        raise CampaignProblem(
            "a campaign needs at least one variant with a template",
            details={"field": "variants"},
        )
    return journey.template


def _check_variants(session: Session, variants: Sequence[VariantIn]) -> None:
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise CampaignProblem("variant names must differ", details={"field": "variants"})
    keys = {v.template for v in variants}
    known = set(session.scalars(select(MessageTemplate.key).where(MessageTemplate.key.in_(keys))))
    missing = sorted(keys - known)
    if missing:
        raise CampaignProblem(
            f"no template {missing[0]!r}; see `patron campaign templates`",
            details={"field": "variants", "template": missing[0]},
        )


def _purpose(
    session: Session, journey: journeys.Journey | None, variants: Sequence[VariantIn]
) -> str:
    if journey is not None:
        return journey.purpose
    purposes = set(
        session.scalars(
            select(MessageTemplate.purpose).where(
                MessageTemplate.key.in_({v.template for v in variants})
            )
        )
    )
    # One marketing template makes the campaign marketing: consent then decides who gets it.
    return "marketing" if "marketing" in purposes or not purposes else "transactional"


def _new_key(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "campaign"
    return f"{slug}-{secrets.token_hex(3)}"


def enable_journey(
    session: Session, journey_key: str, *, actor: str | None, now: datetime
) -> CampaignPublic:
    """Switch on a shipped journey with its shipped template and settings (once per shop)."""
    found = journeys.JOURNEYS.get(journey_key)
    if found is None or journey_key == "event_invitation":
        raise NotFound(
            f"unknown journey {journey_key!r}; see `patron campaign journeys`",
            code="campaign.unknown_journey",
            details={"known": sorted(k for k in journeys.JOURNEYS if k != "event_invitation")},
        )
    existing = session.scalar(
        select(Campaign).where(
            Campaign.journey == journey_key, Campaign.status.in_(("active", "paused"))
        )
    )
    if existing is not None:
        raise Conflict(
            f"the journey {journey_key!r} is enabled already (campaign {existing.id})",
            code="campaign.exists",
        )
    library.install(session, now=now)
    return create(
        session,
        CampaignCreate(name=found.name, kind=CampaignKind.journey, journey=journey_key),
        actor=actor,
        now=now,
    )


def get(session: Session, campaign: str | int) -> Campaign:
    """A campaign by id or key."""
    found: Campaign | None = None
    ref = str(campaign).strip()
    if ref.isdigit():
        found = session.get(Campaign, int(ref))
    if found is None:
        found = session.scalar(select(Campaign).where(Campaign.key == ref))
    if found is None:
        raise NotFound(f"no campaign {ref!r} (give its id or key)", code="campaign.not_found")
    return found


def schedule(session: Session, campaign_id: int, *, at: datetime) -> CampaignPublic:
    campaign = _locked(session, campaign_id)
    if campaign.kind != "one_off":
        raise Conflict("a journey runs as customers become due", code="campaign.not_one_off")
    _check_status(campaign, CAN_SCHEDULE, "scheduled")
    _check_not_run(campaign, "scheduled")
    campaign.status, campaign.scheduled_at = "scheduled", at
    session.commit()
    return public(session, campaign)


def pause(session: Session, campaign_id: int) -> CampaignPublic:
    """Stop a campaign for now: no new run, and its queued messages wait (the worker skips
    them) until it is resumed."""
    campaign = _locked(session, campaign_id)
    _check_status(campaign, CAN_PAUSE, "paused")
    campaign.status = "paused"
    session.commit()
    return public(session, campaign)


def resume(session: Session, campaign_id: int) -> CampaignPublic:
    campaign = _locked(session, campaign_id)
    _check_status(campaign, CAN_RESUME, "resumed")
    if campaign.kind == "journey":
        campaign.status = "active"
    elif _has_run(campaign):
        campaign.status = "done"  # its run is over; resuming releases the queued messages
    else:
        campaign.status = "scheduled" if campaign.scheduled_at is not None else "draft"
    session.commit()
    return public(session, campaign)


def cancel(session: Session, campaign_id: int, *, now: datetime) -> CampaignPublic:
    """End a campaign for good; what is still queued is cancelled."""
    campaign = _locked(session, campaign_id)
    _check_status(campaign, CAN_CANCEL, "cancelled")
    campaign.status, campaign.finished_at = "cancelled", now
    session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status == "queued")
        .values(status="cancelled", last_error="campaign cancelled")
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return public(session, campaign)


def _locked(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign.not_found")
    return campaign


def _has_run(campaign: Campaign) -> bool:
    """A one-off runs once: after that, it is done (or paused, or cancelled) for good."""
    return campaign.kind == "one_off" and (
        campaign.started_at is not None or campaign.finished_at is not None
    )


def _check_not_run(campaign: Campaign, wanted: str) -> None:
    if _has_run(campaign):
        raise Conflict(
            f"campaign {campaign.id} is a one-off that has run; it cannot be {wanted} again "
            "(create a new campaign to reach the segment once more)",
            code="campaign.wrong_status",
            details={"status": campaign.status},
        )


def _check_status(campaign: Campaign, allowed: tuple[str, ...], wanted: str) -> None:
    if campaign.status not in allowed:
        raise Conflict(
            f"campaign {campaign.id} is {campaign.status}; it cannot be {wanted}",
            code="campaign.wrong_status",
            details={"status": campaign.status},
        )


# --- reading -------------------------------------------------------------------------------


def public(session: Session, campaign: Campaign) -> CampaignPublic:
    return _public(campaign, counts(session, [campaign.id]).get(campaign.id, {}))


def _public(campaign: Campaign, counted: Mapping[str, int]) -> CampaignPublic:
    return CampaignPublic(
        id=campaign.id,
        key=campaign.key,
        name=campaign.name,
        kind=CampaignKind(campaign.kind),
        journey=campaign.journey,
        status=campaign.status,
        segment=campaign.segment,
        channel=campaign.channel,
        purpose=campaign.purpose,
        variants=[VariantIn(**v) for v in campaign.variants],
        holdout_share=campaign.holdout_share,
        window_days=campaign.window_days,
        settings=campaign.settings,
        scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        last_run_at=campaign.last_run_at,
        created_at=campaign.created_at,
        counts=dict(counted),
    )


def counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Members per group (``group:A``, ``group:holdout``) and messages per status."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    if not campaign_ids:
        return found
    for campaign_id, group, n in session.execute(
        select(CampaignMember.campaign_id, CampaignMember.group, func.count())
        .where(CampaignMember.campaign_id.in_(campaign_ids))
        .group_by(CampaignMember.campaign_id, CampaignMember.group)
    ):
        found[campaign_id][f"group:{group}"] = n
    for message_campaign, status, n in session.execute(
        select(Message.campaign_id, Message.status, func.count())
        .where(Message.campaign_id.in_(campaign_ids))
        .group_by(Message.campaign_id, Message.status)
    ):
        if message_campaign is not None:
            found[message_campaign][status] = n
    return found


def list_campaigns(session: Session, *, status: str | None = None) -> CampaignsPublic:
    query = select(Campaign).order_by(Campaign.id.desc())
    if status is not None:
        query = query.where(Campaign.status == status)
    found = list(session.scalars(query))
    counted = counts(session, [c.id for c in found])
    data = [_public(c, counted.get(c.id, {})) for c in found]
    return CampaignsPublic(data=data, count=len(data))


# --- running ---------------------------------------------------------------------------------


@dataclass
class _Run:
    candidates: int = 0
    control_group: int = 0
    unreachable: int = 0
    already: int = 0
    holdout: int = 0
    queued: int = 0
    deferred: int = 0
    problems: list[str] = field(default_factory=list)


def run_due(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Run what is due: scheduled one-offs whose time has come, and every active journey
    that has not run for ``JOURNEY_EVERY`` (the worker calls this every few seconds; a
    journey's triggers look at days, not seconds).

    Each campaign runs in its own transaction; one that fails — a refusal (``PatronError``)
    or a value it cannot run with (``ValueError``, a ``decimal`` error) — is left as it was
    and the others still run (the first error is raised after them).
    """
    journeys_due = (Campaign.status == "active") & (
        Campaign.last_run_at.is_(None) | (Campaign.last_run_at <= now - JOURNEY_EVERY)
    )
    due = list(
        session.scalars(
            select(Campaign.id)
            .where((Campaign.status == "scheduled") & (Campaign.scheduled_at <= now) | journeys_due)
            .order_by(Campaign.id)
        )
    )
    session.rollback()
    totals: dict[str, int] = defaultdict(int)
    failure: Exception | None = None
    for campaign_id in due:
        try:
            done = run(session, campaign_id, settings=settings, now=now)
        except (PatronError, ValueError, ArithmeticError) as error:
            session.rollback()
            failure = failure or error
            continue
        totals["campaigns"] += 1
        totals["queued"] += done.queued
        totals["holdout"] += done.holdout
    if failure is not None:
        raise failure
    return dict(totals)


def run(session: Session, campaign_id: int, *, settings: Settings, now: datetime) -> RunPublic:
    """Run one campaign now (see the module's docstring) and commit."""
    campaign = _locked(session, campaign_id)
    if campaign.status not in ("draft", "scheduled", "active"):
        raise Conflict(
            f"campaign {campaign.id} is {campaign.status}; it does not run",
            code="campaign.wrong_status",
        )
    _check_not_run(campaign, "run")
    done = _Run()
    wanted = _candidates(session, campaign, settings=settings, now=now)
    done.candidates = len(wanted)
    wanted = _without_control_group(campaign, wanted, settings, done)
    addresses = audience.reachable(
        session,
        channel=campaign.channel,
        purpose=campaign.purpose,
        among=sorted({o.customer_id for o in wanted}),
    )
    kept = [o for o in wanted if o.customer_id in addresses]
    done.unreachable = len(wanted) - len(kept)
    kept = _not_yet_assigned(session, campaign, kept, done)
    capacity = campaign.settings.get("capacity")
    if isinstance(capacity, int) and capacity > 0:
        assigned = _assigned(session, campaign.id)
        kept = kept[: max(capacity - assigned, 0)]
    members = _assign(session, campaign, kept, now=now)
    done.holdout = sum(1 for m in members if m.group == holdout.HOLDOUT)
    treated = [m for m in members if m.group != holdout.HOLDOUT]
    outgoing = _messages(session, campaign, treated, addresses, settings=settings, now=now)
    done.deferred = sum(1 for o in outgoing if o.send_after > now)
    done.queued = len(messages.enqueue(session, outgoing, now=now))
    campaign.last_run_at = now
    if campaign.kind == "one_off":
        campaign.started_at = campaign.started_at or now
        campaign.finished_at = now
        campaign.status = "done"
    session.commit()
    return RunPublic(
        campaign_id=campaign.id,
        candidates=done.candidates,
        control_group=done.control_group,
        unreachable=done.unreachable,
        already=done.already,
        holdout=done.holdout,
        queued=done.queued,
        deferred=done.deferred,
    )


def _candidates(
    session: Session, campaign: Campaign, *, settings: Settings, now: datetime
) -> list[triggering.Occasion]:
    """Who the campaign names now, in priority order, on which occasion."""
    segment = audience.compile_segment(campaign.segment) if campaign.segment else None
    if campaign.kind == "one_off":
        query = (
            audience.members(session, segment)
            if segment is not None
            else select(Customer.id).order_by(Customer.id)
        )
        ids = [int(i) for i in session.scalars(query)]
        if campaign.journey == "event_invitation":
            ids = triggering.quiet_first(session, ids)
        return [triggering.Occasion(i, "", {}) for i in ids]
    due = triggering.due(
        session,
        campaign.journey or "",
        campaign.settings,
        now=now,
        timezone=settings.timezone,
        site=settings,
    )
    if segment is None:
        return due
    ids = sorted({o.customer_id for o in due})
    inside: set[int] = set()
    for start in range(0, len(ids), audience.CHUNK):
        part = audience.ids_among(session, Customer.id, ids[start : start + audience.CHUNK])
        inside.update(session.scalars(audience.members(session, segment).where(part)))
    return [o for o in due if o.customer_id in inside]


def _without_control_group(
    campaign: Campaign, wanted: list[triggering.Occasion], settings: Settings, done: _Run
) -> list[triggering.Occasion]:
    if campaign.purpose != "marketing" or not wanted or settings.control_share == 0:
        return wanted
    ids = np.fromiter((o.customer_id for o in wanted), dtype=np.int64, count=len(wanted))
    held = holdout.control_group_mask(ids, share=settings.control_share)
    done.control_group = int(held.sum())
    return [o for o, out in zip(wanted, held, strict=True) if not out]


def _not_yet_assigned(
    session: Session, campaign: Campaign, wanted: list[triggering.Occasion], done: _Run
) -> list[triggering.Occasion]:
    seen = set(
        session.execute(
            select(CampaignMember.customer_id, CampaignMember.occasion).where(
                CampaignMember.campaign_id == campaign.id
            )
        ).all()
    )
    kept, pairs = [], set()
    for occasion in wanted:
        pair = (occasion.customer_id, occasion.occasion)
        if pair in seen or pair in pairs:
            continue
        pairs.add(pair)
        kept.append(occasion)
    done.already = len(wanted) - len(kept)
    return kept


def _assigned(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CampaignMember)
            .where(CampaignMember.campaign_id == campaign_id)
        )
        or 0
    )


@dataclass(frozen=True)
class _Member:
    id: int
    customer_id: int
    occasion: str
    group: str
    context: Mapping[str, Any]


def _assign(
    session: Session, campaign: Campaign, wanted: list[triggering.Occasion], *, now: datetime
) -> list[_Member]:
    """Draw and record each customer's group; the members this run added."""
    if not wanted:
        return []
    variants = [v["name"] for v in campaign.variants]
    weights = [float(v.get("weight", 1.0)) for v in campaign.variants]
    ids = np.fromiter((o.customer_id for o in wanted), dtype=np.int64, count=len(wanted))
    groups = holdout.campaign_groups(
        ids,
        campaign_key=campaign.key,
        holdout_share=campaign.holdout_share,
        variants=variants,
        weights=weights,
    )
    by_pair = {(o.customer_id, o.occasion): o for o in wanted}
    rows = [
        {
            "campaign_id": campaign.id,
            "customer_id": o.customer_id,
            "occasion": o.occasion,
            "group": str(group),
            "assigned_at": now,
        }
        for o, group in zip(wanted, groups, strict=True)
    ]
    added = insert_new(
        session.connection(),
        CampaignMember,
        rows,
        unique=["campaign_id", "customer_id", "occasion"],
        returning=["id", "customer_id", "occasion", "group"],
    )
    return [
        _Member(
            row.id,
            row.customer_id,
            row.occasion,
            row.group,
            by_pair[(row.customer_id, row.occasion)].context,
        )
        for row in added
    ]


def _messages(
    session: Session,
    campaign: Campaign,
    treated: list[_Member],
    addresses: Mapping[int, str],
    *,
    settings: Settings,
    now: datetime,
) -> list[messages.Outgoing]:
    if not treated:
        return []
    templates = {v["name"]: library.template(session, v["template"]) for v in campaign.variants}
    template_keys = {v["name"]: v["template"] for v in campaign.variants}
    needs = frozenset().union(*(context.needs(t) for t in templates.values()))
    ids = [m.customer_id for m in treated]
    personal = context.contexts(
        session,
        ids,
        needs=needs,
        settings=settings,
        now=now,
        channel=campaign.channel,
        purpose=campaign.purpose,
        references={
            m.customer_id: f"campaign:{campaign.key}:{m.customer_id}:{m.occasion}" for m in treated
        },
        campaign_settings=campaign.settings,
        # the greeting's language is the one the message is written in
        languages=templates[campaign.variants[0]["name"]].languages,
    )
    pace = _pacing(session, campaign, ids, settings=settings, now=now)
    journey = journeys.JOURNEYS.get(campaign.journey or "")
    required = journey.requires if journey is not None else ()
    footers = campaign.purpose == "marketing" and campaign.channel == "email"
    out = []
    for member in treated:
        template = templates[member.group]
        mine = personal[member.customer_id]
        if any(not mine.get(name) for name in required):
            continue  # e.g. a cross-sell without anything to recommend: no message
        language = mine["customer"]["language"]
        occasion = context.localise(member.context, language=language, currency=settings.currency)
        values = {**mine, **occasion, "campaign": campaign.name}
        rendered = _render(template, values, language, settings)
        html = rendered.html
        if footers and "unsubscribe_url" not in context.needs(template):
            html += context.footer(
                rendered.language, settings.shop_name, values.get("unsubscribe_url", "")
            )
        out.append(
            messages.Outgoing(
                key=messages.campaign_key(campaign.id, member.customer_id, member.occasion),
                customer_id=member.customer_id,
                channel=campaign.channel,
                purpose=campaign.purpose,
                language=rendered.language,
                recipient=addresses[member.customer_id],
                subject=rendered.subject,
                html=html,
                text=rendered.text if html is rendered.html else _text(html),
                send_after=pace.next(member.customer_id),
                campaign_id=campaign.id,
                member_id=member.id,
                variant=member.group,
                template_key=template_keys[member.group],
            )
        )
    return out


def _render(
    template: Any, values: Mapping[str, Any], language: str | None, settings: Settings
) -> Rendered:
    return render(template, values, language=language, default_language=settings.language)


def _text(html: str) -> str:
    from patron.engage.rendering import plain_text

    return plain_text(html)


@dataclass
class _Pacer:
    """When each next marketing message to a customer may go out. Each answer counts as
    taken, so a customer with two occasions in one run (two price drops) gets the second
    only when the cap allows it."""

    now: datetime
    taken: dict[int, list[datetime]]
    zones: dict[int, str]
    cap: pacing.Cap | None  # None: no pacing (a transactional campaign)
    quiet: pacing.QuietHours
    default_zone: str

    def next(self, customer_id: int) -> datetime:
        if self.cap is None:
            return self.now
        moment = pacing.send_at(
            self.now,
            sent=self.taken[customer_id],
            zone=self.zones.get(customer_id),
            cap=self.cap,
            quiet=self.quiet,
            default_zone=self.default_zone,
        )
        self.taken[customer_id].append(moment)
        return moment


def _pacing(
    session: Session, campaign: Campaign, ids: Sequence[int], *, settings: Settings, now: datetime
) -> _Pacer:
    """When each marketing message may go out: the frequency cap counts the customer's
    marketing messages sent in the window and those still queued, then the quiet hours of
    their time zone (the shop's when theirs is unknown or not a real zone)."""
    if campaign.purpose != "marketing":
        return _Pacer(now, defaultdict(list), {}, None, pacing.QuietHours(), settings.timezone)
    cap = pacing.Cap(settings.marketing_cap, settings.marketing_cap_days)
    quiet = _quiet(settings.quiet_hours)
    since = now - timedelta(days=settings.marketing_cap_days)
    taken: dict[int, list[datetime]] = defaultdict(list)
    zones: dict[int, str | None] = {}
    for start in range(0, len(ids), audience.CHUNK):
        chunk = ids[start : start + audience.CHUNK]
        for customer_id, status, sent_at, send_after in session.execute(
            select(Message.customer_id, Message.status, Message.sent_at, Message.send_after).where(
                audience.ids_among(session, Message.customer_id, chunk),
                Message.purpose == "marketing",
                Message.channel == campaign.channel,
                ((Message.status == "sent") & (Message.sent_at > since))
                | (Message.status == "queued"),
            )
        ):
            moment = sent_at if status == "sent" else send_after
            if customer_id is not None and moment is not None:
                taken[customer_id].append(moment)
        zones |= dict(
            session.execute(
                select(Customer.id, Customer.time_zone).where(
                    audience.ids_among(session, Customer.id, chunk)
                )
            ).all()
        )
    checked = {customer_id: _zone(zones.get(customer_id), settings.timezone) for customer_id in ids}
    return _Pacer(now, taken, checked, cap, quiet, settings.timezone)


def _quiet(hours: str) -> pacing.QuietHours:
    if not hours:
        return pacing.QuietHours(start=datetime.min.time(), end=datetime.min.time())
    start, end = (datetime.strptime(part, "%H:%M").time() for part in hours.split("-"))
    return pacing.QuietHours(start=start, end=end)


_ZONES: dict[str, bool] = {}


def _zone(name: str | None, shop: str) -> str:
    """The customer's zone if it is a real one (checked once per name), else the shop's."""
    if not name:
        return shop
    if name not in _ZONES:
        try:
            pacing.QuietHours().next_waking(datetime.now().astimezone(), name)
            _ZONES[name] = True
        except pacing.BadPacing:
            _ZONES[name] = False
    return name if _ZONES[name] else shop


# --- preview ---------------------------------------------------------------------------------


def preview(
    session: Session,
    *,
    template_key: str,
    customer: str,
    settings: Settings,
    now: datetime,
    channel: str = "email",
    purpose: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> PreviewPublic:
    """The message a real customer would get from a template — nothing is queued, and no
    voucher is issued (a sample code stands in)."""
    found = customers.customer_ref(session, key=customer)
    template = library.template(session, template_key)
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == template_key))
    purpose = purpose or (row.purpose if row is not None else "marketing")
    needs = context.needs(template) - {"voucher"}
    personal = context.contexts(
        session,
        [found.id],
        needs=needs,
        settings=settings,
        now=now,
        channel=channel,
        purpose=purpose,
        references=None,
    )[found.id]
    values = {**personal, **(variables or {}), "voucher": PREVIEW_VOUCHER, "campaign": "Preview"}
    language = session.scalar(select(Customer.language).where(Customer.id == found.id))
    rendered = _render(template, values, language, settings)
    return PreviewPublic(
        customer_id=found.id,
        template=template_key,
        language=rendered.language,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
    )
