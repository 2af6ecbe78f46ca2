"""Events — trade fairs, jubilees, product tests: guest lists from segments, personal invitations,
RSVPs and attendance.

**Invitations go through engagement, as marketing.** An invitation is a personal marketing
message, so it must keep every rule marketing keeps: the latest marketing consent on e-mail
and an address that is not suppressed, the global control group (it never gets marketing, so
every measure's effect stays measurable), the frequency cap and the quiet hours. Engagement's
campaigns do all of that, so ``invite`` does not send on its own: it creates and runs one-off
campaigns of the shipped ``event_invitation`` kind (template and settings: the event's name,
day and place) whose segment is exactly the guests not yet invited (``id in (…)``), without a
campaign holdout (a guest list is a decision, not a sample). The campaign's ``event_key``
setting makes the template's context give each guest their own RSVP link
(``links.rsvp_url``). A segment is at most 2,000 characters, so a long guest list goes out as a
few campaigns (``event-<key>-<n>``), each on the campaigns page with its report.

Guests who cannot be reached (no marketing consent or no usable address, or in the global
control group) get no message and are listed with the reason, never silently dropped; they
stay on the list, uninvited, so a later ``invite`` tries them again.

The RSVP page (``rsvp.py``) reads the signed link: accept (with companions, within the
event's capacity) or decline until the event is over. Staff record attendance: the guest's
``attended_at`` and an ``event_attendance`` interaction on the customer (payload: the event's
key), so the customer 360's timeline shows it and it counts as a contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from patron.care.accounts.schemas import (
    MAX_COMPANIONS,
    AttendancePublic,
    EventCounts,
    EventCreate,
    EventDetailPublic,
    EventPublic,
    EventsPublic,
    EventUpdate,
    GuestPublic,
    GuestsChanged,
    InvitationRunPublic,
    RsvpPublic,
    Unreachable,
)
from patron.care.models import Event, EventGuest
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.db import insert_new
from patron.engage import audience, campaigns, holdout, library, links, segments
from patron.engage import messages as outbox
from patron.engage.schemas import CampaignCreate, CampaignKind
from patron.errors import Conflict, NotFound, PatronError

CHANNEL = "email"
# An invitation link works until the event is over; this only bounds a forgotten one.
RSVP_MAX_DAYS = 2 * 366


class EventProblem(PatronError):
    code = "events.invalid"
    status = 422


class EventOver(PatronError):
    code = "events.over"
    status = 410


# --- the event ---------------------------------------------------------------------------------


def create_event(
    session: Session, request: EventCreate, *, actor: str | None, now: datetime
) -> EventPublic:
    """A new event (planned); its segment, if any, is checked now. Commits."""
    if session.scalar(select(Event.id).where(Event.key == request.key)) is not None:
        raise Conflict(
            f"an event with the key {request.key!r} exists",
            code="events.exists",
            details={"field": "key"},
        )
    _check_times(request.starts_at, request.ends_at)
    if request.segment:
        audience.compile_segment(request.segment)
    event = Event(
        key=request.key,
        name=request.name.strip(),
        kind=request.kind.value,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        place=request.place,
        description=request.description,
        segment=(request.segment or "").strip() or None,
        capacity=request.capacity,
        status="planned",
        created_by=actor,
        created_at=now,
    )
    session.add(event)
    session.commit()
    return public(session, event)


def update_event(session: Session, key: str, request: EventUpdate) -> EventPublic:
    event = get_event(session, key)
    changes = request.model_dump(exclude_unset=True)
    if changes.get("segment"):
        audience.compile_segment(changes["segment"])
    for name in ("name", "starts_at", "kind", "status"):
        if name in changes and changes[name] is None:
            raise EventProblem(f"{name} cannot be empty", details={"field": name})
    _check_times(changes.get("starts_at", event.starts_at), changes.get("ends_at", event.ends_at))
    for name, value in changes.items():
        setattr(event, name, value.value if hasattr(value, "value") else value)
    session.commit()
    return public(session, event)


def _check_times(starts_at: datetime, ends_at: datetime | None) -> None:
    if starts_at.tzinfo is None or (ends_at is not None and ends_at.tzinfo is None):
        raise EventProblem(
            "give times with their offset (e.g. 2026-09-17T10:00:00+02:00)",
            details={"field": "starts_at"},
        )
    if ends_at is not None and ends_at < starts_at:
        raise EventProblem("the event cannot end before it starts", details={"field": "ends_at"})


def get_event(session: Session, key: str) -> Event:
    event = session.scalar(select(Event).where(Event.key == key.strip()))
    if event is None:
        raise NotFound(f"no event {key!r}", code="events.not_found", details={"event": key})
    return event


def list_events(session: Session) -> EventsPublic:
    """Every event, the next (or latest) first, with its counts."""
    rows = list(session.scalars(select(Event).order_by(Event.starts_at.desc(), Event.id.desc())))
    counted = counts(session, [e.id for e in rows])
    data = [_public(e, counted.get(e.id)) for e in rows]
    return EventsPublic(data=data, count=len(data))


def public(session: Session, event: Event) -> EventPublic:
    return _public(event, counts(session, [event.id]).get(event.id))


def _public(event: Event, counted: EventCounts | None) -> EventPublic:
    return EventPublic.model_validate(event).model_copy(
        update={"counts": counted or EventCounts(**dict.fromkeys(EventCounts.model_fields, 0))}
    )


def counts(session: Session, event_ids: Sequence[int]) -> dict[int, EventCounts]:
    """Guests, invited, accepted, declined, no answer, attended and people expected per event."""
    if not event_ids:
        return {}
    yes = case((EventGuest.rsvp == "accepted", 1), else_=0)
    rows = session.execute(
        select(
            EventGuest.event_id,
            func.count(),
            func.count(EventGuest.invited_at),
            func.sum(yes),
            func.sum(case((EventGuest.rsvp == "declined", 1), else_=0)),
            func.count(EventGuest.attended_at),
            func.sum(yes * (1 + EventGuest.guests)),
        )
        .where(EventGuest.event_id.in_(event_ids))
        .group_by(EventGuest.event_id)
    )
    found = {}
    for event_id, guests, invited, accepted, declined, attended, expected in rows:
        said_yes, said_no = int(accepted or 0), int(declined or 0)
        found[event_id] = EventCounts(
            guests=guests,
            invited=invited,
            accepted=said_yes,
            declined=said_no,
            no_answer=guests - said_yes - said_no,
            attended=attended,
            expected=int(expected or 0),
        )
    return found


# --- the guest list ----------------------------------------------------------------------------


def detail(
    session: Session, key: str, *, settings: Settings, reachability: bool = True
) -> EventDetailPublic:
    """The event with its counts and its guests (by name); with ``reachability``, whether each
    guest not yet invited can be reached by a marketing e-mail now, and why not."""
    event = get_event(session, key)
    rows = session.execute(
        select(EventGuest, Customer.external_id, Customer.name, Customer.email)
        .join(Customer, Customer.id == EventGuest.customer_id)
        .where(EventGuest.event_id == event.id)
        .order_by(Customer.name, Customer.id)
    ).all()
    waiting = [g.customer_id for g, *_ in rows if g.invited_at is None]
    unreachable = _unreachable(session, waiting, settings) if reachability and waiting else {}
    guests = [
        GuestPublic(
            customer_id=guest.customer_id,
            external_id=external_id,
            name=name,
            email=email,
            invited_at=guest.invited_at,
            message_id=guest.message_id,
            rsvp=guest.rsvp,
            companions=guest.guests,
            responded_at=guest.responded_at,
            attended_at=guest.attended_at,
            reachable=(guest.customer_id not in unreachable)
            if reachability and guest.invited_at is None
            else None,
            reason=unreachable.get(guest.customer_id),
        )
        for guest, external_id, name, email in rows
    ]
    return EventDetailPublic(event=public(session, event), guests=guests)


def add_guests(
    session: Session,
    key: str,
    *,
    segment: str | None = None,
    customer_keys: Sequence[str] = (),
) -> GuestsChanged:
    """Add everyone in ``segment`` (the event's own when neither a segment nor customers are
    given), or the listed customers; guests already on the list stay as they are. Commits."""
    event = get_event(session, key)
    ids: list[int]
    if customer_keys:
        ids = [customers.customer_ref(session, key=k).id for k in customer_keys]
    else:
        text = (segment or event.segment or "").strip()
        if not text:
            raise EventProblem(
                "give a segment (or customers) to build the guest list from; this event has "
                "no segment of its own",
                details={"field": "segment"},
            )
        members: Any = audience.members(session, audience.compile_segment(text))
        ids = [int(i) for i in session.scalars(members)]
    rows = [
        {"event_id": event.id, "customer_id": c, "rsvp": "none", "guests": 0}
        for c in sorted(set(ids))
    ]
    added = insert_new(
        session.connection(),
        EventGuest,
        rows,
        unique=["event_id", "customer_id"],
        returning=["id"],
    )
    session.commit()
    return GuestsChanged(added=len(added), removed=0, guests=_guests(session, event.id))


def remove_guests(session: Session, key: str, *, customer_keys: Sequence[str]) -> GuestsChanged:
    """Take customers off the list (their invitation link stops working). Commits."""
    event = get_event(session, key)
    ids = [customers.customer_ref(session, key=k).id for k in customer_keys]
    result = session.execute(
        delete(EventGuest)
        .where(EventGuest.event_id == event.id, EventGuest.customer_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    removed = int(getattr(result, "rowcount", 0) or 0)
    return GuestsChanged(added=0, removed=removed, guests=_guests(session, event.id))


def _guests(session: Session, event_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(EventGuest).where(EventGuest.event_id == event_id)
        )
        or 0
    )


# --- invitations -------------------------------------------------------------------------------


def invite(
    session: Session, key: str, *, settings: Settings, actor: str | None, now: datetime
) -> InvitationRunPublic:
    """Invite every guest not yet invited, through engagement's campaigns (see the module
    docstring): one message each to those who can be reached; the others listed with why."""
    event = get_event(session, key)
    if event.status == "cancelled":
        raise Conflict(f"the event {event.key!r} is cancelled", code="events.cancelled")
    if _end(event) <= now:
        raise EventOver(f"the event {event.key!r} is over", details={"event": event.key})
    already = _reconcile(session, event)
    library.install(session, now=now)  # a store older than the shipped template gets it now
    waiting = sorted(
        session.scalars(
            select(EventGuest.customer_id).where(
                EventGuest.event_id == event.id, EventGuest.invited_at.is_(None)
            )
        )
    )
    unreachable = _unreachable(session, waiting, settings)
    sendable = [c for c in waiting if c not in unreachable]
    made: list[str] = []
    invited = 0
    for batch in segments.id_batches(sendable):
        campaign_key = _campaign_key(session, event)
        campaign = campaigns.create(
            session,
            CampaignCreate(
                name=f"Invitation: {event.name}"[:200],
                key=campaign_key,
                kind=CampaignKind.one_off,
                journey="event_invitation",
                segment=segments.of_ids(batch),
                holdout_share=0.0,
                settings=_campaign_settings(event, settings),
            ),
            actor=actor,
            now=now,
        )
        campaigns.run(session, campaign.id, settings=settings, now=now)
        made.append(campaign_key)
        invited += _record(session, event, campaign.id, now)
    if invited and event.status == "planned":
        event.status = "invited"
    session.commit()
    return InvitationRunPublic(
        invited=invited,
        already=already,
        not_reachable=_unreachable_public(session, unreachable),
        campaigns=made,
    )


def _end(event: Event) -> datetime:
    return event.ends_at or event.starts_at


def _unreachable(session: Session, ids: list[int], settings: Settings) -> dict[int, str]:
    """Guests a marketing e-mail cannot go to, with the reason: ``consent`` (no marketing
    consent on e-mail, no usable address, or a suppressed one) or ``control_group``."""
    if not ids:
        return {}
    reachable = audience.reachable(session, channel=CHANNEL, purpose="marketing", among=ids)
    found = {c: "consent" for c in ids if c not in reachable}
    if settings.control_share > 0:
        rest = [c for c in ids if c in reachable]
        if rest:
            mask = holdout.control_group_mask(
                np.array(rest, dtype=np.int64), share=settings.control_share
            )
            found |= {c: "control_group" for c, out in zip(rest, mask, strict=True) if out}
    return found


def _unreachable_public(session: Session, found: dict[int, str]) -> list[Unreachable]:
    if not found:
        return []
    names = dict(
        session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(sorted(found)))
        ).all()
    )
    return [
        Unreachable(customer_id=c, name=names.get(c), reason=r) for c, r in sorted(found.items())
    ]


def _event_campaigns(session: Session, event: Event) -> list[tuple[int, datetime]]:
    """The invitation campaigns of ``event`` so far (``event-<key>-1``, ``-2`` …): each one's
    id and when it ran."""
    found: list[tuple[int, datetime]] = []
    while True:
        try:
            campaign = campaigns.get(session, f"event-{event.key}-{len(found) + 1}")
        except NotFound:
            return found
        found.append((campaign.id, campaign.finished_at or campaign.created_at))


def _campaign_key(session: Session, event: Event) -> str:
    return f"event-{event.key}-{len(_event_campaigns(session, event)) + 1}"


def _campaign_settings(event: Event, settings: Settings) -> dict[str, object]:
    return {
        "event_name": event.name[:200],
        "event_date": event.starts_at.astimezone(settings.tz).date().isoformat(),
        "event_place": (event.place or "")[:200],
        "event_key": event.key,
    }


def _record(session: Session, event: Event, campaign_id: int, now: datetime) -> int:
    """Mark the guests the campaign queued a message for as invited, with that message."""
    return _mark_invited(session, event, _sent(session, campaign_id), now)


def _sent(session: Session, campaign_id: int) -> dict[int, int]:
    """Customer → message of one invitation campaign (a batch holds at most a few hundred)."""
    return {
        m.customer_id: m.id
        for m in outbox.listed(session, campaign_id=campaign_id, limit=1000).data
        if m.customer_id is not None
    }


def _mark_invited(session: Session, event: Event, sent: dict[int, int], now: datetime) -> int:
    if not sent:
        return 0
    guests = session.scalars(
        select(EventGuest).where(
            EventGuest.event_id == event.id,
            EventGuest.customer_id.in_(sorted(sent)),
            EventGuest.invited_at.is_(None),
        )
    ).all()
    for guest in guests:
        guest.invited_at, guest.message_id = now, sent[guest.customer_id]
    session.flush()
    return len(guests)


def _reconcile(session: Session, event: Event) -> int:
    """Guests an earlier run of this event's campaigns sent to but did not mark (it stopped in
    between) are marked now; how many guests were invited before this run."""
    for campaign_id, ran_at in _event_campaigns(session, event):
        _mark_invited(session, event, _sent(session, campaign_id), ran_at)
    return int(
        session.scalar(
            select(func.count())
            .select_from(EventGuest)
            .where(EventGuest.event_id == event.id, EventGuest.invited_at.is_not(None))
        )
        or 0
    )


# --- answers and attendance --------------------------------------------------------------------


def invitation(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> tuple[Event, EventGuest, str]:
    """The event and guest an RSVP link is for, and the guest's language (de, en, nb).
    ``BadLink`` for a link not made here or a guest no longer on the list, ``ExpiredLink`` once
    the event is over, ``events.cancelled`` for a cancelled event."""
    key, customer_id = links.read_rsvp(settings.secret_key, token, max_age_days=RSVP_MAX_DAYS)
    event = session.scalar(select(Event).where(Event.key == key))
    guest = (
        session.scalar(
            select(EventGuest).where(
                EventGuest.event_id == event.id, EventGuest.customer_id == customer_id
            )
        )
        if event is not None
        else None
    )
    if event is None or guest is None:
        raise links.BadLink("This invitation is no longer valid.")
    if event.status == "cancelled":
        raise Conflict("This event is cancelled.", code="events.cancelled")
    if _end(event) <= now:
        raise links.ExpiredLink("This event is over.")
    profile = customers.customer_by_number(session, customer_id=customer_id)
    language = profile.language if profile.language in ("de", "en", "nb") else settings.language
    return event, guest, language


def respond(
    session: Session,
    *,
    token: str,
    accept: bool,
    companions: int,
    settings: Settings,
    now: datetime,
) -> RsvpPublic:
    """A guest accepts (with ``companions``) or declines; they may change their mind until the
    event is over. A yes that would pass the event's capacity is refused (``events.full``)."""
    event, guest, language = invitation(session, token=token, settings=settings, now=now)
    if accept and not 0 <= companions <= MAX_COMPANIONS:
        raise EventProblem(
            f"companions is a number from 0 to {MAX_COMPANIONS}", details={"field": "companions"}
        )
    if accept and event.capacity is not None:
        locked = session.scalars(
            select(EventGuest).where(EventGuest.event_id == event.id).with_for_update()
        ).all()
        taken = sum(1 + g.guests for g in locked if g.rsvp == "accepted" and g.id != guest.id)
        if taken + 1 + companions > event.capacity:
            raise Conflict(
                f"the event is full: {max(event.capacity - taken, 0)} place(s) left",
                code="events.full",
                details={"left": max(event.capacity - taken, 0)},
            )
    guest.rsvp = "accepted" if accept else "declined"
    guest.guests = companions if accept else 0
    guest.responded_at = now
    session.commit()
    return RsvpPublic(
        event=public(session, event),
        customer_id=guest.customer_id,
        language=language,
        rsvp=guest.rsvp,
        companions=guest.guests,
    )


def mark_attended(
    session: Session, key: str, *, customer_keys: Sequence[str], actor: str | None, now: datetime
) -> AttendancePublic:
    """Record that these customers came (a walk-in is added to the list): ``attended_at`` and
    an ``event_attendance`` interaction on each; someone recorded before is left as is."""
    event = get_event(session, key)
    ids = sorted({customers.customer_ref(session, key=k).id for k in customer_keys})
    insert_new(
        session.connection(),
        EventGuest,
        [{"event_id": event.id, "customer_id": c, "rsvp": "none", "guests": 0} for c in ids],
        unique=["event_id", "customer_id"],
        returning=["id"],
    )
    guests = session.scalars(
        select(EventGuest).where(EventGuest.event_id == event.id, EventGuest.customer_id.in_(ids))
    ).all()
    recorded = 0
    for guest in guests:
        if guest.attended_at is not None:
            continue
        guest.attended_at = now
        customers.record_interaction(
            session,
            customer_id=guest.customer_id,
            kind="event_attendance",
            occurred_at=now,
            note=event.name,
            payload={"event": event.key, "kind": event.kind, "recorded_by": actor},
        )
        recorded += 1
    session.commit()
    return AttendancePublic(recorded=recorded, already=len(ids) - recorded)
