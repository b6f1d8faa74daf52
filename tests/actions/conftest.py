"""Fixtures for the action tests: a fresh handoff database per test, or one that cannot open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import actions.handoff
from handoff.client import reset_client
from handoff.db import Database
from handoff.rate_limit import hourly_limiter


@pytest.fixture
def handoff_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("HANDOFF_DB_URL", url)
    monkeypatch.setenv("HANDOFF_URL", "http://127.0.0.1:9")  # nobody listens: nudge fails
    for key in ("SUPPORT_HOURS", "PARLEY_IDENTITY_SECRET", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(actions.handoff, "HANDOFF_LIMIT", hourly_limiter(6))  # fresh per test
    reset_client()
    db = Database(url)
    yield db
    db.dispose()
    reset_client()


@pytest.fixture
def unreachable_handoff_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """HANDOFF_DB_URL points inside a plain file: every database call fails."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("not a directory")
    monkeypatch.setenv("HANDOFF_DB_URL", f"sqlite:///{blocker}/handoff.db")
    reset_client()
    yield
    reset_client()
