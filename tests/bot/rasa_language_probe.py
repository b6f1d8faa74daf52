"""Run in Rasa's venv: LanguagePolicy's slot events for a few conversations, as JSON."""

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    BotUttered,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.language_policy import LanguagePolicy  # noqa: E402


def listen() -> ActionExecuted:
    return ActionExecuted("action_listen")


CASES = {
    "german_greeting": [listen(), UserUttered("Guten Tag!", {"name": "greet"})],
    "widget_french_short_reply": [
        listen(),
        UserUttered("ok", {"name": "affirm"}, metadata={"language": "fr-FR"}),
    ],
    "spanish_chat_short_reply": [
        listen(),
        UserUttered("Hola, ¿dónde está mi pedido?", {"name": "out_of_scope"}),
        SlotSet("language", "es"),
        ActionExecuted("action_answer_from_knowledge"),
        listen(),
        UserUttered("ok", {"name": "affirm"}),
    ],
    "german_word_on_an_english_page": [
        listen(),
        UserUttered("danke", {"name": "thanks"}, metadata={"language": "en"}),
    ],
    "english_word_on_a_german_page": [
        listen(),
        UserUttered("hi", {"name": "greet"}, metadata={"language": "de"}),
    ],
    "button_payload": [listen(), UserUttered("/affirm", {"name": "affirm"})],
    "after_a_bot_action": [
        listen(),
        UserUttered("Guten Tag!", {"name": "greet"}),
        ActionExecuted("utter_greet"),
        BotUttered("Hallo!"),
    ],
    "chinese_on_an_english_widget": [
        listen(),
        UserUttered("配送需要多长时间？", {"name": "nlu_fallback"}, metadata={"language": "en"}),
    ],
    "english_switches_a_german_chat": [
        listen(),
        UserUttered("Hallo, wo ist meine Bestellung?", {"name": "out_of_scope"}),
        SlotSet("language", "de"),
        ActionExecuted("action_answer_from_knowledge"),
        listen(),
        UserUttered("Where is my order? It has been two weeks.", {"name": "out_of_scope"}),
    ],
}

domain = Domain.load(str(ROOT / "domain.yml"))
with tempfile.TemporaryDirectory() as tmp:
    policy = LanguagePolicy.create(
        LanguagePolicy.get_default_config(),
        LocalModelStorage(Path(tmp)),
        Resource("language"),
        ExecutionContext(GraphSchema({}), "probe"),
    )
    policy.train([], domain)
    out = {}
    for name, events in CASES.items():
        tracker = DialogueStateTracker.from_events(name, events, domain.slots)
        pred = policy.predict_action_probabilities(tracker, domain)
        out[name] = {
            "slots": [e.value for e in pred.events if isinstance(e, SlotSet)],
            "max_confidence": pred.max_confidence,
        }
print(json.dumps(out))
