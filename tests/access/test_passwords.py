"""Password policy and argon2 hashing, pure (no database)."""

from __future__ import annotations

import pytest

from patron.access import passwords
from patron.errors import PatronError

GOOD = "correct horse battery"


@pytest.mark.parametrize("short", ["", "abc", "elevenchars"])
def test_a_short_password_is_refused_saying_what_is_needed(short: str) -> None:
    with pytest.raises(PatronError, match="at least 12 characters") as caught:
        passwords.check_policy(short)
    assert caught.value.code == "users.weak_password"


def test_twelve_characters_pass_and_only_spaces_do_not() -> None:
    passwords.check_policy("twelve chars")
    with pytest.raises(PatronError, match="only spaces"):
        passwords.check_policy(" " * 12)
    with pytest.raises(PatronError, match="at most"):
        passwords.check_policy("x" * (passwords.MAX_LENGTH + 1))


def test_the_hash_is_argon2id_and_not_the_password() -> None:
    hashed = passwords.hash_password(GOOD)
    assert hashed.startswith("$argon2id$")
    assert GOOD not in hashed
    assert passwords.hash_password(GOOD) != hashed  # salted


def test_verify_accepts_the_password_and_refuses_others() -> None:
    hashed = passwords.hash_password(GOOD)
    assert passwords.verify_password(GOOD, hashed) == (True, None)
    assert passwords.verify_password(GOOD.upper(), hashed)[0] is False
    assert passwords.verify_password(GOOD + " ", hashed)[0] is False


def test_hashing_applies_the_policy() -> None:
    with pytest.raises(PatronError):
        passwords.hash_password("short")
