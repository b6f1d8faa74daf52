from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.stack import RunningStack, start_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    """The real Rasa and action servers with default settings, shared by the session."""
    with start_stack() as running:
        yield running
