"""The permission table: which role may do what, and which permissions an API key may carry.

Pure data and lookups, no database. A permission is ``<resource>:<action>``; ``read`` sees,
``write`` changes, ``manage`` administers Patron itself. The web app checks these with the
web shell; until then they are the contract the routes will be written against.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from patron.errors import PatronError

PERMISSIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "customers:read": "see customers: profiles, the 360, lists, consent state",
        "customers:write": "change customer master data, consents and notes",
        "imports:write": "import files of orders, customers and products",
        "events:write": "send shop events (orders, visits, clicks) through the API",
        "analytics:read": "see analytics: scores, segments' figures, reports",
        "loyalty:read": "see points balances, tiers, rewards and vouchers",
        "loyalty:write": "book points by hand, issue rewards and vouchers",
        "campaigns:read": "see segments, campaigns, templates and their results",
        "campaigns:write": "create and send segments, campaigns and templates",
        "cases:read": "see complaints, surveys, key accounts and tasks",
        "cases:write": "open, answer and close cases, surveys and tasks",
        "subscriptions:read": "see subscriptions, their deliveries and reports",
        "subscriptions:write": "create, change, pause and cancel subscriptions; offer them",
        "privacy:manage": "export a person's data, approve or reject erasure requests",
        "users:manage": "create users, set roles and passwords",
        "apikeys:manage": "create and revoke API keys",
    }
)

ROLES = ("admin", "marketer", "account_manager", "service_agent", "analyst")

_READ_ALL = frozenset(p for p in PERMISSIONS if p.endswith(":read"))

ROLE_PERMISSIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "admin": frozenset(PERMISSIONS),
        # Campaigns and the loyalty programme; sees customers and their figures, changes neither.
        "marketer": frozenset(
            {
                "customers:read",
                "analytics:read",
                "loyalty:read",
                "loyalty:write",
                "campaigns:read",
                "campaigns:write",
                "cases:read",
                "subscriptions:read",
                "subscriptions:write",
            }
        ),
        # Looks after key accounts: keeps their data and cases, sees what is sent to them.
        "account_manager": frozenset(
            {
                "customers:read",
                "customers:write",
                "analytics:read",
                "loyalty:read",
                "campaigns:read",
                "cases:read",
                "cases:write",
                "subscriptions:read",
                "subscriptions:write",
            }
        ),
        # Serves customers one at a time: their data, their cases, goodwill points.
        "service_agent": frozenset(
            {
                "customers:read",
                "customers:write",
                "loyalty:read",
                "loyalty:write",
                "cases:read",
                "cases:write",
                "subscriptions:read",
                "subscriptions:write",
            }
        ),
        # Reads everything there is to read, changes nothing.
        "analyst": _READ_ALL,
    }
)

# What a machine may be allowed: everything but administering Patron's own users and keys,
# so a leaked key can never mint more keys or accounts.
API_KEY_SCOPES: frozenset[str] = frozenset(PERMISSIONS) - {"users:manage", "apikeys:manage"}


def allows(role: str, permission: str) -> bool:
    """Whether ``role`` grants ``permission``. An unknown role grants nothing.

    An unknown permission raises ``ValueError``: it is a typo in the code that asks, and a
    typo must fail loudly rather than deny (or allow) in silence.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def check_role(role: str) -> str:
    """``role`` itself if it is one of ``ROLES``; otherwise a PatronError naming the roles."""
    if role not in ROLE_PERMISSIONS:
        raise PatronError(
            f"unknown role {role!r}; the roles are: {', '.join(ROLES)}",
            code="users.unknown_role",
            details={"role": role, "allowed": list(ROLES)},
        )
    return role


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, deduplicated and sorted; unknown or forbidden ones are refused by name."""
    wanted = sorted({scope.strip() for scope in scopes if scope.strip()})
    if not wanted:
        raise PatronError(
            f"an API key needs at least one scope; allowed: {', '.join(sorted(API_KEY_SCOPES))}",
            code="apikeys.no_scope",
            details={"allowed": sorted(API_KEY_SCOPES)},
        )
    refused = [scope for scope in wanted if scope not in API_KEY_SCOPES]
    if refused:
        raise PatronError(
            f"unknown or not allowed scope(s) for an API key: {', '.join(refused)}; "
            f"allowed: {', '.join(sorted(API_KEY_SCOPES))}",
            code="apikeys.unknown_scope",
            details={"refused": refused, "allowed": sorted(API_KEY_SCOPES)},
        )
    return wanted
