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


@pytest.fixture(autouse=True)
def fresh_settings() -> Any:
    """Each test reads the settings from its own environment: the processes read them once
    (get_settings()), and tests change the environment between cases."""
    from parley_shared.triggers import environment

    from actions.settings import reset_settings as reset_actions
    from handoff.settings import reset_settings as reset_handoff
    from knowledge.settings import reset_settings as reset_knowledge
    from widget.settings import reset_settings as reset_widget

    resets = (reset_actions, reset_handoff, reset_knowledge, reset_widget, environment.cache_clear)
    for reset in resets:
        reset()
    yield
    for reset in resets:
        reset()
