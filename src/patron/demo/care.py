"""The demo shop's customer service: agents and account managers, a year of complaints with
their deadlines and answers, satisfaction surveys, and (once the customers are scored) key
accounts with managers, their tasks and an event.

What the simulation assumes, so the reports have something true to find:

- About ``COMPLAINT_SHARE`` of the buying customers complained once, a few days after an order,
  in the year before the demo's "today" (2026-10-31).
- **Service recovery**: a complaint was resolved with probability ``RESOLVED_IF_BACK`` when the
  customer went on to buy again within ``WINDOW_DAYS``, and ``RESOLVED_IF_GONE`` when not. The
  report finds resolved complainers repurchasing more often than unresolved ones: that is the
  assumption put in, in the direction the literature reports, not a finding of the demo.
- CSAT after a resolution is mostly 4-5 when the deadline held and lower when it did not; NPS
  is higher for A- than for C-customers and lower after an unresolved complaint.
- The Kano survey's features have known categories (``KANO_TRUTH``): free returns must-be,
  same-day delivery attractive, order tracking one-dimensional, gift wrapping indifferent. The
  Kano report recovers them.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.access import service as access
from patron.access.models import User
from patron.care.accounts import events, upkeep
from patron.care.accounts import service as accounts
from patron.care.accounts.schemas import EventCreate, ManagerIn
from patron.care.cases import sla, timing
from patron.care.cases.calendar import ServiceCalendar
from patron.care.models import (
    AccountAssignment,
    AccountManager,
    Case,
    CaseEntry,
    Event,
    EventGuest,
    Survey,
    SurveyResponse,
    Task,
)
from patron.care.surveys import kano
from patron.care.surveys.service import ensure_survey
from patron.config import Settings
from patron.customers.models import Customer, Order, OrderLine

TODAY = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
FIRST_CASE = datetime(2025, 11, 1, tzinfo=UTC)
COMPLAINT_SHARE = 0.08
OPEN_PER_CUSTOMER = 1 / 800  # cases still open at the demo's start, opened in its last days
WINDOW_DAYS = 90
RESOLVED_IF_BACK, RESOLVED_IF_GONE = 0.9, 0.55
CSAT_ANSWERED = 0.55
NPS_SHARE = 0.15
KANO_RESPONDENTS = 400
KANO_KEY = "delivery-features-2026"
# Each feature's true category and how sure respondents are of it (the rest answer at random
# among the other meaningful categories).
KANO_TRUTH = {
    "free_returns": ("M", 0.6),
    "same_day": ("A", 0.55),
    "tracking": ("O", 0.5),
    "gift_wrap": ("I", 0.6),
}
KANO_FEATURES = {
    "free_returns": ("Free returns", "Kostenlose Rücksendung", "Gratis retur"),
    "same_day": ("Same-day delivery", "Lieferung am selben Tag", "Levering samme dag"),
    "tracking": ("Live order tracking", "Live-Sendungsverfolgung", "Sporing av pakken"),
    "gift_wrap": ("Gift wrapping", "Geschenkverpackung", "Gaveinnpakning"),
}
AGENTS = (
    ("lena.vogel@demo.example", "Lena Vogel", "service_agent"),
    ("tom.berger@demo.example", "Tom Berger", "service_agent"),
)
MANAGERS = (
    ("anna.keller@demo.example", "Anna Keller", ("Germany",)),
    ("jonas.huber@demo.example", "Jonas Huber", ("Austria", "Switzerland")),
    ("ingrid.dahl@demo.example", "Ingrid Dahl", ("Norway",)),
    ("max.weber@demo.example", "Max Weber", ()),
)
CATEGORIES = ("delivery", "damaged", "wrong_item", "quality", "billing", "return", "service")
COMPLAINTS = {
    "delivery": ("My parcel has not arrived", "Mein Paket ist nicht angekommen"),
    "damaged": ("The item arrived damaged", "Der Artikel kam beschädigt an"),
    "wrong_item": ("I received the wrong item", "Ich habe den falschen Artikel bekommen"),
    "quality": ("Disappointed with the quality", "Enttäuscht von der Qualität"),
    "billing": ("I was charged twice", "Mir wurde doppelt abgebucht"),
    "return": ("My refund has not come yet", "Meine Erstattung ist noch nicht da"),
    "service": ("Nobody answered my question", "Niemand hat meine Frage beantwortet"),
}
# Children before parents: what ``reset`` deletes.
TABLES = (
    EventGuest,
    Task,
    Event,
    SurveyResponse,
    CaseEntry,
    Case,
    Survey,
    AccountAssignment,
    AccountManager,
)


@dataclass(frozen=True)
class CareSummary:
    cases: int
    csat_answers: int
    nps_answers: int
    kano_answers: int


def build(
    sessions: sessionmaker[Session], *, seed: int, settings: Settings, now: datetime
) -> CareSummary:
    """Staff, a year of cases with their history and CSAT answers, NPS and Kano answers, and
    a few cases opened in the last working days before ``now`` for the agents' queue."""
    rng = random.Random(seed + 8)
    with sessions() as session:
        agents = [_user(session, email, name, role) for email, name, role in AGENTS]
        for email, name, _regions in MANAGERS:
            _user(session, email, name, "account_manager")
        orders = _orders(session)
        classes = _abc(orders)
        desk = _Desk(orders, classes, agents, settings)
        cases = _cases(session, rng, desk)
        _open_now(session, rng, desk, now)
        csat = _csat(session, rng, cases)
        nps = _nps(session, rng, orders, classes, cases)
        answers = _kano(session, rng, sorted(orders))
        session.commit()
    return CareSummary(len(cases), csat, nps, answers)


@dataclass(frozen=True)
class AccountsSummary:
    key_accounts: int
    tasks: int
    guests: int


# Capacities of the demo's managers: fewer places than A-customers, so the workspace shows
# full books and the assignment run says how many it could not place.
CAPACITIES = (80, 60, 40, 60)
JUBILEE = ("demo-jubilee", "Our 10th anniversary evening", datetime(2026, 9, 18, 17, tzinfo=UTC))
FAIR = (
    "demo-spring-fair",
    "Spring trade fair: preview of the new range",
    datetime(2027, 3, 12, 9, tzinfo=UTC),
)


def after_scoring(
    sessions: sessionmaker[Session], *, seed: int, settings: Settings, now: datetime
) -> AccountsSummary:
    """What needs the customers' scores: managers for the A-customers (the assignment rule),
    the task rules, a past jubilee with guests who came and an upcoming fair with invitations.
    Does nothing when the demo's managers are set up already."""
    rng = random.Random(seed + 9)
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(AccountManager)):
            return AccountsSummary(0, 0, 0)
        for (email, _name, regions), capacity in zip(MANAGERS, CAPACITIES, strict=True):
            accounts.set_manager(
                session,
                email=email,
                changes=ManagerIn(capacity=capacity, regions=list(regions), active=True),
                settings=settings,
                now=now,
            )
        upkeep.run_due(session, settings=settings, now=now)
        guests = 0
        for (key, name, starts), kind, capacity, segment in (
            (JUBILEE, "jubilee", 80, 'abc = "A" and orders >= 15 and p_alive > 0.8'),
            (FAIR, "trade_fair", 150, 'abc = "A" and orders >= 12'),
        ):
            events.create_event(
                session,
                EventCreate(
                    key=key,
                    name=name,
                    kind=kind,
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=4),
                    place="Showroom, Hafenstraße 12, Hamburg",
                    segment=segment,
                    capacity=capacity,
                ),
                actor="demo",
                now=now,
            )
            guests += events.add_guests(session, key).added
        _jubilee_answers(session, rng)
        events.invite(session, FAIR[0], settings=settings, actor="demo", now=now)
        key_accounts = session.scalar(select(func.count()).select_from(AccountAssignment)) or 0
        tasks = session.scalar(select(func.count()).select_from(Task)) or 0
    return AccountsSummary(key_accounts, tasks, guests)


def _jubilee_answers(session: Session, rng: random.Random) -> None:
    """The past jubilee: its guests were invited in August; some accepted, most of those came."""
    event = events.get_event(session, JUBILEE[0])
    keys = dict(session.execute(select(Customer.id, Customer.external_id)).all())
    came = []
    for guest in session.scalars(select(EventGuest).where(EventGuest.event_id == event.id)):
        guest.invited_at = datetime(2026, 8, 20, 9, tzinfo=UTC)
        answer = rng.random()
        if answer < 0.45:
            guest.rsvp, guest.guests = "accepted", rng.choice((0, 0, 1, 1, 2))
            guest.responded_at = guest.invited_at + timedelta(days=rng.uniform(1, 20))
            if rng.random() < 0.8:
                came.append(keys.get(guest.customer_id) or str(guest.customer_id))
        elif answer < 0.7:
            guest.rsvp, guest.responded_at = "declined", guest.invited_at + timedelta(days=3)
    event.status = "done"
    session.commit()
    if came:
        events.mark_attended(
            session,
            JUBILEE[0],
            customer_keys=came,
            actor="demo",
            now=JUBILEE[2] + timedelta(hours=1),
        )


def _user(session: Session, email: str, name: str, role: str) -> int:
    found = session.scalar(select(User.id).where(User.email == email))
    if found is not None:
        return found
    # Nobody signs in as these people: their password is random and never shown.
    return access.create_user(
        session, email=email, password=secrets.token_urlsafe(16), role=role, name=name
    ).id


def _orders(session: Session) -> dict[int, list[tuple[datetime, int, float]]]:
    """Each customer's completed orders: (placed at, order id, total), oldest first."""
    totals = (
        select(Order.customer_id, Order.placed_at, Order.id, func.sum(OrderLine.amount))
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id.is_not(None), Order.status == "completed")
        .group_by(Order.customer_id, Order.placed_at, Order.id)
    )
    found: dict[int, list[tuple[datetime, int, float]]] = defaultdict(list)
    for customer_id, placed_at, order_id, total in session.execute(totals):
        if customer_id is not None:
            found[customer_id].append((placed_at, order_id, float(total or 0)))
    for rows in found.values():
        rows.sort()
    return found


def _abc(orders: dict[int, list[tuple[datetime, int, float]]]) -> dict[int, str]:
    """Pareto classes by revenue, as the analysis draws them (A: the first 80 %, B: to 95 %)."""
    revenue = sorted(
        ((sum(total for _at, _id, total in rows), customer) for customer, rows in orders.items()),
        reverse=True,
    )
    whole = sum(amount for amount, _customer in revenue) or 1.0
    classes, running = {}, 0.0
    for amount, customer in revenue:
        share = running / whole
        classes[customer] = "A" if share < 0.8 else "B" if share < 0.95 else "C"
        running += amount
    return classes


@dataclass(frozen=True)
class _Desk:
    """What the service desk works with: the customers' orders and ABC classes, its agents, and
    the shop's settings (its calendar and SLA policies)."""

    orders: dict[int, list[tuple[datetime, int, float]]]
    classes: dict[int, str]
    agents: list[int]
    settings: Settings

    @property
    def calendar(self) -> ServiceCalendar:
        return timing.calendar(self.settings)


def _cases(session: Session, rng: random.Random, desk: _Desk) -> list[Case]:
    orders, classes = desk.orders, desk.classes
    languages = dict(session.execute(select(Customer.id, Customer.language)).all())
    made: list[Case] = []
    for customer in sorted(orders):
        about = [row for row in orders[customer] if FIRST_CASE <= row[0] < TODAY - timedelta(8)]
        if not about or rng.random() >= COMPLAINT_SHARE:
            continue
        placed_at, order_id, _total = rng.choice(about)
        opened = _office_moment(placed_at + timedelta(days=rng.uniform(1, 7)), rng)
        back = any(
            opened < at <= opened + timedelta(WINDOW_DAYS) for at, _o, _t in orders[customer]
        )
        made.append(
            _case(
                session,
                rng,
                customer=customer,
                order_id=order_id,
                opened=opened,
                back=back,
                customer_class=classes.get(customer),
                language=languages.get(customer) or "en",
                agent=rng.choice(desk.agents),
                desk=desk,
            )
        )
    session.flush()
    return made


def _open_now(session: Session, rng: random.Random, desk: _Desk, now: datetime) -> None:
    """Open cases of the last two working days: some new, some answered, some waiting, so the
    queue shows deadlines ahead, at risk and passed."""
    orders, classes, service_calendar = desk.orders, desk.classes, desk.calendar
    taken = set(session.scalars(select(Case.customer_id)))
    free = [customer for customer in sorted(orders) if customer not in taken]
    count = min(len(free), max(5, round(len(orders) * OPEN_PER_CUSTOMER)))
    for customer in rng.sample(free, count):
        _placed, order_id, _total = orders[customer][-1]
        opened = service_calendar.subtract_working_time(now, rng.uniform(0.2, 18))
        case, _policy, _due = _opened(
            session,
            rng,
            customer=customer,
            order_id=order_id,
            opened=opened,
            customer_class=classes.get(customer),
            language="en",
            kind=rng.choice(("complaint", "complaint", "question", "request")),
            agent=rng.choice([*desk.agents, None]),
            desk=desk,
        )
        case.status = rng.choice(("new", "new", "in_progress", "waiting"))
        if case.status != "new":
            answered = min(now, service_calendar.add_working_time(opened, 0.5))
            case.first_response_at = answered
            session.add(
                CaseEntry(
                    case_id=case.id,
                    kind="reply",
                    body="Thank you, we are on it. Could you send us a photo of the parcel?",
                    author="tom.berger@demo.example",
                    created_at=answered,
                )
            )


def _opened(
    session: Session,
    rng: random.Random,
    *,
    customer: int,
    order_id: int,
    opened: datetime,
    customer_class: str | None,
    language: str,
    kind: str,
    agent: int | None,
    desk: _Desk,
) -> tuple[Case, sla.Policy, sla.Deadlines]:
    """A new case about an order, with its deadlines and the customer's words as its first
    entry (flushed: it has its number)."""
    category = rng.choice(CATEGORIES)
    priority = rng.choices(("low", "normal", "high", "urgent"), (2, 6, 2, 0.5))[0]
    policy = timing.policy(desk.settings, priority=priority, customer_class=customer_class)
    due = sla.deadlines(desk.calendar, policy, opened)
    english, german = COMPLAINTS[category]
    case = Case(
        customer_id=customer,
        order_id=order_id,
        kind=kind,
        subject=german if language == "de" else english,
        category=category,
        priority=priority,
        channel=rng.choices(("email", "phone", "web", "store"), (5, 3, 2, 1))[0],
        status="new",
        assignee_id=agent,
        team="service",
        customer_class=customer_class,
        sla_policy=policy.name,
        opened_at=opened,
        first_response_due=due.first_response,
        resolution_due=due.resolution,
        created_by="demo",
        updated_at=opened,
    )
    session.add(case)
    session.flush()
    session.add(CaseEntry(case_id=case.id, kind="customer", body=case.subject, created_at=opened))
    return case, policy, due


def _office_moment(moment: datetime, rng: random.Random) -> datetime:
    """A moment on that day between 07:00 and 20:00 UTC: when people write to a shop."""
    day = moment.replace(hour=7, minute=0, second=0, microsecond=0)
    return day + timedelta(minutes=rng.randrange(13 * 60))


def _case(
    session: Session,
    rng: random.Random,
    *,
    customer: int,
    order_id: int,
    opened: datetime,
    back: bool,
    customer_class: str | None,
    language: str,
    agent: int,
    desk: _Desk,
) -> Case:
    case, policy, (first_due, resolution_due) = _opened(
        session,
        rng,
        customer=customer,
        order_id=order_id,
        opened=opened,
        customer_class=customer_class,
        language=language,
        kind="complaint",
        agent=agent,
        desk=desk,
    )
    service_calendar = desk.calendar
    recent = opened > TODAY - timedelta(days=21)
    resolved = not recent and rng.random() < (RESOLVED_IF_BACK if back else RESOLVED_IF_GONE)
    entries: list[CaseEntry] = []
    # Most first answers come within the deadline; some a working day or two late.
    answered = service_calendar.add_working_time(
        opened, policy.first_response * rng.choice((0.3, 0.6, 0.9, 0.9, 1.5, 2.5))
    )
    if answered < TODAY:
        case.first_response_at = answered
        case.status = "in_progress"
        entries.append(
            CaseEntry(
                case_id=case.id,
                kind="reply",
                body="Thank you for telling us. We are looking into it and will be back soon.",
                author="lena.vogel@demo.example",
                created_at=answered,
            )
        )
        if answered > first_due:
            case.first_response_breached_at = first_due
    if resolved:
        done = service_calendar.add_working_time(
            opened, policy.resolution * rng.choice((0.2, 0.4, 0.6, 0.8, 0.9, 1.4))
        )
        case.resolved_at = max(done, answered)
        case.status = "closed" if case.resolved_at < TODAY - timedelta(days=14) else "resolved"
        if case.status == "closed":
            case.closed_at = case.resolved_at + timedelta(days=14)
        if case.resolved_at > resolution_due:
            case.resolution_breached_at = resolution_due
        entries.append(
            CaseEntry(
                case_id=case.id,
                kind="note",
                body="Replacement sent / refund booked; customer informed.",
                author="tom.berger@demo.example",
                created_at=case.resolved_at,
            )
        )
    elif not recent:
        # The customer stopped answering and the case was closed without a solution.
        case.status = "closed"
        case.closed_at = opened + timedelta(days=30)
        if resolution_due < case.closed_at:
            case.resolution_breached_at = resolution_due
    else:
        case.status = (
            rng.choice(("new", "in_progress", "waiting")) if case.first_response_at else "new"
        )
    session.add_all(entries)
    return case


def _csat(session: Session, rng: random.Random, cases: list[Case]) -> int:
    survey = ensure_survey(session, "csat")
    answers = 0
    for case in cases:
        if case.resolved_at is None or rng.random() >= CSAT_ANSWERED:
            continue
        late = case.resolution_breached_at is not None
        score = rng.choices((1, 2, 3, 4, 5), (2, 3, 4, 3, 1) if late else (0.3, 0.5, 1.5, 4, 5))[0]
        answered = case.resolved_at + timedelta(hours=rng.uniform(2, 72))
        case.csat_score, case.csat_answered_at = score, answered
        session.add(
            SurveyResponse(
                survey_id=survey.id,
                customer_id=case.customer_id,
                case_id=case.id,
                reference=f"case:{case.id}",
                kind="csat",
                score=float(score),
                answers={},
                answered_at=answered,
            )
        )
        answers += 1
    return answers


def _nps(
    session: Session,
    rng: random.Random,
    orders: dict[int, list[tuple[datetime, int, float]]],
    classes: dict[int, str],
    cases: list[Case],
) -> int:
    survey = ensure_survey(session, "nps")
    unresolved = {case.customer_id for case in cases if case.resolved_at is None}
    start = TODAY - timedelta(days=540)
    answers = 0
    for customer in sorted(orders):
        if rng.random() >= NPS_SHARE:
            continue
        after = [at for at, _o, _t in orders[customer] if at >= start]
        if not after:
            continue
        answered = rng.choice(after) + timedelta(days=rng.uniform(3, 10))
        if answered >= TODAY:
            continue
        mean = {"A": 8.6, "B": 7.8, "C": 7.0}.get(classes.get(customer, "C"), 7.0)
        if customer in unresolved:
            mean -= 2.5
        score = max(0, min(10, round(rng.gauss(mean, 1.8))))
        session.add(
            SurveyResponse(
                survey_id=survey.id,
                customer_id=customer,
                reference=f"demo:{answered.date().isoformat()}",
                kind="nps",
                score=float(score),
                answers={},
                answered_at=answered,
            )
        )
        answers += 1
    return answers


def _kano(session: Session, rng: random.Random, customers: list[int]) -> int:
    survey = Survey(
        key=KANO_KEY,
        name="Delivery and service features 2026",
        kind="kano",
        status="active",
        questions={
            "features": [
                {
                    "key": key,
                    "name": {"en": en, "de": de, "nb": nb},
                    "functional": {
                        "en": f"{en} is offered. How do you feel about that?",
                        "de": f"{de} wird angeboten. Wie finden Sie das?",
                        "nb": f"{nb} tilbys. Hva synes du om det?",
                    },
                    "dysfunctional": {
                        "en": f"{en} is not offered. How do you feel about that?",
                        "de": f"{de} wird nicht angeboten. Wie finden Sie das?",
                        "nb": f"{nb} tilbys ikke. Hva synes du om det?",
                    },
                }
                for key, (en, de, nb) in KANO_FEATURES.items()
            ]
        },
        created_at=datetime(2026, 6, 1, tzinfo=UTC),
    )
    session.add(survey)
    session.flush()
    cells = _kano_cells()
    respondents = rng.sample(customers, min(KANO_RESPONDENTS, len(customers)))
    for customer in respondents:
        pairs = {}
        for feature, (truth, sure) in KANO_TRUTH.items():
            drawn = truth if rng.random() < sure else rng.choice("AOMI")
            pairs[feature] = list(rng.choice(cells[drawn]))
        session.add(
            SurveyResponse(
                survey_id=survey.id,
                customer_id=customer,
                reference="",
                kind="kano",
                answers=pairs,
                answered_at=datetime(2026, 6, 1, tzinfo=UTC) + timedelta(days=rng.uniform(0, 30)),
            )
        )
    return len(respondents)


def _kano_cells() -> dict[str, list[tuple[int, int]]]:
    """The answer pairs of each category of the evaluation table."""
    cells: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for functional in kano.ANSWERS:
        for dysfunctional in kano.ANSWERS:
            cells[kano.category(functional, dysfunctional)].append((functional, dysfunctional))
    return cells


def reset(connection: Connection) -> None:
    for model in TABLES:
        connection.execute(delete(model))
