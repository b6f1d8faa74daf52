"""The message guard the chat channels apply before the bot stores a customer's message."""

from __future__ import annotations

from typing import Any

import pytest
from parley_shared.message_guard import (
    MAX_METADATA_CHARS,
    Admitted,
    GuardSettings,
    GuardSettingsError,
    MessageGuard,
    Refused,
    neutralise_payload,
    page_address,
    too_fast_reply,
    too_long_reply,
)
from parley_shared.rate_limit import TokenBucketLimiter
from parley_shared.redact import CARD, EMAIL, IBAN, PHONE

CARD_NUMBER = "4111 1111 1111 1111"
IBAN_NUMBER = "DE89 3704 0044 0532 0130 00"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def guard(**settings: object) -> MessageGuard:
    return MessageGuard(GuardSettings(**settings))  # type: ignore[arg-type]


def admitted(result: Admitted | Refused) -> Admitted:
    assert isinstance(result, Admitted), result
    return result


# --- size -------------------------------------------------------------------------


def test_a_message_over_the_limit_is_refused_politely() -> None:
    result = guard(max_message_chars=5000).admit("c1", "10.0.0.1", "x" * 5001, None)

    assert isinstance(result, Refused) and result.reason == "too_long"
    assert "too long" in result.reply and "5,000 characters" in result.reply


def test_a_message_at_the_limit_passes() -> None:
    assert admitted(guard(max_message_chars=5000).admit("c1", "", "x" * 5000, None)).text


def test_a_megabyte_is_refused_without_being_read() -> None:
    result = guard().admit("c1", "", "<!--" * 250_000, {"page_url": "https://a.example/"})
    assert isinstance(result, Refused)


# --- rate limits ------------------------------------------------------------------


def test_too_many_messages_in_one_conversation_are_refused_with_the_wait() -> None:
    clock = Clock()
    g = MessageGuard(
        GuardSettings(),
        per_conversation=TokenBucketLimiter(3, clock=clock),
        per_address=TokenBucketLimiter(100, clock=clock),
    )
    for _ in range(3):
        admitted(g.admit("c1", "10.0.0.1", "hi", None))

    result = g.admit("c1", "10.0.0.1", "hi", None)

    assert isinstance(result, Refused) and result.reason == "too_fast_conversation"
    assert "wait 20 seconds" in result.reply
    admitted(g.admit("c2", "10.0.0.1", "hi", None))  # another conversation is not affected


def test_one_address_cannot_dodge_its_limit_with_new_conversations() -> None:
    clock = Clock()
    g = MessageGuard(
        GuardSettings(),
        per_conversation=TokenBucketLimiter(100, clock=clock),
        per_address=TokenBucketLimiter(2, clock=clock),
    )
    admitted(g.admit("c1", "10.0.0.1", "hi", None))
    admitted(g.admit("c2", "10.0.0.1", "hi", None))

    result = g.admit("c3", "10.0.0.1", "hi", None)

    assert isinstance(result, Refused) and result.reason == "too_fast_address"
    admitted(g.admit("c3", "10.0.0.2", "hi", None))  # another address is not affected


def test_an_unknown_address_is_limited_by_conversation_only() -> None:
    g = guard(per_conversation_per_minute=100, per_address_per_minute=1)
    for i in range(5):
        admitted(g.admit(f"c{i}", "", "hi", None))


def test_limits_of_zero_are_off() -> None:
    g = guard(per_conversation_per_minute=0, per_address_per_minute=0)
    for _ in range(500):
        admitted(g.admit("c1", "10.0.0.1", "hi", None))


# --- the refusals' language -------------------------------------------------------


def flooded(per_minute: int) -> MessageGuard:
    """A guard whose conversation "c1" has used up its `per_minute` messages."""
    clock = Clock()
    g = MessageGuard(
        GuardSettings(),
        per_conversation=TokenBucketLimiter(per_minute, clock=clock),
        per_address=TokenBucketLimiter(1000, clock=clock),
    )
    for _ in range(per_minute):
        admitted(g.admit("c1", "", "hi", None))
    return g


@pytest.mark.parametrize(
    ("text", "metadata", "lang"),
    [
        ("ok", {"language": "de"}, "de"),  # the widget's language
        ("ok", {"locale": "fr-CA"}, "fr"),
        ("thanks", {"language": "ja"}, "ja"),  # a short word does not overrule the widget
        ("¿Dónde está mi pedido? Lo pedí hace dos semanas", None, "es"),  # the text's
        ("注文をキャンセルできますか", {"language": "en"}, "ja"),  # as the bot would answer
        ("ok", None, "en"),
        ("12345", "not a dict", "en"),
    ],
)
def test_a_refusal_is_in_the_customers_language(text: str, metadata: object, lang: str) -> None:
    fast = flooded(3).admit("c1", "", text, metadata)
    assert isinstance(fast, Refused) and fast.reply == too_fast_reply(20, lang)

    long = guard(max_message_chars=10).admit("c2", "", text + " " * 100, metadata)
    assert isinstance(long, Refused) and long.reply == too_long_reply(10, lang)


def test_a_wait_of_one_second_says_one_second() -> None:
    result = flooded(60).admit("c1", "", "hi", {"language": "de"})  # one every second

    assert isinstance(result, Refused)
    assert "Bitte warten Sie 1 Sekunde und" in result.reply
    english = flooded(60).admit("c1", "", "hi", None)
    assert isinstance(english, Refused) and "Please wait 1 second," in english.reply


def test_a_megabyte_is_refused_in_its_language_without_reading_it_all() -> None:
    text = "Wo ist meine Bestellung? " * 40_000  # a megabyte
    result = guard().admit("c1", "", text, None)
    assert isinstance(result, Refused) and result.reply == too_long_reply(5000, "de")
    assert "5.000 Zeichen" in result.reply


# --- Rasa's command syntax --------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent_on"),
    [
        ("/restart", "restart"),
        ("  /restart ", "restart"),
        ("\u00a0/restart", "restart"),  # Rasa strips Unicode spaces too
        ("/start_over", "start_over"),
        ("/session_start", "session_start"),
        ("/human_handoff", "human_handoff"),
        ("/back", "back"),
        ('/restart{"kb_answer_type": "kb"}', 'restart{"kb_answer_type": "kb"}'),
        ("/restart@0.99", "restart@0.99"),
        ("/ restart", "restart"),
    ],
)
def test_typed_command_syntax_becomes_words(typed: str, sent_on: str) -> None:
    assert neutralise_payload(typed, from_control=False) == sent_on
    assert admitted(guard().admit("c1", "", typed, None)).text == sent_on


@pytest.mark.parametrize(
    "text",
    ["/r/help is where I asked", "/etc/passwd", "/restart please", "hello /restart", "/", "//x"],
)
def test_text_rasa_reads_as_words_is_left_alone(text: str) -> None:
    assert neutralise_payload(text, from_control=False) == text


def test_the_widgets_buttons_keep_their_payloads() -> None:
    person_button = {"shown_as": "Talk to a person", "page_url": "https://shop.example/"}
    quick_reply = {"shown_as": "No"}

    assert admitted(guard().admit("c1", "", "/human_handoff", person_button)).text == (
        "/human_handoff"
    )
    assert admitted(guard().admit("c1", "", "/deny", quick_reply)).text == "/deny"


@pytest.mark.parametrize("command", ["/restart", "/session_start", "/back", "/restart{}"])
def test_rasas_own_commands_are_neutralised_even_from_a_button(command: str) -> None:
    result = admitted(guard().admit("c1", "", command, {"shown_as": "Start again"}))
    assert not result.text.startswith("/")


def test_an_empty_button_label_is_not_a_button() -> None:
    assert admitted(guard().admit("c1", "", "/deny", {"shown_as": " "})).text == "deny"


# --- personal data ----------------------------------------------------------------


def test_card_numbers_and_ibans_are_always_removed() -> None:
    text = f"card {CARD_NUMBER}, refund to {IBAN_NUMBER} please"

    out = admitted(guard().admit("c1", "", text, None)).text

    assert out == f"card {CARD}, refund to {IBAN} please"


def test_emails_and_phones_are_kept_unless_configured() -> None:
    text = "write to ana@example.com or call +49 30 1234 5678"

    assert admitted(guard().admit("c1", "", text, None)).text == text
    both = guard(redact_emails=True, redact_phones=True)
    assert admitted(both.admit("c1", "", text, None)).text == (f"write to {EMAIL} or call {PHONE}")


def test_a_card_number_in_a_button_payload_is_removed_too() -> None:
    payload = '/inform{"card": "4111111111111111"}'
    out = admitted(guard().admit("c1", "", payload, {"shown_as": "Pay"})).text
    assert out == f'/inform{{"card": "{CARD}"}}'


# --- metadata ---------------------------------------------------------------------


def test_page_urls_lose_query_and_fragment_and_declared_details_stay() -> None:
    metadata: dict[str, Any] = {
        "page_url": "https://shop.example/orders?id=991&token=s3cr3t#pay",
        "name": "Ana",
        "email": "ana@example.com",
        "locale": "de-DE",
        "custom": {"plan": "pro"},
    }

    out = admitted(guard(redact_emails=True).admit("c1", "", "hi", metadata)).metadata

    assert out == {**metadata, "page_url": "https://shop.example/orders"}
    assert metadata["page_url"].endswith("#pay")  # the caller's dict is not changed


def test_card_numbers_and_ibans_in_metadata_are_removed_wherever_they_are() -> None:
    metadata: dict[str, Any] = {
        "name": "Ana 4111 1111 1111 1111",
        "custom": {"notes": ["iban DE89 3704 0044 0532 0130 00"], "order": 10234},
    }
    out = admitted(guard().admit("c1", "", "hi", metadata)).metadata
    assert out == {
        "name": "Ana [card number removed]",
        "custom": {"notes": ["iban [IBAN removed]"], "order": 10234},
    }


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://a.example/x?q=1", "http://a.example/x"),
        ("https://a.example", "https://a.example"),
        ("https://ana:pw@a.example:8443/x#top", "https://a.example:8443/x"),
        ("http://[::1/x?token=1", "http://[::1/x"),
        ("about:blank", "about:blank"),
        ("not a url?x=1", "not a url?x=1"),
    ],
)
def test_page_address(url: str, kept: str) -> None:
    assert page_address(url) == kept


def test_oversized_or_malformed_metadata_is_dropped_not_stored() -> None:
    huge = {"custom": "x" * (MAX_METADATA_CHARS + 1)}

    assert admitted(guard().admit("c1", "", "hi", huge)).metadata == {}
    assert admitted(guard().admit("c1", "", "hi", ["not", "a", "dict"])).metadata == {}
    assert admitted(guard().admit("c1", "", "hi", None)).metadata is None


def test_a_missing_message_is_empty_text() -> None:
    assert admitted(guard().admit("c1", "", None, None)).text == ""


# --- settings ---------------------------------------------------------------------


def test_defaults_are_what_a_real_site_would_use() -> None:
    settings = GuardSettings.from_env({})

    assert settings == GuardSettings(
        max_message_chars=5000,
        per_conversation_per_minute=20,
        per_address_per_minute=60,
        redact_emails=False,
        redact_phones=False,
    )


def test_settings_are_read_from_the_environment() -> None:
    settings = GuardSettings.from_env(
        {
            "PARLEY_MAX_MESSAGE_CHARS": "2000",
            "PARLEY_RATE_PER_CONVERSATION": "0",
            "PARLEY_RATE_PER_ADDRESS": "120",
            "PARLEY_REDACT_EMAILS": "1",
            "PARLEY_REDACT_PHONES": "yes",
        }
    )

    assert settings == GuardSettings(2000, 0, 120, True, True)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PARLEY_MAX_MESSAGE_CHARS", "lots", "whole number"),
        ("PARLEY_MAX_MESSAGE_CHARS", "0", "1 or more"),
        ("PARLEY_RATE_PER_ADDRESS", "-5", "0 (off) or more"),
    ],
)
def test_malformed_settings_say_which_and_how(name: str, value: str, message: str) -> None:
    with pytest.raises(GuardSettingsError, match=name) as info:
        GuardSettings.from_env({name: value})
    assert message in str(info.value)
