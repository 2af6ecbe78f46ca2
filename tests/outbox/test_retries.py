"""The back-off between attempts: doubling from 30 s, capped at 6 h, up to 10 % later at random."""

from __future__ import annotations

from datetime import timedelta

import pytest

from patron.outbox import retries


def test_the_waits_double_from_thirty_seconds() -> None:
    waits = [retries.delay(n) for n in range(1, 10)]
    assert waits == [timedelta(seconds=30 * 2 ** (n - 1)) for n in range(1, 10)]


def test_the_wait_is_capped_at_six_hours() -> None:
    assert retries.delay(11) == timedelta(hours=6)
    assert retries.delay(1000) == timedelta(hours=6)


def test_jitter_stretches_by_at_most_ten_percent() -> None:
    assert retries.delay(1, jitter=0.5) == timedelta(seconds=31.5)
    assert retries.delay(3, jitter=0.999) < timedelta(seconds=132)


def test_the_tenth_failure_is_the_last() -> None:
    assert not retries.gives_up(9)
    assert retries.gives_up(10)
    with pytest.raises(ValueError, match="counts from 1"):
        retries.delay(0)
