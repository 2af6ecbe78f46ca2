"""Settings from ``PATRON_*`` environment variables (and an optional ``.env``), validated at start-up."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from patron.errors import ConfigError

DEFAULT_SECRET_KEY = "change-me-patron-development-only"


class Environment(StrEnum):
    development = "development"
    demo = "demo"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Every setting Patron reads. Each field is documented in the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="PATRON_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///./patron.db",
        description="SQLAlchemy URL of the operational store (SQLite file or PostgreSQL).",
    )
    secret_key: str = Field(default=DEFAULT_SECRET_KEY, description="Signs sessions and tokens.")
    environment: Environment = Field(default=Environment.development)
    timezone: str = Field(
        default="UTC", description="Shop time zone: how timestamps without an offset are read."
    )
    currency: str = Field(default="EUR", description="Currency of imported orders that name none.")
    host: str = Field(default="127.0.0.1", description="Address `patron serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `patron serve` listens on.")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 code such as EUR")
        return value.upper()

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Settings:
        if self.environment is Environment.production and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError(
                "PATRON_SECRET_KEY is the built-in development default; set a secret of your own "
                "before running in production"
            )
        if self.environment is Environment.production and len(self.secret_key) < 32:
            raise ValueError("PATRON_SECRET_KEY must be at least 32 characters in production")
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Build settings once at start-up; a bad value becomes a ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            name = f"PATRON_{field.upper()}" if field != "settings" else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems), details=problems) from exc
