"""The message guard on the real Rasa server's REST and socket.io channels: over-long
messages, rate limits, personal data, page URLs, and Rasa's command syntax while a person
owns the chat."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parley_shared.message_guard import RASA_COMMAND_INTENTS, too_fast_reply, too_long_reply
from parley_shared.redact import CARD, IBAN

from tests.integration.stack import RunningStack, start_stack
from tests.rasa_probe import run_probe

pytestmark = pytest.mark.stack

SOCKETIO_PROBE = Path(__file__).with_name("socketio_probe.py")
ONE_MB = "<!--" * 250_000
REFUSED_TOO_LONG = too_long_reply(5000)  # no widget language, no words: English
CARD_NUMBER = "4111 1111 1111 1111"
IBAN_NUMBER = "DE89 3704 0044 0532 0130 00"
NUMBERS = (CARD_NUMBER, IBAN_NUMBER)
PAYLOADS = ["/restart", "/start_over", "/session_start", "/human_handoff"]
PER_CONVERSATION = 3
PER_ADDRESS = 6


def waits(lang: str = "en") -> set[str]:
    """The refusal of a message that came too fast, for any wait the limits can give."""
    return {too_fast_reply(seconds, lang) for seconds in range(1, 61)}


@pytest.fixture(scope="module")
def limited_stack() -> Iterator[RunningStack]:
    """Small rate limits, and Sanic told to trust one proxy, so each test can be its own
    client address (X-Forwarded-For)."""
    env = {
        "PARLEY_RATE_PER_CONVERSATION": str(PER_CONVERSATION),
        "PARLEY_RATE_PER_ADDRESS": str(PER_ADDRESS),
        "SANIC_PROXIES_COUNT": "1",
        "KNOWLEDGE_PRELOAD": "0",
    }
    with start_stack(extra_env=env) as running:
        yield running


def new_id(prefix: str = "guard") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


def post(
    stack: RunningStack,
    sender: str,
    text: str,
    metadata: dict[str, Any] | None = None,
    address: str | None = None,
) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata is not None:
        body["metadata"] = metadata
    headers = {"Content-Type": "application/json"}
    if address:
        headers["X-Forwarded-For"] = address
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        replies: list[dict[str, Any]] = json.loads(response.read())
    return replies


def full_tracker(stack: RunningStack, sender: str) -> dict[str, Any]:
    """Every event of the conversation, from before any restart too."""
    url = f"{stack.rasa_url}/conversations/{sender}/tracker?include_events=ALL&token={stack.token}"
    with urllib.request.urlopen(url, timeout=60) as response:
        tracker: dict[str, Any] = json.loads(response.read())
    return tracker


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in replies if "text" in r]


def user_texts(tracker: dict[str, Any]) -> list[str]:
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == "user"]


def stored_user_texts(stack: RunningStack, session: str, count: int) -> list[str]:
    """The customer's messages Rasa stored, once `count` are there (or after 60 s). Rasa
    stores a turn when it ends, and a reply can come well before: the AI disclosure goes out
    at the session's start, before a slow first knowledge answer."""
    deadline = time.monotonic() + 60
    while True:
        texts = user_texts(stack.tracker(session))
        if len(texts) >= count or time.monotonic() > deadline:
            return texts
        time.sleep(0.2)


def socketio(
    stack: RunningStack, session: str, steps: list[dict[str, Any]], address: str | None = None
) -> list[dict[str, Any]]:
    spec = {
        "url": stack.rasa_url,
        "session_id": session,
        "headers": {"X-Forwarded-For": address} if address else {},
        "steps": steps,
    }
    result: list[dict[str, Any]] = run_probe(SOCKETIO_PROBE, json.dumps(spec), timeout=300)
    return result


def spoken(messages: list[dict[str, Any]]) -> list[str]:
    """What the bot said, leaving out the handoff's notices (queued, joined...)."""
    return [
        m.get("text", "") for m in messages if "parley_handoff" not in (m.get("metadata") or {})
    ]


# --- over-long messages -----------------------------------------------------------


def test_a_megabyte_is_refused_in_under_a_second_while_another_customer_is_answered(
    stack: RunningStack,
) -> None:
    flooder, other = new_id("flood"), new_id("other")
    post(stack, other, "hi")  # a conversation already under way
    timings: dict[str, float] = {}
    replies: dict[str, list[dict[str, Any]]] = {}

    def send(who: str, sender: str, text: str) -> None:
        start = time.monotonic()
        replies[who] = post(stack, sender, text)
        timings[who] = time.monotonic() - start

    flood = threading.Thread(target=send, args=("flood", flooder, ONE_MB))
    flood.start()
    time.sleep(0.05)  # the megabyte is on its way
    send("other", other, "thank you")
    flood.join()

    print(f"1 MB refused in {timings['flood']:.3f} s; other reply in {timings['other']:.3f} s")
    assert texts(replies["flood"]) == [REFUSED_TOO_LONG]
    assert timings["flood"] < 1.0
    assert texts(replies["other"]) and timings["other"] < 1.0
    # The refused message never reached the conversation.
    assert user_texts(stack.tracker(flooder)) == []


def test_over_socketio_a_megabyte_gets_the_same_reply_and_the_chat_goes_on(
    stack: RunningStack,
) -> None:
    session = new_id("sio")
    refused, answered = socketio(
        stack,
        session,
        [{"message": "<!--", "repeat": len(ONE_MB) // 4}, {"message": "hi", "quiet_s": 2.0}],
    )

    print(f"1 MB over socket.io refused in {refused['first_reply_s']:.3f} s")
    assert spoken(refused["messages"]) == [REFUSED_TOO_LONG]
    assert refused["first_reply_s"] < 1.0
    assert any("help" in text for text in spoken(answered["messages"]))
    assert user_texts(stack.tracker(session)) == ["hi"]


def test_a_body_too_big_to_read_gets_the_same_polite_reply(stack: RunningStack) -> None:
    customer = new_id("huge")
    refused = post(stack, customer, "x" * 3_000_000)

    assert texts(refused) == [REFUSED_TOO_LONG]
    assert user_texts(stack.tracker(customer)) == []


def test_streaming_rest_clients_get_the_refusal_and_the_replies_as_lines(
    stack: RunningStack,
) -> None:
    def stream(sender: str, text: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(
            f"{stack.rasa_url}/webhooks/rest/webhook?stream=true",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return [json.loads(line) for line in response.read().splitlines() if line.strip()]

    customer = new_id("stream")
    assert texts(stream(customer, "x" * 5001)) == [REFUSED_TOO_LONG]
    assert len(texts(stream(customer, "hi"))) == 2  # the AI disclosure, then the greeting


# --- personal data and page URLs --------------------------------------------------


def test_card_numbers_and_ibans_never_reach_the_tracker_or_the_actions(
    stack: RunningStack,
) -> None:
    customer = new_id("pii")
    post(stack, customer, "hi")
    question = (
        f"can you refund to my card {CARD_NUMBER} or to my IBAN {IBAN_NUMBER} "
        "how long does a refund take?"
    )

    replies = post(stack, customer, question)

    tracker = full_tracker(stack, customer)
    stored = json.dumps(tracker)
    for number in (CARD_NUMBER, IBAN_NUMBER, *(n.replace(" ", "") for n in NUMBERS)):
        assert number not in stored and number not in json.dumps(replies)
    assert CARD in stored and IBAN in stored
    # What the action server saw: the knowledge answer names the question it was given in
    # its bot event's metadata (for the ledger; never sent to the customer).
    seen = [
        e["metadata"]["parley_question"]
        for e in tracker["events"]
        if e["event"] == "bot" and "parley_question" in (e.get("metadata") or {})
    ]
    assert seen == [question.replace(CARD_NUMBER, CARD).replace(IBAN_NUMBER, IBAN)]
    assert all("question" not in (r.get("custom") or {}) for r in replies)


def test_over_socketio_card_numbers_are_removed_too(stack: RunningStack) -> None:
    session = new_id("sio-pii")
    socketio(stack, session, [{"message": f"my card is {CARD_NUMBER}", "quiet_s": 2.0}])

    assert stored_user_texts(stack, session, 1) == [f"my card is {CARD}"]


def test_page_urls_are_stored_without_query_or_fragment(stack: RunningStack) -> None:
    customer = new_id("url")
    metadata = {
        "page_url": "https://shop.example/orders?order=991&token=s3cr3t#pay",
        "name": "Ana",
        "email": "ana@example.com",
    }

    post(stack, customer, "hi", metadata=metadata)

    latest = stack.tracker(customer)["latest_message"]["metadata"]
    assert latest == {**metadata, "page_url": "https://shop.example/orders"}


# --- command syntax while a person owns or awaits the chat ------------------------


def paused_customer(stack: RunningStack) -> str:
    customer = new_id("paused")
    post(stack, customer, "hi")
    post(stack, customer, "I want to talk to a real person")
    assert stack.tracker(customer)["paused"] is True
    return customer


@pytest.mark.parametrize("payload", PAYLOADS)
def test_typed_commands_leave_a_paused_chat_silent_and_paused(
    stack: RunningStack, payload: str
) -> None:
    customer = paused_customer(stack)

    assert post(stack, customer, payload) == []
    # The same text claiming to be a widget button (anyone can send that metadata).
    assert post(stack, customer, payload, metadata={"shown_as": "Start again"}) == []

    tracker = full_tracker(stack, customer)
    assert tracker["paused"] is True
    kinds = [e["event"] for e in tracker["events"]]
    assert "restart" not in kinds and kinds.count("session_started") == 1
    # Typed: the words. As a button: kept, unless it is one of Rasa's own commands.
    as_button = payload[1:] if payload[1:] in RASA_COMMAND_INTENTS else payload
    assert user_texts(tracker)[-2:] == [payload[1:], as_button]


def test_over_socketio_typed_commands_leave_a_paused_chat_silent(stack: RunningStack) -> None:
    session = new_id("sio-paused")
    steps: list[dict[str, Any]] = [
        {"message": "hi"},
        {"message": "I want to talk to a real person", "quiet_s": 2.0},
    ]
    steps += [{"message": p, "expect_reply": False, "quiet_s": 1.5} for p in PAYLOADS]

    results = socketio(stack, session, steps)

    assert stack.tracker(session)["paused"] is True
    for payload, result in zip(PAYLOADS, results[2:], strict=True):
        assert spoken(result["messages"]) == [], payload


def test_the_widgets_person_button_still_hands_off(stack: RunningStack) -> None:
    customer = new_id("button")
    post(stack, customer, "hi")

    replies = post(stack, customer, "/human_handoff", metadata={"shown_as": "Talk to a person"})

    assert any("person" in t for t in texts(replies))
    assert stack.tracker(customer)["paused"] is True


# --- rate limits --------------------------------------------------------------------


def test_a_conversation_sending_too_fast_is_asked_to_wait(limited_stack: RunningStack) -> None:
    customer, address = new_id("fast"), new_address()
    for _ in range(PER_CONVERSATION):
        assert texts(post(limited_stack, customer, "thanks", address=address))

    (reply,) = texts(post(limited_stack, customer, "thanks", address=address))

    assert reply in waits()
    assert len(user_texts(limited_stack.tracker(customer))) == PER_CONVERSATION
    # Another conversation from the same address is still answered.
    assert texts(post(limited_stack, new_id("fast"), "thanks", address=address))


def test_one_address_opening_conversation_after_conversation_is_asked_to_wait(
    limited_stack: RunningStack,
) -> None:
    address = new_address()
    for _ in range(PER_ADDRESS):
        assert texts(post(limited_stack, new_id("addr"), "thanks", address=address))

    (reply,) = texts(post(limited_stack, new_id("addr"), "thanks", address=address))

    assert reply in waits()
    assert texts(post(limited_stack, new_id("addr"), "thanks", address=new_address()))


def test_a_german_widgets_customer_is_asked_to_wait_in_german(
    limited_stack: RunningStack,
) -> None:
    customer, address, german = new_id("fast-de"), new_address(), {"language": "de"}
    for _ in range(PER_CONVERSATION):
        assert texts(post(limited_stack, customer, "danke", german, address=address))

    (reply,) = texts(post(limited_stack, customer, "danke", german, address=address))

    assert reply in waits("de") and "Sekunden" in reply


def test_over_socketio_a_conversation_sending_too_fast_is_asked_to_wait(
    limited_stack: RunningStack,
) -> None:
    session = new_id("sio-fast")
    french = {"language": "fr"}
    steps = [{"message": "merci", "metadata": french} for _ in range(PER_CONVERSATION + 1)]

    results = socketio(limited_stack, session, steps, address=new_address())

    assert all(spoken(r["messages"]) for r in results)
    assert spoken(results[-1]["messages"])[0] in waits("fr")
    assert len(user_texts(limited_stack.tracker(session))) == PER_CONVERSATION
