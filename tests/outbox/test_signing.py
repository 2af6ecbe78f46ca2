"""The webhook signature: what ``sign`` makes, ``verify`` accepts, and nothing tampered passes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from patron.outbox.signing import sign, verify

SECRET = "whsec-for-the-tests-only"
BODY = b'{"id":7,"topic":"points.earned","data":{"points":120}}'
T = 1_790_000_000


def test_the_header_is_the_hmac_of_time_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_round_trip_within_the_tolerance_either_way() -> None:
    header = sign(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T)
    assert verify(SECRET, header, BODY, now=T + 300)
    assert verify(SECRET, header, BODY, now=T - 300)  # the receiver's clock runs behind
    assert verify(SECRET, header, BODY, now=datetime.fromtimestamp(T + 10, UTC))


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("another-secret-entirely", BODY, T),  # wrong key
        (SECRET, BODY.replace(b"120", b"920"), T),  # tampered body
        (SECRET, BODY + b" ", T),  # one byte more
        (SECRET, BODY, T + 301),  # replayed too late
        (SECRET, BODY, T - 301),  # from the future
    ],
)
def test_anything_changed_fails(secret: str, body: bytes, now: int) -> None:
    assert not verify(secret, sign(SECRET, T, BODY), body, now=now)


def test_a_changed_timestamp_fails_although_it_is_fresh() -> None:
    digest = sign(SECRET, T, BODY).split(",v1=")[1]
    assert not verify(SECRET, f"t={T + 60},v1={digest}", BODY, now=T + 60)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", f"t={T}", "v1=abc", f"t=x{T},v1=abc", f"t={T},v2=abc", f"t=-{T},v1=abc"],
)
def test_malformed_headers_are_simply_invalid(header: str) -> None:
    assert not verify(SECRET, header, BODY, now=T)


def test_one_matching_v1_of_several_suffices_and_the_tolerance_can_be_set() -> None:
    good = sign(SECRET, T, BODY).split(",v1=")[1]
    header = f"t={T},v1={'0' * 64},v1={good}"
    assert verify(SECRET, header, BODY, now=T)
    assert not verify(SECRET, header, BODY, now=T + 61, tolerance=60)
