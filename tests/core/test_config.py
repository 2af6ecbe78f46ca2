"""Settings are validated at start-up, and a bad value names its variable."""

from __future__ import annotations

import pytest

from patron.config import DEFAULT_SECRET_KEY, load_settings
from patron.errors import ConfigError


def test_defaults_are_the_embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PATRON_DATABASE_URL", "PATRON_ENVIRONMENT", "PATRON_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./patron.db"
    assert settings.environment == "development"


def test_postgresql_urls_use_psycopg_3() -> None:
    settings = load_settings(database_url="postgresql://postgres@127.0.0.1:5432/test")
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ConfigError, match="PATRON_SECRET_KEY"):
        load_settings(environment="production", secret_key=DEFAULT_SECRET_KEY)


def test_production_accepts_a_long_secret_of_its_own() -> None:
    settings = load_settings(environment="production", secret_key="x" * 40)
    assert settings.environment == "production"


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("database_url", "mysql://localhost/db", "PATRON_DATABASE_URL"),
        ("timezone", "Mars/Olympus", "PATRON_TIMEZONE"),
        ("currency", "EURO", "PATRON_CURRENCY"),
        ("port", 70000, "PATRON_PORT"),
        ("environment", "staging", "PATRON_ENVIRONMENT"),
    ],
)
def test_bad_values_name_their_variable(field: str, value: object, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(**{field: value})


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_TIMEZONE", "Europe/Oslo")
    monkeypatch.setenv("PATRON_CURRENCY", "nok")
    settings = load_settings()
    assert settings.timezone == "Europe/Oslo"
    assert settings.currency == "NOK"
