"""The sender: the worker's job that takes due messages from the outbox and sends them.

``send_due`` works like the webhook outbox's ``deliver_due``. It claims a batch of due
messages in one short transaction (an UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
… RETURNING that sets a lease, ``locked_until``), checks again in the same transaction that
each may still go out (consent can be withdrawn and an address suppressed after a message was
queued; those are cancelled, saying why), commits, and then sends outside any transaction,
over ``send_connections`` connections per channel at once (settings; 4 by default), each in a
sender thread of its own with its share of the batch. The calling thread records the answers
as they arrive, those that came since its last commit in one small transaction: a message is
marked ``sent`` milliseconds after the server accepted it, not once per batch, and neither the
network nor the store waits for the other. A paused campaign's messages are
not claimed until it is resumed.

What is guaranteed, also when a worker is killed at any instant:

- **No loss.** A message stays ``queued`` until a server accepted it, refused it for good
  (``bounced``), it was given up after the retries (``dead``) or cancelled. A worker that dies
  leaves its leases to run out; the next claim takes the messages again.
- **At most one delivery per message, except for those in flight.** The only window for a
  repeat is between the server's "250 OK" and the commit of the ``sent`` mark a moment later
  (one UPDATE for the answers that arrived since the last commit, and their ``message.sent``
  events): a few messages at most. A worker killed inside it sends those again once the lease
  runs out, with the **same Message-ID** (it comes from the message's key), so a receiver that
  drops repeats — and most mail systems do — shows each once. A message whose send failed in
  between (the connection broke during DATA) is retried the same way.
- **At most one message per (campaign, customer, occasion).** The key of the row makes sure of
  that when it is queued (``messages.enqueue``); the sender sends rows, never makes them.
- **Nobody without consent gets marketing**, as far as the store knew when the batch was
  claimed: a withdrawal recorded after the claim, in the few seconds a batch takes, does not
  stop a message already on its way.

On PostgreSQL several workers can send side by side (SKIP LOCKED shares the work); on SQLite
run one worker, as for the webhooks.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.engage import audience
from patron.engage.channels import Channel, Outcome, Queued, Result, configured
from patron.engage.models import Campaign, Message, Suppression
from patron.outbox import retries
from patron.outbox import service as outbox

LEASE = timedelta(minutes=15)  # far longer than a batch takes, even when every send times out
BATCH = 200


@dataclass(frozen=True)
class SendRun:
    """What one ``send_due`` did. ``unconfigured`` counts the due messages of channels that are
    not set up (no SMTP host, no webhook URL): they stay queued and are no error. It is counted
    when the batch was not full, at the end of a round, not again for every batch (the count
    reads every due message of those channels)."""

    sent: int = 0
    retried: int = 0
    bounced: int = 0
    dead: int = 0
    cancelled: int = 0
    unconfigured: int = 0

    def counts(self) -> dict[str, int]:
        return asdict(self)

    @property
    def handled(self) -> int:
        """Messages of this batch that got an answer or were cancelled."""
        return self.sent + self.retried + self.bounced + self.dead + self.cancelled


@dataclass(frozen=True)
class _Lease:
    message: Queued
    until: datetime


def send_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    now_fn: Callable[[], datetime],
    batch: int = BATCH,
    channels: Mapping[str, Channel] | None = None,
    lease: timedelta = LEASE,
) -> SendRun:
    """Send up to ``batch`` due messages once each and record every answer.

    ``channels`` defaults to those the settings configure (``channels.configured``). The
    clock is read afresh for each message (its ``Date``, its ``sent_at``): a batch takes time.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    ready = configured(settings) if channels is None else channels
    tally: Counter[str] = Counter()
    now = now_fn()
    with sessions.begin() as session:
        claimed = _claim(session, channels=sorted(ready), now=now, batch=batch, until=now + lease)
        cancelled = _cancel_unreachable(session, claimed)
        if len(claimed) < batch:  # the round's last batch: say once what waits for a channel
            tally["unconfigured"] = _waiting_unconfigured(session, ready=ready, now=now)
    tally["cancelled"] = len(cancelled)
    leases = [_Lease(m, now + lease) for m in claimed if m.id not in cancelled]
    for name, group in groupby(leases, key=lambda held: held.message.channel):
        tally.update(
            _send_group(
                sessions,
                ready[name],
                list(group),
                now_fn=now_fn,
                connections=settings.send_connections,
            )
        )
    return SendRun(**{f.name: tally[f.name] for f in fields(SendRun)})


def send_while_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    now_fn: Callable[[], datetime],
    budget: timedelta = timedelta(seconds=30),
    batch: int = BATCH,
) -> SendRun:
    """Batch after batch until one was not full or ``budget`` is spent: the worker's round.

    A campaign of 100,000 messages goes out in minutes rather than 200 every few seconds,
    and the worker's other jobs still get their turn. Each batch opens its own connection.
    """
    began = now_fn()
    total: Counter[str] = Counter()
    while True:
        run = send_due(sessions, settings, now_fn=now_fn, batch=batch)
        total.update(run.counts())
        total["unconfigured"] = run.unconfigured  # a count of what waits, not of work done
        if run.handled < batch or now_fn() - began >= budget:
            return SendRun(**total)


def _send_group(
    sessions: sessionmaker[Session],
    channel: Channel,
    leases: Sequence[_Lease],
    *,
    now_fn: Callable[[], datetime],
    connections: int = 1,
) -> Counter[str]:
    """Send one channel's messages over ``connections`` connections and record the answers.

    The work is shared by threads: senders that only send (``_send_each``, one per connection,
    each with every n-th lease) and this one, which records the answers the senders have handed
    over since its last commit, all in one transaction. The senders do not wait for the store,
    nor the store for the network; under load a commit carries a few answers, when the server is
    slow one each. A sender stops before a lease could run out mid-send (another worker may take
    the message then); what it did not try is handed back at once.
    """
    answers: queue.SimpleQueue[_Answer | _Done] = queue.SimpleQueue()
    stop = threading.Event()  # set when recording fails: send nothing more that is not recorded
    lanes = [channel, *(channel.another() for _ in range(min(connections, len(leases)) - 1))]
    senders = [
        threading.Thread(
            target=_send_each,
            args=(lane, leases[index :: len(lanes)], answers, stop, now_fn),
            name=f"patron-sender-{index}",
        )
        for index, lane in enumerate(lanes)
    ]
    for sender in senders:
        sender.start()
    tally: Counter[str] = Counter()
    finished: list[_Done] = []
    with sessions() as session:
        try:
            while len(finished) < len(senders):
                group, done = _gather(answers)
                if group:
                    tally.update(_record(session, group, now=now_fn()))
                if done is not None:
                    finished.append(done)
        finally:
            stop.set()
            for sender in senders:
                sender.join()
        untried = [held for done in finished for held in done.untried]
        if untried:
            _release(session, untried)
    for done in finished:
        if done.error is not None:
            raise done.error
    tally.pop("lost", None)
    return tally


GATHER = 0.005  # seconds the recorder collects answers after the first one, at most
RECORD_GROUP = 200  # answers in one commit, at most


def _gather(answers: queue.SimpleQueue[_Answer | _Done]) -> tuple[list[_Answer], _Done | None]:
    """The answers that arrive within ``GATHER`` of the first one (fewer commits, each soon
    after the server's yes), and the sender's last word if it came."""
    group: list[_Answer] = []
    item = answers.get()
    until = time.monotonic() + GATHER
    while not isinstance(item, _Done):
        group.append(item)
        left = until - time.monotonic()
        if len(group) >= RECORD_GROUP or left <= 0:
            return group, None
        try:
            item = answers.get(timeout=left)
        except queue.Empty:
            return group, None
    return group, item


@dataclass(frozen=True)
class _Answer:
    held: _Lease
    result: Result


@dataclass(frozen=True)
class _Done:
    """The sender's last word: the leases it did not try, and the error that stopped it."""

    untried: Sequence[_Lease] = ()
    error: BaseException | None = None


def _send_each(
    channel: Channel,
    leases: Sequence[_Lease],
    answers: queue.SimpleQueue[_Answer | _Done],
    stop: threading.Event,
    now_fn: Callable[[], datetime],
) -> None:
    """The sender thread: one connection, each message in turn, every answer handed over."""
    longest = timedelta(seconds=channel.timeout)
    try:
        with channel:
            for index, held in enumerate(leases):
                if stop.is_set() or now_fn() + longest >= held.until:
                    answers.put(_Done(untried=leases[index:]))
                    return
                answers.put(_Answer(held, channel.send(held.message, now=now_fn())))
    except BaseException as exc:  # handed to the recording thread, which raises it
        answers.put(_Done(error=exc))
        return
    answers.put(_Done())


# --- claiming ----------------------------------------------------------------------------------


# a paused campaign's queued messages wait until it is resumed (a cancelled one's were cancelled)
_PAUSED = select(Campaign.id).where(Campaign.status == "paused").scalar_subquery()


def _claim(
    session: Session, *, channels: Sequence[str], now: datetime, batch: int, until: datetime
) -> list[Queued]:
    """Lease up to ``batch`` due messages of ``channels``, those due longest first.

    On PostgreSQL a row another worker is claiming is passed over, not waited for; SQLite
    ignores FOR UPDATE but runs the statement as one write, so two claims never take a row
    twice there either.
    """
    if not channels:
        return []
    due = (
        select(Message.id)
        .where(
            Message.status == "queued",
            Message.send_after <= now,
            Message.channel.in_(channels),
            or_(Message.locked_until.is_(None), Message.locked_until <= now),
            or_(Message.campaign_id.is_(None), Message.campaign_id.not_in(_PAUSED)),
        )
        # By send_after alone, the order of the index (status, send_after): the scan stops after
        # ``batch`` rows. A tie-break by id would sort every message of a campaign run, which
        # share one send_after, for every batch (70 ms a batch at 100,000 on PostgreSQL).
        .order_by(Message.send_after)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    columns = [getattr(Message, f.name) for f in fields(Queued)]
    rows = session.execute(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(locked_until=until)
        .returning(Message.send_after, *columns)
        .execution_options(synchronize_session=False)
    ).all()
    # RETURNING promises no order: by channel (one connection each), then as they fell due
    ordered = sorted(rows, key=lambda row: (row.channel, row.send_after, row.id))
    return [Queued(*row[1:]) for row in ordered]


def _waiting_unconfigured(session: Session, *, ready: Mapping[str, Channel], now: datetime) -> int:
    missing = [name for name in ("email", "sms", "push") if name not in ready]
    if not missing:
        return 0
    query = select(func.count()).where(
        Message.status == "queued", Message.send_after <= now, Message.channel.in_(missing)
    )
    return int(session.scalar(query) or 0)


# --- the check at send time --------------------------------------------------------------------


def _cancel_unreachable(session: Session, claimed: Sequence[Queued]) -> set[int]:
    """Cancel what may no longer go out, in the claim's transaction; the ids cancelled.

    Marketing needs the customer's consent on the channel as it is now and an address that is
    neither suppressed nor unsubscribed; a transactional message only an address that is not
    suppressed. A customer whose address changed since the message was queued does not get
    it at the old one.
    """
    reasons = _why_not(session, claimed)
    if reasons:
        session.execute(
            update(Message),
            [
                {"id": message_id, "status": "cancelled", "locked_until": None, "last_error": why}
                for message_id, why in reasons.items()
            ],
        )
    return set(reasons)


def _why_not(session: Session, claimed: Sequence[Queued]) -> dict[int, str]:
    """Why each message that may not go out may not, by message id."""
    why: dict[int, str] = {}
    unreachable: list[Queued] = []  # the customer may not be reached: the reason comes below
    anonymous: list[Queued] = []  # no customer (any more): only the address can be checked
    groups: dict[tuple[str, str], list[Queued]] = {}
    for message in claimed:
        if message.customer_id is None:
            if message.purpose == "marketing":
                why[message.id] = "the customer no longer exists"
            else:
                anonymous.append(message)
        else:
            groups.setdefault((message.channel, message.purpose), []).append(message)
    for (channel, purpose), group in groups.items():
        among = {m.customer_id for m in group if m.customer_id is not None}
        reachable = audience.reachable(session, channel=channel, purpose=purpose, among=among)
        for message in group:
            address = reachable.get(message.customer_id or 0)
            if address is None:
                unreachable.append(message)
            elif address != _address(channel, message.recipient):
                why[message.id] = f"the customer's {channel} address changed after it was queued"
    suppressed = _suppressions(session, unreachable + anonymous)
    for message in unreachable:
        why[message.id] = _unreachable(message, suppressed.get(_address_of(message)))
    for message in anonymous:
        reason = suppressed.get(_address_of(message))
        if reason in audience.BLOCKING:
            why[message.id] = f"the address is suppressed ({reason})"
    return why


def _unreachable(message: Queued, suppression: str | None) -> str:
    if suppression == "unsubscribe":
        return f"the customer unsubscribed from {message.channel}"
    if suppression is not None:
        return f"the address is suppressed ({suppression})"
    if message.purpose == "marketing":
        return f"no marketing consent on {message.channel} any more, or no address"
    return f"the customer has no {message.channel} address any more"


def _suppressions(session: Session, messages: Sequence[Queued]) -> dict[tuple[str, str], str]:
    """The suppressed ones among the messages' addresses, by (channel, address); an erased
    person's address is listed only as its hash (``audience.erased_address``) and found so."""
    if not messages:
        return {}
    wanted = {_address_of(m) for m in messages}
    hashed = {(c, audience.erased_address(c, a)): (c, a) for c, a in wanted}
    addresses = {a for _, a in wanted} | {h for _, h in hashed}
    rows = session.execute(
        select(Suppression.channel, Suppression.address, Suppression.reason).where(
            Suppression.address.in_(addresses)
        )
    )
    found: dict[tuple[str, str], str] = {}
    for channel, address, reason in rows:
        clear = hashed.get((channel, address), (channel, address))
        found[clear] = reason
    return found


def _address_of(message: Queued) -> tuple[str, str]:
    return message.channel, _address(message.channel, message.recipient)


def _address(channel: str, recipient: str) -> str:
    """An address as ``audience.address`` and the suppression list write it."""
    return recipient.strip().lower() if channel == "email" else recipient.strip()


# --- recording ---------------------------------------------------------------------------------

_MESSAGES = cast("Table", Message.__table__)
# Built once: marking messages sent is the sender's hot path.
_MARK_SENT = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id.in_(bindparam("b_ids", expanding=True)), _MESSAGES.c.status == "queued")
    .values(
        status="sent",
        sent_at=bindparam("b_sent_at"),
        attempts=_MESSAGES.c.attempts + 1,
        locked_until=None,
        last_error=None,
    )
    .returning(_MESSAGES.c.id)
)
_NO_FSYNC = text("SET LOCAL synchronous_commit = off")


def _record(session: Session, answers: Sequence[_Answer], *, now: datetime) -> Counter[str]:
    """Write a group of answers in one transaction; how many of each outcome.

    The sooner the server's yes is committed, the fewer messages a killed worker sends twice:
    this runs while the sender goes on. On PostgreSQL the commit does not wait for the WAL to
    reach the disk (synchronous_commit off, for this transaction only): a killed worker cannot
    lose it, since the database server has it; only a crash of the database server itself
    within a fraction of a second could, and then those messages are sent again with the same
    Message-IDs. On SQLite (WAL, synchronous=NORMAL) a commit is likewise safe from the
    process dying and needs no fsync.
    """
    tally: Counter[str] = Counter()
    events: list[outbox.NewEvent] = []
    with session.begin():
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(_NO_FSYNC)
        accepted = [a.held.message for a in answers if a.result.outcome is Outcome.sent]
        marked = _mark_sent(session, accepted, now=now)
        events += [_event("message.sent", m, sent_at=now.isoformat()) for m in marked]
        tally["sent"], tally["lost"] = len(marked), len(accepted) - len(marked)
        for answer in answers:
            if answer.result.outcome is Outcome.permanent:
                bounced = _record_bounce(session, answer.held, answer.result.detail, now=now)
                if bounced is not None:
                    events.append(bounced)
                tally["bounced" if bounced is not None else "lost"] += 1
            elif answer.result.outcome is Outcome.transient:
                tally[_record_failure(session, answer.held, answer.result.detail, now=now)] += 1
        outbox.enqueue_many(session, events, now=now)
    return tally


def _mark_sent(session: Session, accepted: Sequence[Queued], *, now: datetime) -> list[Queued]:
    """Mark messages sent; those that were still queued (the others are not sent twice in the
    books: a message cancelled meanwhile stays cancelled).

    Whoever got the server's yes records it, even if its lease ran out meanwhile: it was sent.
    ``sent_at`` is the time of the group's commit, milliseconds after each server's answer.
    """
    if not accepted:
        return []
    marked = set(
        session.execute(_MARK_SENT, {"b_ids": [m.id for m in accepted], "b_sent_at": now}).scalars()
    )
    return [message for message in accepted if message.id in marked]


def _record_bounce(
    session: Session, held: _Lease, detail: str, *, now: datetime
) -> outbox.NewEvent | None:
    """A hard bounce: the message is ``bounced`` and the address suppressed on its channel;
    its event, or None when the message is no longer this worker's.

    An address already suppressed only for marketing (``unsubscribe``) becomes a hard bounce,
    which stops transactional messages too; a complaint or a manual entry stays as it is."""
    message = held.message
    done = _update(
        session,
        *_held(held),
        status="bounced",
        attempts=message.attempts + 1,
        locked_until=None,
        last_error=detail,
    )
    if not done:
        return None
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Suppression).values(
        channel=message.channel,
        address=_address(message.channel, message.recipient),
        reason="hard_bounce",
        note=detail[:500],
        created_at=now,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Suppression.channel, Suppression.address],
            set_={"reason": statement.excluded.reason, "note": statement.excluded.note},
            where=Suppression.reason == "unsubscribe",
        )
    )
    return _event("message.bounced", message, reason=detail)


def _record_failure(session: Session, held: _Lease, detail: str, *, now: datetime) -> str:
    """No answer, or "not now": try again after the outbox's back-off, or give up."""
    attempts = held.message.attempts + 1
    later: dict[str, Any]
    if retries.gives_up(attempts):
        outcome, later = "dead", {"status": "dead"}
    else:
        outcome = "retried"
        later = {"send_after": now + retries.delay(attempts, jitter=random.random())}
    done = _update(
        session, *_held(held), attempts=attempts, locked_until=None, last_error=detail, **later
    )
    return outcome if done else "lost"


def _release(session: Session, leases: Sequence[_Lease]) -> None:
    """Hand messages back untried, for the next claim (this worker's or another's)."""
    with session.begin():
        for held in leases:
            _update(session, *_held(held), locked_until=None)


def _held(held: _Lease) -> tuple[Any, ...]:
    """Rows this worker still holds: queued, and its lease not taken over by another."""
    return (
        Message.id == held.message.id,
        Message.status == "queued",
        Message.locked_until == held.until,
    )


def _update(session: Session, *where: Any, **values: Any) -> bool:
    result = session.execute(
        update(Message).where(*where).values(**values).execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def _event(topic: str, message: Queued, **more: Any) -> outbox.NewEvent:
    """The outbox event of a status change, recorded in its transaction; keyed by the message,
    so there is at most one of each topic per message."""
    payload = {
        "message_id": message.id,
        "key": message.key,
        "channel": message.channel,
        "purpose": message.purpose,
        "campaign_id": message.campaign_id,
        "customer_id": message.customer_id,
        **more,
    }
    return outbox.NewEvent(topic, payload, key=f"{topic}:{message.id}")
