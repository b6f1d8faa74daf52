"""One typed settings object for the handoff service, read once from the environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from parley_shared import triggers

from handoff.support_hours import SupportHours, SupportHoursError

PACKAGE_DIR = Path(__file__).resolve().parent


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach a listener on `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _support_hours(env: dict[str, str]) -> SupportHours | None:
    raw = env.get("SUPPORT_HOURS", "").strip()
    if not raw:
        return None
    try:
        return SupportHours.parse(raw)
    except SupportHoursError as exc:
        raise SettingsError(str(exc)) from exc


def _retention_days(env: dict[str, str]) -> int:
    days = _int(env, "HANDOFF_RETENTION_DAYS", 0)
    if days < 0:
        raise SettingsError(
            f"HANDOFF_RETENTION_DAYS must be 1 or more (or empty to keep everything), got {days}"
        )
    return days


def database_url(env: dict[str, str], state_dir: Path) -> str:
    """The handoff database: HANDOFF_DB_URL, else PARLEY_DATABASE_URL (PostgreSQL, shared
    with Rasa's tracker store), else SQLite in the state folder."""
    return (
        env.get("HANDOFF_DB_URL")
        or env.get("PARLEY_DATABASE_URL")
        or f"sqlite:///{state_dir / 'handoff.db'}"
    )


def events_database_url(database_url: str) -> str:
    """The database of Rasa's SQL event broker on the same PostgreSQL server: `<name>_events`
    (its table is called `events`, like the tracker store's, so it needs a database of its
    own)."""
    head, _, tail = database_url.partition("?")
    base, _, name = head.rpartition("/")
    return f"{base}/{name}_events" + (f"?{tail}" if tail else "")


def _event_broker_url(env: dict[str, str], state_dir: Path) -> str:
    """How the handoff service follows Rasa's event broker: RabbitMQ (RABBITMQ_URL), else
    the SQL broker's database (RASA_EVENTS_DB_URL; by default `rasa_events.db` in the state
    folder, or `<database>_events` on PARLEY_DATABASE_URL's server). Set RASA_EVENTS_DB_URL
    to empty to stop following it."""
    if env.get("RABBITMQ_URL"):
        return env["RABBITMQ_URL"]
    if "RASA_EVENTS_DB_URL" in env:
        return env["RASA_EVENTS_DB_URL"]
    if env.get("PARLEY_DATABASE_URL"):
        return events_database_url(env["PARLEY_DATABASE_URL"])
    return f"sqlite:///{state_dir / 'rasa_events.db'}"


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    db_url: str
    host: str
    port: int
    service_url: str
    internal_token: str
    rasa_url: str
    rasa_token: str
    event_broker_url: str
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str
    slack_api_url: str
    slack_channel: str
    triggers_file: Path
    idle_minutes: float
    retry_base_seconds: float
    retry_max_seconds: float
    poll_seconds: float
    support_hours: SupportHours | None = None
    retention_days: int = 0  # 0: keep conversations until someone runs `forget`
    identity_secret: str = ""  # PARLEY_IDENTITY_SECRET: verifies signed customer ids
    internal_host: str = "127.0.0.1"
    internal_port: int = 3001

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_enabled and self.slack_app_token)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        state_dir = Path(env.get("PARLEY_STATE_DIR") or "var")
        port = _int(env, "HANDOFF_PORT", 3000)
        # Slack's events come to the public listener, which follows PARLEY_HOST.
        host = env.get("HANDOFF_HOST") or env.get("PARLEY_HOST") or "127.0.0.1"
        # The internal API (action server, widget server, console) has a listener of its own
        # on loopback: it is never on the address Slack (or anyone) reaches.
        internal_port = _int(env, "HANDOFF_INTERNAL_PORT", port + 1 if port else 0)
        internal_host = env.get("HANDOFF_INTERNAL_HOST") or "127.0.0.1"
        settings = cls(
            state_dir=state_dir,
            db_url=database_url(env, state_dir),
            host=host,
            port=port,
            service_url=(env.get("HANDOFF_URL") or f"http://127.0.0.1:{internal_port}").rstrip("/"),
            internal_token=env.get("HANDOFF_INTERNAL_TOKEN", ""),
            rasa_url=(env.get("RASA_URL") or "http://localhost:5005").rstrip("/"),
            rasa_token=env.get("RASA_TOKEN", ""),
            event_broker_url=_event_broker_url(env, state_dir),
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_app_token=env.get("SLACK_APP_TOKEN", ""),
            slack_api_url=env.get("SLACK_API_URL") or "https://slack.com/api/",
            slack_channel=env.get("SLACK_HANDOFF_CHANNEL", ""),
            triggers_file=Path(env.get("HANDOFF_TRIGGERS_FILE") or triggers.DEFAULT_FILE),
            idle_minutes=_float(env, "HANDOFF_IDLE_MINUTES", 30.0),
            retry_base_seconds=_float(env, "HANDOFF_RETRY_BASE_SECONDS", 1.0),
            retry_max_seconds=_float(env, "HANDOFF_RETRY_MAX_SECONDS", 300.0),
            poll_seconds=_float(env, "HANDOFF_POLL_SECONDS", 0.2),
            support_hours=_support_hours(env),
            retention_days=_retention_days(env),
            identity_secret=env.get("PARLEY_IDENTITY_SECRET", ""),
            internal_host=internal_host,
            internal_port=internal_port,
        )
        return settings

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
