"""Programmes: set up or change one from a spec (audited), find one, and the audit log."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.errors import NotFound
from patron.loyalty.models import AuditRecord, Programme, Reward
from patron.loyalty.programme import ProgrammeSpec, read_spec


class UnknownProgramme(NotFound):
    code = "loyalty.unknown_programme"


def programme(session: Session, code: str) -> tuple[Programme, ProgrammeSpec]:
    """The programme ``code`` with its rules (refused if unknown or switched off)."""
    row = session.scalar(select(Programme).where(Programme.code == code))
    if row is None or not row.active:
        known = session.scalars(select(Programme.code).where(Programme.active)).all()
        raise UnknownProgramme(
            f"no active loyalty programme {code!r}; programmes: {', '.join(known) or 'none'} "
            "(set one up with `patron loyalty setup FILE`)",
            details={"programme": code, "known": list(known)},
        )
    return row, _spec(
        row.code,
        row.name,
        row.currency,
        row.point_value,
        _frozen(row.settings),
    )


def document(session: Session, code: str) -> dict[str, Any]:
    """Programme ``code`` as ``set_up`` was last given it: its rules with its active rewards (each
    as its stored spec, in the order they were added). ``read_spec`` reads it back into a spec
    that ``set_up`` finds nothing to change in."""
    row, spec = programme(session, code)
    document = spec.model_dump(mode="json")
    # The column holds the point value at its scale ("0.0100"), the settings as it was given
    # ("0.01"): set_up compares the settings, so the document gives it back as given.
    given = row.settings.get("point_value")
    if isinstance(given, str) and Decimal(given) == spec.point_value:
        document["point_value"] = given
    rewards = session.scalars(
        select(Reward).where(Reward.programme_id == row.id, Reward.active).order_by(Reward.id)
    )
    return document | {"rewards": [dict(reward.spec) for reward in rewards]}


def programmes(session: Session) -> list[tuple[Programme, ProgrammeSpec]]:
    rows = session.scalars(select(Programme).where(Programme.active).order_by(Programme.id))
    return [programme(session, row.code) for row in rows]


def set_up(session: Session, *, spec: ProgrammeSpec, actor: str, now: datetime) -> dict[str, Any]:
    """Create programme ``spec.code`` or bring it in line with ``spec``; every change is audited.

    Rewards are matched by code: new ones are added, changed ones updated, ones no longer in
    the spec switched off (never deleted: redemptions refer to them). A reward's stock is set
    from the spec when it is new or when the spec's stock changed since the last set-up.
    """
    row = session.scalar(select(Programme).where(Programme.code == spec.code))
    settings = spec.settings()
    changes: list[str] = []
    if row is None:
        row = Programme(
            code=spec.code,
            name=spec.name,
            currency=spec.currency,
            point_value=spec.point_value,
            settings=settings,
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor=actor,
            programme_id=row.id,
            action="programme.created",
            subject=spec.code,
            details={"settings": settings},
            now=now,
        )
        changes.append("created")
    else:
        before = {
            "name": row.name,
            "currency": row.currency,
            "point_value": row.point_value,
            "settings": row.settings,
            "active": row.active,
        }
        after = {
            "name": spec.name,
            "currency": spec.currency,
            "point_value": spec.point_value,
            "settings": settings,
            "active": True,
        }
        diff = {
            k: {"before": _plain(before[k]), "after": _plain(after[k])}
            for k in after
            if before[k] != after[k]
        }
        if diff:
            row.name, row.currency, row.point_value = spec.name, spec.currency, spec.point_value
            row.settings, row.active, row.updated_at = settings, True, now
            audit(
                session,
                actor=actor,
                programme_id=row.id,
                action="programme.changed",
                subject=spec.code,
                details=diff,
                now=now,
            )
            changes.append("settings changed: " + ", ".join(sorted(diff)))
    changes.extend(_set_rewards(session, row, spec, actor, now))
    session.commit()
    return {"programme": spec.code, "id": row.id, "changes": changes}


def _set_rewards(
    session: Session, row: Programme, spec: ProgrammeSpec, actor: str, now: datetime
) -> list[str]:
    existing = {
        r.code: r for r in session.scalars(select(Reward).where(Reward.programme_id == row.id))
    }
    changes = []
    for reward in spec.rewards:
        data = reward.model_dump(mode="json")
        current = existing.pop(reward.code, None)
        if current is None:
            session.add(
                Reward(
                    programme_id=row.id,
                    code=reward.code,
                    name=reward.name,
                    spec=data,
                    cost=reward.cost,
                    stock=reward.stock,
                    active=True,
                )
            )
            audit(
                session,
                actor=actor,
                programme_id=row.id,
                action="reward.created",
                subject=reward.code,
                details=data,
                now=now,
            )
            changes.append(f"reward {reward.code} added")
            continue
        diff = {
            k: {"before": current.spec.get(k), "after": v}
            for k, v in data.items()
            if current.spec.get(k) != v
        }
        if diff or not current.active:
            if "stock" in diff:
                current.stock = reward.stock
            current.name, current.spec, current.cost, current.active = (
                reward.name,
                data,
                reward.cost,
                True,
            )
            audit(
                session,
                actor=actor,
                programme_id=row.id,
                action="reward.changed",
                subject=reward.code,
                details=diff,
                now=now,
            )
            changes.append(f"reward {reward.code} changed")
    for code, gone in existing.items():
        if gone.active:
            gone.active = False
            audit(
                session,
                actor=actor,
                programme_id=row.id,
                action="reward.withdrawn",
                subject=code,
                details={},
                now=now,
            )
            changes.append(f"reward {code} withdrawn")
    return changes


def audit(
    session: Session,
    *,
    actor: str,
    programme_id: int | None,
    action: str,
    subject: str | None,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """Record a change in the audit log (in the caller's transaction)."""
    session.add(
        AuditRecord(
            at=now,
            actor=actor,
            programme_id=programme_id,
            action=action,
            subject=subject,
            details=details,
        )
    )


def audit_log(
    session: Session, *, programme_code: str | None = None, limit: int = 100
) -> list[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if programme_code is not None:
        row, _ = programme(session, programme_code)
        query = query.where(AuditRecord.programme_id == row.id)
    return list(session.scalars(query))


def changed_fields(record: AuditRecord) -> list[str]:
    """The fields a ``programme.changed`` or ``reward.changed`` record changed; for the
    programme's settings, their sections (``earning``, ``tiers``, …) by name."""
    if record.action not in ("programme.changed", "reward.changed"):
        return []
    fields = sorted(set(record.details) - {"settings"})
    settings = record.details.get("settings")
    if isinstance(settings, dict):
        before, after = settings.get("before") or {}, settings.get("after") or {}
        fields += sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return fields


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _frozen(settings: dict[str, Any]) -> str:
    """Settings as a hashable value, so the parsed spec can be cached."""
    return json.dumps(settings, sort_keys=True)


@lru_cache(maxsize=64)
def _spec(
    code: str,
    name: str,
    currency: str,
    point_value: Any,
    settings: str,
) -> ProgrammeSpec:
    document = json.loads(settings) | {
        "code": code,
        "name": name,
        "currency": currency,
        "point_value": str(point_value),
    }
    return read_spec(document, source=f"programme {code!r} as stored")
