"""The errors Patron shows to users: a stable code, a message, optional details.

Areas raise these; each entry point (CLI, web) turns them into its own output in one place.
"""

from __future__ import annotations

from typing import Any


class PatronError(Exception):
    """An error a user can act on. ``code`` is stable (``import.bad_row``); the message is prose."""

    code: str = "patron.error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(PatronError):
    code = "config.invalid"
    status = 500


class NotFound(PatronError):
    code = "not_found"
    status = 404


class SchemaOutdated(PatronError):
    code = "db.outdated"
    status = 503


class ImportFailed(PatronError):
    """The importer refused a file; ``details`` carries the summary and the first rejected rows."""

    code = "import.failed"
    status = 422


class Conflict(PatronError):
    code = "conflict"
    status = 409


class Unauthenticated(PatronError):
    """Credentials that prove nothing: a wrong password, an unknown or revoked API key."""

    code = "auth.unauthenticated"
    status = 401


class TooManyAttempts(PatronError):
    code = "auth.locked"
    status = 429


class Forbidden(PatronError):
    """Credentials that prove who asks, but not a right to what is asked."""

    code = "auth.forbidden"
    status = 403
