"""Fixtures for the action tests: a handoff service of their own (the action server reaches
it only over its internal API), or none at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from parley_shared.rate_limit import hourly_limiter

import actions.handoff
from handoff.client import reset_client
from handoff.db import Database
from handoff.server import HandoffServer
from handoff.settings import Settings


def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "SUPPORT_HOURS",
        "PARLEY_IDENTITY_SECRET",
        "OPENAI_API_KEY",
        "SLACK_BOT_TOKEN",
        "HANDOFF_INTERNAL_TOKEN",
        "PARLEY_DATABASE_URL",
        "RABBITMQ_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(actions.handoff, "HANDOFF_LIMIT", hourly_limiter(6))  # fresh per test


@pytest.fixture
def handoff_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A running handoff service (in this process, on free ports); the test reads its
    database to check what the actions did through the API."""
    _quiet_env(monkeypatch)
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("HANDOFF_DB_URL", url)
    monkeypatch.setenv("RASA_EVENTS_DB_URL", "")  # no Rasa here
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HANDOFF_PORT", "0")
    monkeypatch.setenv("PARLEY_STATE_DIR", str(tmp_path))
    server = HandoffServer(Settings.from_env())
    server.start()
    monkeypatch.setenv("HANDOFF_URL", f"http://127.0.0.1:{server.internal_port}")
    reset_client()
    db = Database(url)
    yield db
    reset_client()
    server.stop()
    db.dispose()


@pytest.fixture
def unreachable_handoff_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No handoff service answers: every call fails to connect."""
    _quiet_env(monkeypatch)
    monkeypatch.setenv("HANDOFF_URL", "http://127.0.0.1:9")
    reset_client()
    yield
    reset_client()
