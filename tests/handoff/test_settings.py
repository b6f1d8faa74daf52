"""The handoff service's settings (handoff/settings.py): names, derived defaults, errors,
read once."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley_shared import triggers

from handoff.settings import Settings, SettingsError, get_settings, reset_settings


def test_every_variable_is_read_by_its_name() -> None:
    env = {
        "PARLEY_STATE_DIR": "/srv/state",
        "HANDOFF_PORT": "4000",
        "HANDOFF_HOST": "10.0.0.5",
        "HANDOFF_INTERNAL_PORT": "4100",
        "HANDOFF_INTERNAL_HOST": "127.0.0.2",
        "HANDOFF_URL": "http://handoff.internal:4100/",
        "HANDOFF_INTERNAL_TOKEN": "tok",
        "HANDOFF_DB_URL": "postgresql://db/handoff",
        "RASA_URL": "http://rasa:5005/",
        "RASA_TOKEN": "rasa-tok",
        "RASA_EVENTS_DB_URL": "sqlite:///elsewhere.db",
        "SLACK_BOT_TOKEN": "xoxb",
        "SLACK_SIGNING_SECRET": "sign",
        "SLACK_APP_TOKEN": "xapp",
        "SLACK_API_URL": "http://slack.test/api/",
        "SLACK_HANDOFF_CHANNEL": "C1",
        "HANDOFF_TRIGGERS_FILE": "/etc/parley/triggers.yml",
        "HANDOFF_MAX_ABSTENTIONS": "3",
        "HANDOFF_IDLE_MINUTES": "15",
        "HANDOFF_RETRY_BASE_SECONDS": "2",
        "HANDOFF_RETRY_MAX_SECONDS": "60",
        "HANDOFF_POLL_SECONDS": "0.5",
        "HANDOFF_RETENTION_DAYS": "90",
    }
    s = Settings.from_env(env)
    assert (s.state_dir, s.port, s.host) == (Path("/srv/state"), 4000, "10.0.0.5")
    assert (s.internal_host, s.internal_port) == ("127.0.0.2", 4100)
    assert (s.service_url, s.internal_token) == ("http://handoff.internal:4100", "tok")
    assert s.db_url == "postgresql://db/handoff"
    assert (s.rasa_url, s.rasa_token) == ("http://rasa:5005", "rasa-tok")
    assert s.event_broker_url == "sqlite:///elsewhere.db"
    assert (s.slack_bot_token, s.slack_signing_secret, s.slack_app_token) == (
        "xoxb",
        "sign",
        "xapp",
    )
    assert (s.slack_api_url, s.slack_channel, s.socket_mode) == (
        "http://slack.test/api/",
        "C1",
        True,
    )
    assert (s.triggers_file, s.max_abstentions) == (Path("/etc/parley/triggers.yml"), 3)
    assert (s.idle_minutes, s.retry_base_seconds, s.retry_max_seconds) == (15.0, 2.0, 60.0)
    assert (s.poll_seconds, s.retention_days) == (0.5, 90)
    # Secrets stay out of logs.
    assert "tok" not in repr(s) and "xoxb" not in repr(s)


def test_defaults_and_derived_defaults() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.internal_host, s.internal_port) == (
        "127.0.0.1",
        3000,
        "127.0.0.1",
        3001,
    )
    assert s.service_url == "http://127.0.0.1:3001"
    assert s.db_url == "sqlite:///var/handoff.db"
    assert s.event_broker_url == "sqlite:///var/rasa_events.db"
    assert s.triggers_file == triggers.DEFAULT_FILE and s.max_abstentions is None
    assert (s.idle_minutes, s.retention_days, s.slack_enabled) == (30.0, 0, False)
    # The public listener follows PARLEY_HOST; the internal one is the public port + 1.
    s = Settings.from_env({"PARLEY_HOST": "0.0.0.0", "HANDOFF_PORT": "3100"})
    assert (s.host, s.internal_port, s.service_url) == ("0.0.0.0", 3101, "http://127.0.0.1:3101")
    assert Settings.from_env({"HANDOFF_PORT": "0"}).internal_port == 0  # both free ports
    # Blank means the default.
    assert Settings.from_env({"HANDOFF_PORT": " ", "HANDOFF_HOST": ""}).port == 3000


def test_the_databases_follow_parley_database_url() -> None:
    state = {"PARLEY_STATE_DIR": "/srv/state"}
    s = Settings.from_env(state)
    assert s.db_url == "sqlite:////srv/state/handoff.db"
    assert s.event_broker_url == "sqlite:////srv/state/rasa_events.db"
    shared = {**state, "PARLEY_DATABASE_URL": "postgresql+psycopg://u@db/parley?sslmode=require"}
    s = Settings.from_env(shared)
    assert s.db_url == "postgresql+psycopg://u@db/parley?sslmode=require"
    assert s.event_broker_url == "postgresql+psycopg://u@db/parley_events?sslmode=require"
    assert Settings.from_env({**shared, "HANDOFF_DB_URL": "sqlite:///h.db"}).db_url == (
        "sqlite:///h.db"
    )
    # RabbitMQ wins; an empty RASA_EVENTS_DB_URL switches following the broker off.
    assert (
        Settings.from_env({**shared, "RABBITMQ_URL": "amqp://mq"}).event_broker_url == "amqp://mq"
    )
    assert Settings.from_env({**shared, "RASA_EVENTS_DB_URL": ""}).event_broker_url == ""


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HANDOFF_PORT", "30OO", "HANDOFF_PORT must be a whole number, got '30OO'"),
        ("HANDOFF_INTERNAL_PORT", "x", "HANDOFF_INTERNAL_PORT must be a whole number"),
        ("HANDOFF_IDLE_MINUTES", "half an hour", "HANDOFF_IDLE_MINUTES must be a number"),
        ("HANDOFF_POLL_SECONDS", "fast", "HANDOFF_POLL_SECONDS must be a number"),
        ("HANDOFF_RETENTION_DAYS", "-1", "HANDOFF_RETENTION_DAYS must be 1 or more"),
        ("HANDOFF_MAX_ABSTENTIONS", "two", "HANDOFF_MAX_ABSTENTIONS must be a whole number"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    assert message in str(info.value)
    assert "validation error" not in str(info.value)  # a sentence, not pydantic's report


def test_an_explicit_mapping_is_all_that_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_PORT", "4000")
    assert Settings.from_env({}).port == 3000
    assert Settings.from_env().port == 4000


def test_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_PORT", "4000")
    first = get_settings()
    monkeypatch.setenv("HANDOFF_PORT", "5000")
    assert get_settings() is first and first.port == 4000
    reset_settings()
    assert get_settings().port == 5000


def test_the_triggers_read_their_variables_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Rasa server's side (parley_shared, no pydantic-settings): read once too."""
    monkeypatch.setenv("HANDOFF_MAX_ABSTENTIONS", "4")
    assert triggers.load_config().max_abstentions == 4
    monkeypatch.setenv("HANDOFF_MAX_ABSTENTIONS", "5")
    assert triggers.load_config().max_abstentions == 4
    triggers.environment.cache_clear()
    assert triggers.load_config().max_abstentions == 5
    # A caller with settings of its own passes them; the environment is not read.
    assert triggers.load_config(triggers.DEFAULT_FILE, env={}).max_abstentions == 2
    limit = {"HANDOFF_MAX_ABSTENTIONS": "7"}
    assert triggers.load_config(triggers.DEFAULT_FILE, env=limit).max_abstentions == 7
