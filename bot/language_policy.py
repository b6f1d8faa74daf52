"""Rasa-side language of the conversation: a policy that predicts nothing and, right after
each customer message, sets the `language` slot (en, de, es, fr, zh or ja) when it changes.

The widget's language (message metadata `language`, else `locale`) is the default; the
message itself decides when it is clearly in another language (parley_shared.language). The
slot is set through the prediction's events, which Rasa applies whichever policy wins, so
the next response (`utter_greet`, ...) already has its variation in that language, and the
actions read the same slot.

config.yml:
    policies:
      - name: bot.language_policy.LanguagePolicy
"""

# Rasa 3.6 style typing on purpose: its graph validation inspects these annotations.
# ruff: noqa: UP006, UP019, UP035, UP045

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from parley_shared import language
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)
SLOT = "language"


# Also read by the channels' message guard, outside Rasa (parley_shared/message_guard.py).
widget_language = language.widget_language


def conversation_language(tracker: DialogueStateTracker) -> Optional[str]:
    """The language the latest message sets, or None when it is a command or no message."""
    if tracker.latest_action_name != ACTION_LISTEN_NAME:
        return None
    message = tracker.latest_message
    if not isinstance(message, UserUttered) or not message.text:
        return None
    if message.text.startswith("/"):  # a button's payload: no words to read
        return None
    # The conversation's language is the one earlier messages set; before the customer's
    # second message the slot holds only the initial value or the widget's language.
    earlier = sum(isinstance(e, UserUttered) for e in tracker.events) > 1
    return language.detect(
        message.text,
        hint=widget_language(message.metadata) or tracker.get_slot(SLOT),
        current=tracker.get_slot(SLOT) if earlier else None,
    )


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class LanguagePolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 1}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Optional[Any] = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)

    def train(
        self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as path:
            (Path(path) / "language_policy.json").write_text("{}")

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        events: List[Any] = []
        try:
            found = conversation_language(tracker)
        except Exception:  # noqa: BLE001 - language detection must never stop a reply
            logger.exception("language detection failed")
            found = None
        if found and found != tracker.get_slot(SLOT) and any(s.name == SLOT for s in domain.slots):
            events.append(SlotSet(SLOT, found))
        return self._prediction(self._default_predictions(domain), events=events)
