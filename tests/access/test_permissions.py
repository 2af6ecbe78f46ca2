"""The permission table, pure: who may do what, and what an API key may carry."""

from __future__ import annotations

import pytest

from patron.access.permissions import (
    API_KEY_SCOPES,
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    allows,
    check_role,
    check_scopes,
)
from patron.errors import PatronError

CHANGING = [p for p in PERMISSIONS if p.endswith((":write", ":manage"))]


def test_there_are_exactly_the_five_roles() -> None:
    assert (
        set(ROLES)
        == set(ROLE_PERMISSIONS)
        == {
            "admin",
            "marketer",
            "account_manager",
            "service_agent",
            "analyst",
        }
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_role_grants_only_known_permissions(role: str) -> None:
    assert ROLE_PERMISSIONS[role] <= set(PERMISSIONS)
    assert ROLE_PERMISSIONS[role], f"{role} grants nothing"


def test_every_permission_is_resource_colon_action() -> None:
    for permission in PERMISSIONS:
        resource, action = permission.split(":")
        assert resource
        assert action in {"read", "write", "manage"}


def test_admin_may_do_everything() -> None:
    assert all(allows("admin", permission) for permission in PERMISSIONS)


@pytest.mark.parametrize("permission", CHANGING)
def test_the_analyst_changes_nothing(permission: str) -> None:
    assert not allows("analyst", permission)


def test_the_analyst_reads_everything_readable() -> None:
    assert all(allows("analyst", p) for p in PERMISSIONS if p.endswith(":read"))


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_manage_users_and_keys(role: str) -> None:
    assert not allows(role, "users:manage")
    assert not allows(role, "apikeys:manage")


def test_an_unknown_role_grants_nothing_and_an_unknown_permission_is_a_bug() -> None:
    assert not allows("intern", "customers:read")
    with pytest.raises(ValueError, match="customer:read"):
        allows("admin", "customer:read")


def test_check_role_names_the_roles() -> None:
    assert check_role("marketer") == "marketer"
    with pytest.raises(PatronError, match="admin, marketer") as caught:
        check_role("boss")
    assert caught.value.code == "users.unknown_role"


def test_api_keys_never_manage_users_or_keys() -> None:
    assert "users:manage" not in API_KEY_SCOPES
    assert "apikeys:manage" not in API_KEY_SCOPES
    assert {"customers:read", "events:write", "imports:write"} <= API_KEY_SCOPES
    assert set(PERMISSIONS) - API_KEY_SCOPES == {"users:manage", "apikeys:manage"}


def test_check_scopes_sorts_deduplicates_and_trims() -> None:
    assert check_scopes([" events:write", "customers:read", "events:write"]) == [
        "customers:read",
        "events:write",
    ]


@pytest.mark.parametrize(
    "scope", ["users:manage", "apikeys:manage", "everything", "Customers:read"]
)
def test_check_scopes_refuses_and_lists_the_allowed_ones(scope: str) -> None:
    with pytest.raises(PatronError, match="allowed: analytics:read") as caught:
        check_scopes(["customers:read", scope])
    assert caught.value.code == "apikeys.unknown_scope"
    assert caught.value.details["refused"] == [scope]


def test_a_key_without_scopes_is_refused() -> None:
    with pytest.raises(PatronError) as caught:
        check_scopes(["", " "])
    assert caught.value.code == "apikeys.no_scope"


def test_the_readme_shows_this_permission_table() -> None:
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "README.md"
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[2:]
        for line in readme.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `") and line.split("|")[1].strip(" `") in PERMISSIONS
    }
    assert set(rows) == set(PERMISSIONS), "README.md lacks rows of the permission table"
    for permission, cells in rows.items():
        marks = [cell.strip() == "✓" for cell in cells[: len(ROLES) + 1]]
        expected = [permission in ROLE_PERMISSIONS[role] for role in ROLES]
        assert marks == [*expected, permission in API_KEY_SCOPES], permission
