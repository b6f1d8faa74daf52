"""A conversation survives the action server dying mid-conversation (kill -9, restart).

Before the fix, the failed custom action left the tracker without an `action_listen`: the
fallback predicted the same action again until Rasa's circuit breaker tripped, and from then
on every message of that conversation hit the breaker at once (no reply, not even to "I want
to talk to a person") until the session expired.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from parley_shared.phrases import phrase

from scripts.stack import Service, launch
from tests.integration.stack import RunningStack, start_stack

pytestmark = pytest.mark.stack

SORRY = "Sorry, something went wrong on our side"


@pytest.fixture(scope="module")
def own_stack() -> Iterator[RunningStack]:
    """A stack of its own: this test kills and restarts one of its processes."""
    with start_stack() as running:
        yield running


def _actions(stack: RunningStack) -> Service:
    [service] = [s for s in stack.stack.services if s.name == "actions"]
    return service


def _kill(service: Service) -> None:
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(10)


def _restart(stack: RunningStack, service: Service, timeout: float = 120.0) -> None:
    service.process = launch(service.argv, stack.env)
    process = service.process

    def drain() -> None:  # keep the pipe from filling up
        assert process.stdout is not None
        for line in process.stdout:
            service.tail.append(line.rstrip())

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not service.ready():
        assert process.poll() is None, "\n".join(service.tail)
        assert time.monotonic() < deadline, "the action server did not come back"
        time.sleep(0.3)


def _texts(replies: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in replies if "text" in r]


def test_conversation_recovers_after_the_action_server_restarts(own_stack: RunningStack) -> None:
    stack = own_stack
    customer = f"restart-{uuid.uuid4().hex[:8]}"
    assert _texts(stack.send(customer, "hi"))

    actions = _actions(stack)
    _kill(actions)
    # The knowledge answer is a custom action: it fails, and the customer is told so.
    failed = _texts(stack.send(customer, "how long does standard shipping to the UK take?"))
    assert any(SORRY in text for text in failed), failed

    # Rasa opens a session itself: a conversation that starts now still hears it is an AI.
    newcomer = _texts(stack.send(f"restart-{uuid.uuid4().hex[:8]}", "hi"))
    assert newcomer[0] == phrase("disclosure") and len(newcomer) == 2, newcomer
    assert not any(SORRY in text for text in newcomer), newcomer

    _restart(stack, actions)

    assert _texts(stack.send(customer, "hi"))
    handoff = _texts(stack.send(customer, "I want to talk to a person"))
    assert handoff, "no reply to a request for a person"

    events = stack.tracker(customer)["events"]
    executed = [e["name"] for e in events if e["event"] == "action"]
    assert "action_human_handoff" in executed
    # the failed turn ended listening instead of retrying until the circuit breaker
    assert executed.count("action_answer_from_knowledge") == 1, executed


def test_a_knowledge_question_after_the_restart_is_answered(own_stack: RunningStack) -> None:
    customer = f"restart-{uuid.uuid4().hex[:8]}"
    texts = _texts(own_stack.send(customer, "how long does standard shipping to the UK take?"))
    assert any("3–6 business days" in text for text in texts), texts
