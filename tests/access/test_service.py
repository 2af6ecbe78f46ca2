"""Users and API keys through the service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.access import service
from patron.access.models import ApiKey, User
from patron.customers.models import Customer
from patron.errors import Conflict, NotFound, PatronError, TooManyAttempts, Unauthenticated

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "a long enough passphrase"


@pytest.fixture
def anna(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        service.create_user(
            session,
            email=" Anna@Example.org ",
            password=PASSWORD,
            role="marketer",
            name="Anna Berg",
            language="de",
        )
    return "anna@example.org"


def _sign_in(sessions: sessionmaker[Session], email: str, password: str, now: datetime) -> object:
    with sessions() as session:
        return service.authenticate(session, email=email, password=password, now=now)


def _failure(sessions: sessionmaker[Session], email: str, password: str, now: datetime) -> str:
    with pytest.raises((Unauthenticated, TooManyAttempts)) as caught:
        _sign_in(sessions, email, password, now)
    return f"{caught.value.code}: {caught.value.message}"


# --- users -------------------------------------------------------------------------------


def test_create_user_stores_a_hash_and_shows_no_secret(
    sessions: sessionmaker[Session], anna: str
) -> None:
    with sessions() as session:
        listed = service.list_users(session)
        stored = session.scalars(select(User)).one()
    assert listed.count == 1
    user = listed.data[0]
    assert (user.email, user.name, user.role, user.language, user.active) == (
        anna,
        "Anna Berg",
        "marketer",
        "de",
        True,
    )
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert "password" not in user.model_dump_json()
    assert "hash" not in user.model_dump_json()


def test_a_taken_email_is_refused_whatever_its_case(
    sessions: sessionmaker[Session], anna: str
) -> None:
    with sessions() as session, pytest.raises(Conflict) as caught:
        service.create_user(session, email="ANNA@example.org", password=PASSWORD, role="analyst")
    assert caught.value.code == "users.email_taken"
    with sessions() as session:
        assert service.list_users(session).count == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"role": "boss"}, "users.unknown_role"),
        ({"language": "fr"}, "users.unknown_language"),
        ({"email": "not-an-address"}, "users.bad_email"),
        ({"password": "too short"}, "users.weak_password"),
    ],
)
def test_bad_user_fields_are_refused(
    sessions: sessionmaker[Session], fields: dict[str, str], code: str
) -> None:
    arguments = {"email": "bo@example.org", "password": PASSWORD, "role": "analyst", **fields}
    with sessions() as session, pytest.raises(PatronError) as caught:
        service.create_user(session, **arguments)
    assert caught.value.code == code
    with sessions() as session:
        assert service.list_users(session).count == 0


def test_the_role_check_constraint_is_the_last_line_of_defence(
    sessions: sessionmaker[Session], anna: str
) -> None:
    from sqlalchemy.exc import IntegrityError

    with sessions() as session, pytest.raises(IntegrityError):
        session.execute(update(User).values(role="root"))


def test_authenticate_with_the_right_password(sessions: sessionmaker[Session], anna: str) -> None:
    user = _sign_in(sessions, "ANNA@example.org ", PASSWORD, NOW)
    assert user.email == anna  # type: ignore[attr-defined]
    with sessions() as session:
        assert service.list_users(session).data[0].last_sign_in_at == NOW


def test_unknown_email_and_wrong_password_read_the_same(
    sessions: sessionmaker[Session], anna: str
) -> None:
    wrong = _failure(sessions, anna, PASSWORD + "!", NOW)
    unknown = _failure(sessions, "nobody@example.org", PASSWORD, NOW)
    assert wrong == unknown == "auth.invalid_credentials: wrong e-mail address or password"


def test_an_inactive_user_cannot_sign_in(sessions: sessionmaker[Session], anna: str) -> None:
    with sessions() as session:
        session.execute(update(User).values(active=False))
        session.commit()
    assert _failure(sessions, anna, PASSWORD, NOW).startswith("auth.invalid_credentials")


def test_five_failures_lock_for_fifteen_minutes(sessions: sessionmaker[Session], anna: str) -> None:
    for minute in range(5):
        message = _failure(sessions, anna, "wrong password!", NOW + timedelta(minutes=minute))
        assert message.startswith("auth.invalid_credentials")
    locked_at = NOW + timedelta(minutes=4)
    # Locked: even the right password is refused, with its own message.
    message = _failure(sessions, anna, PASSWORD, locked_at + timedelta(minutes=14, seconds=59))
    assert message.startswith("auth.locked: too many failed sign-ins")
    # Fifteen minutes after the fifth failure, the right password works again.
    assert _sign_in(sessions, anna, PASSWORD, locked_at + timedelta(minutes=15))
    with sessions() as session:
        stored = session.scalars(select(User)).one()
    assert (stored.failed_sign_ins, stored.locked_until) == (0, None)


def test_a_success_resets_the_count(sessions: sessionmaker[Session], anna: str) -> None:
    for _ in range(4):
        _failure(sessions, anna, "wrong password!", NOW)
    _sign_in(sessions, anna, PASSWORD, NOW)
    for _ in range(4):
        _failure(sessions, anna, "wrong password!", NOW)
    assert _sign_in(sessions, anna, PASSWORD, NOW)  # four, not eight, failures in a row


def test_after_a_lock_runs_out_the_count_starts_again(
    sessions: sessionmaker[Session], anna: str
) -> None:
    for _ in range(5):
        _failure(sessions, anna, "wrong password!", NOW)
    later = NOW + timedelta(minutes=20)
    assert _failure(sessions, anna, "wrong password!", later).startswith("auth.invalid")
    assert _sign_in(sessions, anna, PASSWORD, later)


def test_set_password_replaces_it_and_lifts_a_lock(
    sessions: sessionmaker[Session], anna: str
) -> None:
    for _ in range(5):
        _failure(sessions, anna, "wrong password!", NOW)
    with sessions() as session:
        service.set_password(session, email="Anna@example.org", password="another fine passphrase")
    assert _failure(sessions, anna, PASSWORD, NOW).startswith("auth.invalid_credentials")
    assert _sign_in(sessions, anna, "another fine passphrase", NOW)
    with sessions() as session, pytest.raises(NotFound):
        service.set_password(session, email="nobody@example.org", password=PASSWORD)


def test_deleting_a_user_clears_the_customers_account_manager(
    sessions: sessionmaker[Session], anna: str
) -> None:
    with sessions() as session:
        user = session.scalars(select(User)).one()
        customer = make.customer(session, account_manager_id=user.id)
        session.commit()
        session.delete(user)
        session.commit()
        session.expire_all()
        assert session.get(Customer, customer.id).account_manager_id is None  # type: ignore[union-attr]


# --- API keys ----------------------------------------------------------------------------


def _create_key(sessions: sessionmaker[Session], *scopes: str) -> tuple[str, str]:
    with sessions() as session:
        key, token = service.create_api_key(session, name="web shop", scopes=list(scopes))
    return key.prefix, token


def test_a_key_verifies_to_exactly_its_scopes(sessions: sessionmaker[Session]) -> None:
    prefix, token = _create_key(sessions, "events:write", "customers:read")
    assert token.startswith(f"pk_{prefix}_")
    with sessions() as session:
        assert service.verify_api_key(session, token=token, now=NOW) == {
            "customers:read",
            "events:write",
        }
    with sessions() as session:
        listed = service.list_api_keys(session)
    assert listed.count == 1
    assert listed.data[0].last_used_at == NOW
    assert listed.data[0].scopes == ["customers:read", "events:write"]
    assert token not in listed.model_dump_json()


def test_last_used_is_written_at_most_once_a_minute(sessions: sessionmaker[Session]) -> None:
    _prefix, token = _create_key(sessions, "events:write")
    for seconds in (0, 30, 59, 60, 61):
        with sessions() as session:
            service.verify_api_key(session, token=token, now=NOW + timedelta(seconds=seconds))
    with sessions() as session:
        assert service.list_api_keys(session).data[0].last_used_at == NOW + timedelta(seconds=60)


def test_only_a_hash_of_the_token_is_stored(sessions: sessionmaker[Session]) -> None:
    _prefix, token = _create_key(sessions, "customers:read")
    secret = token.split("_", 2)[2]
    with sessions() as session:
        stored = session.scalars(select(ApiKey)).one()
    assert stored.secret_hash != token
    assert secret not in stored.secret_hash
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


def test_a_revoked_key_is_refused(sessions: sessionmaker[Session]) -> None:
    prefix, token = _create_key(sessions, "customers:read")
    with sessions() as session:
        revoked = service.revoke_api_key(session, prefix=prefix, now=NOW)
        assert revoked.revoked_at == NOW
        again = service.revoke_api_key(session, prefix=prefix, now=NOW + timedelta(days=1))
        assert again.revoked_at == NOW
    with sessions() as session, pytest.raises(Unauthenticated) as caught:
        service.verify_api_key(session, token=token, now=NOW)
    assert caught.value.code == "auth.invalid_key"
    with sessions() as session, pytest.raises(NotFound):
        service.revoke_api_key(session, prefix="00000000", now=NOW)


def test_malformed_unknown_and_tampered_tokens_are_refused(sessions: sessionmaker[Session]) -> None:
    prefix, token = _create_key(sessions, "customers:read")
    secret = token.split("_", 2)[2]
    other = "A" if secret[-1] != "A" else "B"
    for bad in [
        "",
        "pk_",
        "nonsense",
        token[:-1],
        token + "x",
        f"pk_{prefix}_{secret[:-1]}{other}",
        f"pk_ffffffff_{secret}" if prefix != "ffffffff" else f"pk_eeeeeeee_{secret}",
        f"sk_{prefix}_{secret}",
    ]:
        with sessions() as session, pytest.raises(Unauthenticated) as caught:
            service.verify_api_key(session, token=bad, now=NOW)
        assert caught.value.code == "auth.invalid_key", bad
    with sessions() as session:
        assert service.list_api_keys(session).data[0].last_used_at is None


def test_unknown_scopes_are_refused_naming_the_allowed_ones(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, pytest.raises(PatronError, match="allowed: ") as caught:
        service.create_api_key(session, name="x", scopes=["customers:read", "users:manage"])
    assert caught.value.code == "apikeys.unknown_scope"
    with sessions() as session, pytest.raises(PatronError) as caught:
        service.create_api_key(session, name=" ", scopes=["customers:read"])
    assert caught.value.code == "apikeys.bad_name"
    with sessions() as session:
        assert service.list_api_keys(session).count == 0


def test_every_key_gets_its_own_prefix_and_secret(sessions: sessionmaker[Session]) -> None:
    tokens = {_create_key(sessions, "customers:read")[1] for _ in range(5)}
    assert len(tokens) == 5
    assert len({token.split("_")[1] for token in tokens}) == 5
