"""The standard-library POST: any status comes back as a number; no answer in time is an error."""

from __future__ import annotations

import pytest

from patron.outbox import transport

from .conftest import Receiver


def test_statuses_come_back_and_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answer_with(204, 410, 301)
    answers = [transport.post(receiver.url, b"{}", {"X-Test": "1"}, 5) for _ in range(3)]
    assert answers == [204, 410, 301]
    assert [r.path for r in receiver.requests] == ["/hooks"] * 3
    assert receiver.requests[0].headers["X-Test"] == "1"


def test_a_receiver_slower_than_the_timeout_is_an_error(receiver: Receiver) -> None:
    receiver.delay = 1.0
    with pytest.raises(OSError, match="timed out"):
        transport.post(receiver.url, b"{}", {}, 0.2)
