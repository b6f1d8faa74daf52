from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff.db import Database
from handoff.service import HandoffService
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import MockSlack


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    yield database
    database.dispose()


@pytest.fixture
def service(db: Database) -> HandoffService:
    return HandoffService(db, slack_channel="C_HANDOFF")


@pytest.fixture
def slack() -> Iterator[MockSlack]:
    """A local Slack Web API, started and stopped around the test."""
    with MockSlack() as mock:
        yield mock


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    """A stand-in for Rasa's HTTP API."""
    fake = FakeRasa()
    yield fake
    fake.stop()
