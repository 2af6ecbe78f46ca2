"""When to try a failed webhook delivery again, and when to give up. Pure.

Waits double from 30 seconds (30 s, 1 min, 2 min, … capped at 6 hours), each stretched by up
to 10 % at random so that deliveries that failed together do not all come back together.
The tenth failed attempt is the last: the delivery is then dead until someone retries it.
"""

from __future__ import annotations

from datetime import timedelta

MAX_ATTEMPTS = 10
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=6)
JITTER = 0.1


def delay(attempts: int, *, jitter: float = 0.0) -> timedelta:
    """The wait after the ``attempts``-th failed attempt; ``jitter`` in [0, 1) stretches it."""
    if attempts < 1:
        raise ValueError(f"attempts counts from 1, got {attempts}")
    base = min(FIRST_DELAY * 2 ** min(attempts - 1, 32), MAX_DELAY)
    return base * (1 + JITTER * jitter)


def gives_up(attempts: int) -> bool:
    """Whether a delivery that has failed ``attempts`` times is dead."""
    return attempts >= MAX_ATTEMPTS
