"""Rasa-side trigger for the human handoff: a dialogue policy that predicts
`action_human_handoff` when the customer should get a person even though they did not
ask: a sensitive topic, frustration, a repeated question (checked right after each
customer message) or too many answers in a row where the bot could not help (checked
right after the knowledge answer). The rules still handle the explicit request.

The decisions live in `parley_shared.triggers` (bot/shared/, installed into both
environments) and are configured in `bot/shared/parley_shared/triggers.yml`
(HANDOFF_TRIGGERS_FILE). The policy decides why, once: it sets the `handoff_trigger` slot,
which the handoff action reads. It has nothing to learn; it outranks RulePolicy (priority
7 > 6) only when a trigger fires.

config.yml:
    policies:
      - name: bot.handoff_bridge.HandoffTriggerPolicy
"""

# Rasa 3.6 style typing on purpose: its graph validation inspects these annotations.
# ruff: noqa: UP006, UP019, UP035, UP045

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

from parley_shared import triggers
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class HandoffTriggerPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "priority": 7,
            "handoff_action": "action_human_handoff",
            "triggers_file": None,
        }

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
            (Path(path) / "handoff_trigger_policy.json").write_text("{}")

    def trigger_for(
        self, tracker: DialogueStateTracker
    ) -> Tuple[Optional[triggers.Trigger], Optional[triggers.Trigger]]:
        """(a trigger that brings a person in now, the reason an explicit request would
        have): the second is what the rules' handoff after this message is about."""
        if tracker.is_paused():
            return None, None
        cfg = triggers.load_config(self.config.get("triggers_file"))
        latest = tracker.latest_action_name
        if latest not in (ACTION_LISTEN_NAME, *cfg.answer_actions):
            return None, None
        events = [e.as_dict() for e in tracker.events]
        if latest == ACTION_LISTEN_NAME:
            asked = triggers.explicit(events, cfg)
            intent = (tracker.latest_message.intent or {}).get("name")
            if intent in cfg.explicit_intents:
                return None, asked  # the rule for an explicit request takes it from here
            return triggers.on_user_message(events, cfg), asked
        return triggers.after_answer(events, cfg), None

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = self._default_predictions(domain)
        action = self.config.get("handoff_action", "action_human_handoff")
        if action not in domain.action_names_or_texts:
            return self._prediction(result)
        try:
            found, asked = self.trigger_for(tracker)
        except Exception:  # noqa: BLE001 - a broken trigger file must not stop the bot
            logger.exception("handoff trigger check failed")
            found, asked = None, None
        if found is not None:
            logger.debug(
                "handoff trigger %s (%.2f): %s", found.kind, found.confidence, found.detail
            )
            result[domain.index_for_action(action)] = 1.0
        # Decided here, once: action_human_handoff reads why from the slot. It is set through
        # the prediction's events, which Rasa applies whichever policy wins (the rules win
        # for an explicit request), and cleared after a message that gives no reason.
        events: List[Any] = []
        if any(s.name == triggers.TRIGGER_SLOT for s in domain.slots):
            why = found or asked
            value = (
                {"kind": why.kind, "confidence": why.confidence, "detail": why.detail}
                if why
                else None
            )
            if value != tracker.get_slot(triggers.TRIGGER_SLOT) and (
                why is not None or tracker.latest_action_name == ACTION_LISTEN_NAME
            ):
                events.append(SlotSet(triggers.TRIGGER_SLOT, value))
        return self._prediction(result, events=events)
