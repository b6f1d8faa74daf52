from __future__ import annotations

from pathlib import Path

import pytest

from handoff.db import Database
from handoff.service import HandoffService


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    yield database
    database.dispose()


@pytest.fixture
def service(db: Database) -> HandoffService:
    return HandoffService(db, slack_channel="C_HANDOFF")
