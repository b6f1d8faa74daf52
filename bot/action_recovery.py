"""Keep a conversation alive when a custom action fails (action server down, restarting,
timing out, answering with an error).

Rasa 3.6 logs a failed custom action as executed with no events and predicts the next
action. Our fallback (RulePolicy's core fallback = `action_answer_from_knowledge`) then
predicts the failed action again, and again, until the circuit breaker stops the turn after
`max_number_of_predictions` actions, without an `action_listen`. The breaker counts actions
back to the last `action_listen`, so from then on every message of that conversation tripped
it at once: no reply at all until the session expired, even after the action server was back.

Two fixes, installed by the channels (bot/rest_channel.py, bot/socketio_channel.py) when the
Rasa server loads them; this file is not a model input, so changing it needs no retraining:

* A custom action that fails tells the customer so and ends the turn listening (a
  `FollowupAction("action_listen")`), so the next message is handled normally.
* The circuit breaker counts only the actions since the customer's latest message, so a
  conversation that tripped it once (in this version or an older one) recovers with the next
  message.

And one for speed: Rasa checks every action server response with `jsonschema.validate`,
which first validates the (fixed) schema itself against its meta-schema, on every call. That
took about 78% of the Rasa process's time on a knowledge answer (py-spy). The validator is
built and the schema checked once; each response is checked as before (same error chosen,
same message).
"""

from __future__ import annotations

import logging
from typing import Any

from jsonschema import ValidationError, exceptions, validators
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, FollowupAction, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

SORRY_TEXT = "Sorry, something went wrong on our side. Please try again in a moment."

_INSTALLED = "_parley_action_recovery"


def failed_action_events(action_name: str) -> list[Event]:
    """What a failed custom action leaves: an apology, then the bot listens."""
    return [
        BotUttered(SORRY_TEXT, metadata={"failed_action": action_name}),
        FollowupAction(ACTION_LISTEN_NAME),
    ]


def actions_since_latest_message(tracker: DialogueStateTracker) -> int:
    """Actions the bot ran since the customer's latest message (or the latest listen)."""
    count = 0
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, ActionExecuted):
            if event.action_name in (ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME):
                break
            count += 1
    return count


_RESPONSE_VALIDATOR: Any = None


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result with the schema's validator built once."""
    global _RESPONSE_VALIDATOR
    if _RESPONSE_VALIDATOR is None:
        schema = self.action_response_format_spec()
        cls = validators.validator_for(schema)
        cls.check_schema(schema)
        _RESPONSE_VALIDATOR = cls(schema)
    error = exceptions.best_match(_RESPONSE_VALIDATOR.iter_errors(result))
    if error is not None:
        assert isinstance(error, ValidationError)
        error.message += (
            ". Failed to validate Action server response from API, make sure your response "
            "from the Action endpoint is valid. For more information about the format visit "
            "https://rasa.com/docs/rasa/custom-actions"
        )
        raise error
    return True


def install() -> None:
    """Patch Rasa once per process (idempotent)."""
    if getattr(RemoteAction, _INSTALLED, False):
        return
    original_run = RemoteAction.run

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> list[Event]:
        try:
            return await original_run(self, *args, **kwargs)
        except ActionExecutionRejection:
            raise  # a form's validation: Rasa handles it
        except Exception:
            logger.exception(
                "Custom action '%s' failed; apologising and waiting for the next message.",
                self.name(),
            )
            return failed_action_events(self.name())

    def is_action_limit_reached(
        self: MessageProcessor,
        tracker: DialogueStateTracker,
        should_predict_another_action: bool,
    ) -> bool:
        return (
            should_predict_another_action
            and actions_since_latest_message(tracker) >= self.max_number_of_predictions
        )

    RemoteAction.run = run  # type: ignore[method-assign]
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    MessageProcessor.is_action_limit_reached = is_action_limit_reached  # type: ignore[method-assign]
    setattr(RemoteAction, _INSTALLED, True)
