"""Consent histories of the demo shop: append-only grants at the first contact, some withdrawn.

Most customers allow transactional e-mail; fewer allow marketing per channel, some say no
explicitly at sign-up, and some withdraw later (a second row). The newsletter simulation reads
these histories, so nobody without consent ever opens a newsletter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.demo.people import People
from patron.demo.simulate import OBSERVATION_END

END = int(OBSERVATION_END.astype(np.int64))
# (channel, purpose, chance for a person, chance for an organisation, chance of a withdrawal)
CONSENT_RULES = (
    ("email", "transactional", 0.92, 0.98, 0.0),
    ("email", "marketing", 0.62, 0.5, 0.18),
    ("email", "surveys", 0.3, 0.4, 0.1),
    ("email", "profiling", 0.35, 0.2, 0.1),
    ("sms", "marketing", 0.18, 0.05, 0.25),
    ("post", "marketing", 0.25, 0.6, 0.08),
    ("phone", "marketing", 0.03, 0.5, 0.1),
    ("push", "marketing", 0.12, 0.0, 0.3),
)
EMAIL_MARKETING = 1  # index of the rule above


@dataclass(frozen=True)
class Consents:
    customer: np.ndarray
    rule: np.ndarray  # index into CONSENT_RULES
    granted: np.ndarray
    recorded: np.ndarray  # epoch seconds


def draw_consents(rng: np.random.Generator, people: People, first_contact: np.ndarray) -> Consents:
    parts: list[tuple[np.ndarray, ...]] = []
    n = len(people)
    for index, (_, _, person, organisation, withdraw) in enumerate(CONSENT_RULES):
        chance = np.where(people.is_org, organisation, person)
        u = rng.random(n)
        who = np.flatnonzero(u < chance)
        granted_at = first_contact[who] + rng.integers(0, 3600, len(who))
        parts.append((who, np.full(len(who), index), np.ones(len(who), bool), granted_at))
        later = rng.random(len(who)) < withdraw
        gone = who[later]
        withdrawn_at = granted_at[later] + (
            (END - granted_at[later]) * rng.random(len(gone))
        ).astype(np.int64)
        parts.append((gone, np.full(len(gone), index), np.zeros(len(gone), bool), withdrawn_at))
        if index == EMAIL_MARKETING:  # some say no explicitly at sign-up
            refused = np.flatnonzero((u >= chance) & (rng.random(n) < 0.25))
            at = first_contact[refused] + rng.integers(0, 3600, len(refused))
            parts.append((refused, np.full(len(refused), index), np.zeros(len(refused), bool), at))
    customer, rule, granted, recorded = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    keep = recorded < END
    order = np.lexsort((rule[keep], recorded[keep], customer[keep]))
    return Consents(
        customer[keep][order], rule[keep][order], granted[keep][order], recorded[keep][order]
    )


def email_marketing_spans(consents: Consents, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: from when to when e-mail marketing consent stood (start = end: never)."""
    mask = consents.rule == EMAIL_MARKETING
    start, end = np.full(n, END), np.full(n, END)
    grants = mask & consents.granted
    start[consents.customer[grants]] = consents.recorded[grants]
    withdrawals = mask & ~consents.granted
    end[consents.customer[withdrawals]] = consents.recorded[withdrawals]
    return start, np.maximum(start, end)
