"""Shared test helpers: tracker snapshots in tests/data and the domain as Rasa sends it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def domain() -> dict[str, Any]:
    """domain.yml as the action server receives it from Rasa."""
    import yaml

    return yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text())
