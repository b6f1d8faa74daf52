"""The Rasa-side language policy, run in Rasa's own venv: which `language` slot it sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rasa_probe import needs_rasa, run_probe

pytestmark = needs_rasa


@pytest.fixture(scope="module")
def slots() -> dict:
    return run_probe(Path(__file__).with_name("rasa_language_probe.py"), timeout=300)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("german_greeting", ["de"]),
        ("widget_french_short_reply", ["fr"]),  # too short to say: the widget's language
        ("spanish_chat_short_reply", []),  # too short to say: the chat stays Spanish
        ("german_word_on_an_english_page", ["de"]),
        ("english_word_on_a_german_page", ["de"]),  # "hi" is written everywhere
        ("button_payload", []),
        ("after_a_bot_action", []),  # only right after a customer message
        ("chinese_on_an_english_widget", ["zh"]),
        ("english_switches_a_german_chat", ["en"]),
    ],
)
def test_the_policy_sets_the_conversation_language(
    slots: dict, case: str, expected: list[str]
) -> None:
    assert slots[case]["slots"] == expected


def test_the_policy_never_predicts_an_action(slots: dict) -> None:
    assert all(found["max_confidence"] == 0.0 for found in slots.values())
