"""The handoff service's settings (`python -m handoff serve` and the other `python -m handoff`
commands): one typed object, read once from the environment (`get_settings()`).

Every variable is in README.md's configuration table; handoff/env_settings.py says how
names, blanks and errors work."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, ClassVar

from parley_shared import triggers
from pydantic import Field, ValidationInfo, field_validator

from handoff.env_settings import Cached, EnvSettings, SettingsError, number, whole_number

__all__ = [
    "Settings",
    "SettingsError",
    "database_url",
    "event_broker_url",
    "events_database_url",
    "get_settings",
    "internal_port",
    "is_loopback",
    "override_settings",
    "reset_settings",
    "service_url",
]

PACKAGE_DIR = Path(__file__).resolve().parent


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach a listener on `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable


# --- derived defaults, shared with the other processes' settings -------------------------


def database_url(handoff_db_url: str, parley_database_url: str, state_dir: Path) -> str:
    """The handoff database: HANDOFF_DB_URL, else PARLEY_DATABASE_URL (PostgreSQL, shared
    with Rasa's tracker store), else SQLite in the state folder."""
    return handoff_db_url or parley_database_url or f"sqlite:///{state_dir / 'handoff.db'}"


def events_database_url(database_url: str) -> str:
    """The database of Rasa's SQL event broker on the same PostgreSQL server: `<name>_events`
    (its table is called `events`, like the tracker store's, so it needs a database of its
    own)."""
    head, _, tail = database_url.partition("?")
    base, _, name = head.rpartition("/")
    return f"{base}/{name}_events" + (f"?{tail}" if tail else "")


def event_broker_url(
    rabbitmq_url: str, rasa_events_db_url: str | None, parley_database_url: str, state_dir: Path
) -> str:
    """How the handoff service follows Rasa's event broker: RabbitMQ (RABBITMQ_URL), else
    the SQL broker's database (RASA_EVENTS_DB_URL; by default `rasa_events.db` in the state
    folder, or `<database>_events` on PARLEY_DATABASE_URL's server). Set RASA_EVENTS_DB_URL
    to empty to stop following it (None: not set)."""
    if rabbitmq_url:
        return rabbitmq_url
    if rasa_events_db_url is not None:
        return rasa_events_db_url
    if parley_database_url:
        return events_database_url(parley_database_url)
    return f"sqlite:///{state_dir / 'rasa_events.db'}"


def internal_port(port: int, configured: int | None) -> int:
    """HANDOFF_INTERNAL_PORT, by default the public port + 1 (0, a free port, with port 0)."""
    if configured is not None:
        return configured
    return port + 1 if port else 0


def service_url(handoff_url: str, internal_port: int) -> str:
    """Where the internal API is reached: HANDOFF_URL, else loopback on its port."""
    return (handoff_url or f"http://127.0.0.1:{internal_port}").rstrip("/")


class Settings(EnvSettings):
    """The handoff service's settings. Derived values (`host`, `internal_port`,
    `service_url`, `db_url`, `event_broker_url`) are properties over the variables."""

    KEEP_BLANK: ClassVar[frozenset[str]] = frozenset({"RASA_EVENTS_DB_URL"})

    state_dir: Path = Field(Path("var"), validation_alias="PARLEY_STATE_DIR")
    # Listeners. Slack's events come to the public one, which follows PARLEY_HOST; the
    # internal API (action server, widget server, console) has a listener of its own on
    # loopback: it is never on the address Slack (or anyone) reaches.
    port: int = Field(3000, validation_alias="HANDOFF_PORT")
    handoff_host: str = Field("", validation_alias="HANDOFF_HOST")
    parley_host: str = Field("", validation_alias="PARLEY_HOST")
    handoff_internal_port: int | None = Field(None, validation_alias="HANDOFF_INTERNAL_PORT")
    internal_host: str = Field("127.0.0.1", validation_alias="HANDOFF_INTERNAL_HOST")
    handoff_url: str = Field("", validation_alias="HANDOFF_URL")
    internal_token: str = Field("", validation_alias="HANDOFF_INTERNAL_TOKEN", repr=False)
    # Databases and Rasa.
    handoff_db_url: str = Field("", validation_alias="HANDOFF_DB_URL")
    parley_database_url: str = Field("", validation_alias="PARLEY_DATABASE_URL")
    rabbitmq_url: str = Field("", validation_alias="RABBITMQ_URL")
    rasa_events_db_url: str | None = Field(None, validation_alias="RASA_EVENTS_DB_URL")
    rasa_url: str = Field("http://localhost:5005", validation_alias="RASA_URL")
    rasa_token: str = Field("", validation_alias="RASA_TOKEN", repr=False)
    # Slack (on with SLACK_BOT_TOKEN).
    slack_bot_token: str = Field("", validation_alias="SLACK_BOT_TOKEN", repr=False)
    slack_signing_secret: str = Field("", validation_alias="SLACK_SIGNING_SECRET", repr=False)
    slack_app_token: str = Field("", validation_alias="SLACK_APP_TOKEN", repr=False)
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_channel: str = Field("", validation_alias="SLACK_HANDOFF_CHANNEL")
    # The triggers, for `python -m handoff demo` (the Rasa server reads its own).
    triggers_file: Path = Field(triggers.DEFAULT_FILE, validation_alias="HANDOFF_TRIGGERS_FILE")
    max_abstentions: int | None = Field(None, validation_alias="HANDOFF_MAX_ABSTENTIONS")
    # Timing.
    idle_minutes: float = Field(30.0, validation_alias="HANDOFF_IDLE_MINUTES")
    retry_base_seconds: float = Field(1.0, validation_alias="HANDOFF_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(300.0, validation_alias="HANDOFF_RETRY_MAX_SECONDS")
    poll_seconds: float = Field(0.2, validation_alias="HANDOFF_POLL_SECONDS")
    # 0: keep conversations until someone runs `forget` or `purge`.
    retention_days: int = Field(0, validation_alias="HANDOFF_RETENTION_DAYS")

    @field_validator("port", "handoff_internal_port", mode="before")
    @classmethod
    def _port(cls, value: Any, info: ValidationInfo) -> int | None:
        return None if value is None else whole_number(cls.env_name(info), value)

    @field_validator("max_abstentions", mode="before")
    @classmethod
    def _max_abstentions(cls, value: Any) -> int | None:
        return None if value is None else whole_number("HANDOFF_MAX_ABSTENTIONS", value, minimum=0)

    @field_validator(
        "idle_minutes", "retry_base_seconds", "retry_max_seconds", "poll_seconds", mode="before"
    )
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> float:
        return number(cls.env_name(info), value)

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention_days(cls, value: Any) -> int:
        days = whole_number("HANDOFF_RETENTION_DAYS", value)
        if days < 0:
            raise ValueError(
                "HANDOFF_RETENTION_DAYS must be 1 or more (or empty to keep everything), "
                f"got {days}"
            )
        return days

    @field_validator("rasa_url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    # --- derived ------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.handoff_host or self.parley_host or "127.0.0.1"

    @property
    def internal_port(self) -> int:
        return internal_port(self.port, self.handoff_internal_port)

    @property
    def service_url(self) -> str:
        return service_url(self.handoff_url, self.internal_port)

    @property
    def db_url(self) -> str:
        return database_url(self.handoff_db_url, self.parley_database_url, self.state_dir)

    @property
    def event_broker_url(self) -> str:
        return event_broker_url(
            self.rabbitmq_url, self.rasa_events_db_url, self.parley_database_url, self.state_dir
        )

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_enabled and self.slack_app_token)

    def check_exposure(self) -> None:
        """Refuse the combinations that would put the internal API within anyone's reach."""
        if not is_loopback(self.internal_host) and not self.internal_token:
            raise SettingsError(
                f"HANDOFF_INTERNAL_HOST={self.internal_host} makes the internal API (which "
                "opens handoffs and stores ratings) reachable from other machines, and "
                "HANDOFF_INTERNAL_TOKEN is not set, so anyone could use it. Set "
                "HANDOFF_INTERNAL_TOKEN (a long random string), or keep the internal API on "
                "127.0.0.1."
            )
        if self.port and self.port == self.internal_port:
            raise SettingsError(
                f"HANDOFF_PORT and HANDOFF_INTERNAL_PORT are both {self.port}: the internal API "
                "needs a port of its own, off the public one."
            )

    def check_slack(self) -> None:
        """Slack secrets are required only when Slack is switched on (SLACK_BOT_TOKEN set)."""
        if not self.slack_enabled:
            return
        missing = [
            name
            for name, value in (
                ("SLACK_HANDOFF_CHANNEL", self.slack_channel),
                ("SLACK_SIGNING_SECRET", self.slack_signing_secret or self.slack_app_token),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                "SLACK_BOT_TOKEN is set, so Slack is on, but these are missing: "
                + ", ".join(missing)
                + " (SLACK_SIGNING_SECRET is needed for HTTP events, SLACK_APP_TOKEN for "
                "Socket Mode)."
            )


_settings: Cached[Settings] = Cached(Settings.from_env)


def get_settings() -> Settings:
    """The process's handoff settings, read from the environment on first use."""
    return _settings.get()


def override_settings(settings: Settings) -> None:
    """Use these settings instead of the environment's (tests)."""
    _settings.override(settings)


def reset_settings() -> None:
    """Read the environment again on the next get_settings() (tests)."""
    _settings.reset()
