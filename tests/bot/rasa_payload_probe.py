"""Run by tests/bot/test_payload_syntax.py inside the Rasa venv (Python 3.10).

For each text (JSON list in argv[1]) prints which intent Rasa's own command-syntax handler
would force, for the text as typed and for the text the message guard passes on, with the
project's domain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))

from parley_shared.message_guard import GuardSettings, MessageGuard  # noqa: E402
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage  # noqa: E402
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
GUARD = MessageGuard(GuardSettings(per_conversation_per_minute=0, per_address_per_minute=0))


def forced_intent(text: str) -> str | None:
    # As the processor does: the channel's UserMessage, then the graph's regex handler.
    user_text = UserMessage(text, CollectingOutputChannel(), "probe").text
    (message,) = RegexMessageHandler().process([Message(data={"text": user_text})], DOMAIN)
    intent = message.get("intent")
    return intent.get("name") if intent else None


def main() -> None:
    out = {}
    for text in json.loads(sys.argv[1]):
        verdict = GUARD.admit("probe", "", text, None)
        out[text] = {"typed": forced_intent(text), "guarded": forced_intent(verdict.text)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
