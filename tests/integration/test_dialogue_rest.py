"""The dialogue layer end to end: real Rasa server and action server, REST channel."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from parley_shared.phrases import phrase

from tests.integration.stack import RunningStack

DISCLOSURE = phrase("disclosure")

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


def new_customer() -> str:
    return f"customer-{uuid.uuid4().hex[:8]}"


def texts(replies: list[dict]) -> list[str]:
    return [r["text"] for r in replies if "text" in r]


def test_greeting_starts_with_ai_disclosure(stack: RunningStack) -> None:
    replies = texts(stack.send(new_customer(), "hi"))

    assert replies[0] == DISCLOSURE
    assert len(replies) == 2 and "help" in replies[1]


def test_disclosure_comes_first_even_when_the_first_message_is_a_question(
    stack: RunningStack,
) -> None:
    replies = texts(stack.send(new_customer(), "what's the weather like on mars tomorrow?"))

    assert replies[0] == DISCLOSURE
    assert len(replies) >= 2


def test_disclosure_is_not_repeated_within_a_conversation(stack: RunningStack) -> None:
    customer = new_customer()
    stack.send(customer, "hello")

    assert DISCLOSURE not in texts(stack.send(customer, "hey there"))


def test_bot_challenge_is_answered_truthfully(stack: RunningStack) -> None:
    customer = new_customer()
    stack.send(customer, "hi")

    (reply,) = texts(stack.send(customer, "are you a bot?"))
    assert "AI assistant" in reply and "not a human" in reply


def test_unknown_question_is_not_guessed_and_a_person_is_offered(stack: RunningStack) -> None:
    customer = new_customer()
    stack.send(customer, "hi")

    replies = stack.send(customer, "what's the weather like on mars tomorrow?")

    (text,) = texts(replies)
    assert "person" in text
    payloads = [r["custom"] for r in replies if "custom" in r]
    assert payloads and payloads[0]["answer_type"] == "abstain"


def test_asking_for_a_person_pauses_the_bot(stack: RunningStack) -> None:
    customer = new_customer()
    stack.send(customer, "hi")

    (reply,) = texts(stack.send(customer, "I want a human"))
    assert "person" in reply
    assert stack.tracker(customer)["paused"] is True

    # While paused the bot stays silent, whatever the customer writes.
    assert stack.send(customer, "hello? are you a bot?") == []
    assert stack.send(customer, "hi") == []


def test_accepting_the_offer_of_a_person_pauses_the_bot(stack: RunningStack) -> None:
    customer = new_customer()
    stack.send(customer, "hi")
    stack.send(customer, "what's the weather like on mars tomorrow?")

    stack.send(customer, "yes please")

    assert stack.tracker(customer)["paused"] is True


def test_metadata_from_the_widget_reaches_the_tracker(stack: RunningStack) -> None:
    customer = new_customer()
    metadata = {"page_url": "https://shop.example/returns", "locale": "de-DE"}

    stack.send(customer, "hi", metadata=metadata)

    tracker = stack.tracker(customer)
    assert tracker["slots"]["session_started_metadata"] == metadata
    assert tracker["latest_message"]["metadata"] == metadata


def response_texts(name: str, lang: str) -> set[str]:
    """The texts of a response's variation for `lang` in domain.yml."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    found = set()
    for variation in domain["responses"][name]:
        wanted = [c for c in variation.get("condition", []) if c.get("name") == "language"]
        if (wanted and wanted[0]["value"] == lang) or (not wanted and lang == "en"):
            found.add(variation["text"])
    return found


def test_a_german_widget_gets_the_disclosure_and_the_greeting_in_german(
    stack: RunningStack,
) -> None:
    customer = new_customer()
    replies = texts(stack.send(customer, "Guten Tag!", metadata={"language": "de"}))

    assert replies[0] == phrase("disclosure", "de")
    assert len(replies) == 2 and replies[1] in response_texts("utter_greet", "de")
    assert stack.tracker(customer)["slots"]["language"] == "de"


def test_a_request_for_a_person_in_french_hands_off_in_french(stack: RunningStack) -> None:
    customer = new_customer()
    stack.send(customer, "Bonjour")

    (reply,) = texts(stack.send(customer, "je veux parler à un humain, s'il vous plaît"))
    tracker = stack.tracker(customer)
    assert tracker["slots"]["language"] == "fr"
    assert reply == phrase("unavailable", "fr") or reply.endswith(phrase("queued", "fr"))
    assert tracker["paused"] is (reply != phrase("unavailable", "fr"))


@pytest.mark.parametrize(
    ("greeting", "question", "lang"),
    [
        ("hola", "¿eres un robot?", "es"),
        ("你好", "你是机器人吗？", "zh"),
        ("こんにちは", "あなたはロボットですか？", "ja"),
        ("Bonjour !", "est-ce que vous êtes un robot ?", "fr"),
    ],
)
def test_routine_replies_follow_the_language_the_customer_writes(
    stack: RunningStack, greeting: str, question: str, lang: str
) -> None:
    customer = new_customer()
    replies = texts(stack.send(customer, greeting))

    # Without the widget's language, the disclosure comes before the first message is read.
    assert replies[0] == phrase("disclosure", "en")
    assert replies[1] in response_texts("utter_greet", lang)
    (answer,) = texts(stack.send(customer, question))
    assert answer in response_texts("utter_iamabot", lang)
    assert stack.tracker(customer)["slots"]["language"] == lang
