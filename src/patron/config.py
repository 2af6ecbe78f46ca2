"""Settings from ``PATRON_*`` environment variables (and an optional ``.env``), validated at start-up."""

from __future__ import annotations

from datetime import time
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


class SmtpSecurity(StrEnum):
    starttls = "starttls"
    tls = "tls"
    none = "none"


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
    shop_name: str = Field(default="Patron", description="The shop's name in messages and pages.")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where customers reach this Patron: the base of the links in messages.",
    )
    language: str = Field(
        default="en", description="The shop's default language for messages (de, en, nb)."
    )
    email_from: str = Field(
        default="Patron <shop@localhost>", description="The From: of every e-mail Patron sends."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail; without one, e-mail stays queued."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: SmtpSecurity = Field(
        default=SmtpSecurity.starttls,
        description="starttls (port 587), tls (implicit TLS, port 465) or none (a local relay).",
    )
    smtp_user: str | None = Field(default=None, description="SMTP user name, if it asks for one.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    message_webhook_url: str | None = Field(
        default=None,
        description="Where the webhook channel posts messages (an SMS or push provider's bridge).",
    )
    message_webhook_secret: str | None = Field(
        default=None, description="Key of the webhook channel's HMAC signature."
    )
    send_connections: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Connections a worker sends each channel's messages over at once.",
    )
    track_messages: bool = Field(
        default=True, description="Open pixel and tracked links in marketing e-mails."
    )
    control_share: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="Share of customers in the global control group, who never get marketing.",
    )
    marketing_cap: int = Field(
        default=2, ge=1, description="At most this many marketing messages per customer …"
    )
    marketing_cap_days: int = Field(default=7, ge=1, description="… in this many days.")
    quiet_hours: str = Field(
        default="21:00-08:00",
        description="No marketing is sent in these hours of the customer's own time zone.",
    )

    care_hours: str = Field(
        default="mon-fri 08:00-17:00",
        description="Working hours of customer service, in which case deadlines run "
        "(e.g. `mon-fri 08:00-17:00; sat 09:00-13:00`).",
    )
    care_holidays: str = Field(
        default="",
        description="Public holidays on which no deadline runs: a country, optionally with its "
        "subdivision (`DE`, `DE-BY`, `NO`), as the `holidays` library knows them; empty for none.",
    )
    care_closed_days: str = Field(
        default="",
        description="Further days the service is closed, as ISO dates separated by commas.",
    )
    care_sla_file: str | None = Field(
        default=None,
        description="A YAML file of SLA policies (first response and resolution hours by "
        "priority and customer class); the built-in policies when unset.",
    )
    care_warn_hours: float = Field(
        default=2.0,
        ge=0,
        description="Warn this many working hours before a case's deadline passes.",
    )
    care_inbound_address: str | None = Field(
        default=None,
        description="The address customers write to with complaints (e.g. `service@shop.example`); "
        "mail to it opens a case or adds to one.",
    )
    care_inbound_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port on which `patron worker` receives that mail over SMTP (unset: off).",
    )
    care_inbound_host: str = Field(
        default="127.0.0.1", description="Address the inbound SMTP listener binds to."
    )
    survey_valid_days: int = Field(
        default=30, ge=1, description="A survey link in a message works for this many days."
    )
    account_capacity: int = Field(
        default=30, ge=1, description="Key accounts an account manager looks after at most."
    )
    task_no_contact_days: int = Field(
        default=90,
        ge=1,
        description="A key account not contacted for this many days gets an invitation task.",
    )
    task_p_alive_drop: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="A key account whose P(alive) fell by this much between two analyses gets "
        "a call task.",
    )
    task_gift_days_before: int = Field(
        default=14,
        ge=0,
        description="Days before the anniversary of a key account's first order its gift task "
        "is due.",
    )

    subscription_announce_days: int = Field(
        default=3,
        ge=0,
        le=60,
        description="A subscription delivery is announced to the shop (export, `subscription.due` "
        "webhook) this many days before it is due.",
    )
    subscription_reminder_days: int = Field(
        default=14,
        ge=0,
        description="The account manager gets a task this many days before a contract's notice "
        "deadline, to talk to the customer.",
    )
    subscription_renewal_notice_days: int = Field(
        default=30,
        ge=0,
        description="Customers are told this many days before their contract renews.",
    )
    portal_url: str | None = Field(
        default=None,
        description="Where customers reach their portal, if not at `PATRON_PUBLIC_URL` + `/portal` "
        "(e.g. `https://my.shop.example` behind a proxy).",
    )
    portal_colour: str = Field(
        default="#1f5f8b", description="The portal's main colour (buttons, header), as #rrggbb."
    )
    portal_accent: str = Field(
        default="#e8a33d", description="The portal's accent colour (progress, badges), as #rrggbb."
    )
    portal_link_minutes: int = Field(
        default=20, ge=1, le=1440, description="A portal sign-in link works once, for this long."
    )
    portal_session_days: int = Field(
        default=30, ge=1, description="A portal sign-in lasts this many days (or until sign-out)."
    )

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

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("de", "en", "nb"):
            raise ValueError("must be one of de, en, nb")
        return value

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value == "":
            return value
        try:
            start, end = value.split("-")
            for part in (start, end):
                time.fromisoformat(part)
        except ValueError as exc:
            raise ValueError("must be two times like 21:00-08:00, or empty for none") from exc
        return value

    @field_validator("portal_colour", "portal_accent")
    @classmethod
    def _colour(cls, value: str) -> str:
        if (
            len(value) != 7
            or value[0] != "#"
            or any(c not in "0123456789abcdefABCDEF" for c in value[1:])
        ):
            raise ValueError("must be a colour like #1f5f8b")
        return value.lower()

    @field_validator("portal_url")
    @classmethod
    def _portal_address(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

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

    @property
    def portal_base(self) -> str:
        """The address of the customer portal: its own, or ``/portal`` under the public one."""
        return self.portal_url or f"{self.public_url}/portal"


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
