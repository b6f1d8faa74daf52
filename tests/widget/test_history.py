"""The widget's history endpoint: what a customer may see of their own conversation."""

from __future__ import annotations

from typing import Any

import pytest

from widget.server import history_from_tracker, parse_csat

SOURCES = [
    {
        "path": "shipping.md",
        "title": "Shipping times",
        "url": "https://help.example/ship",
        "score": 0.8,
    },
    {"path": "evil.md", "title": "Evil", "url": "javascript:alert(1)", "score": 0.5},
]


def user(text: str, ts: float, **meta: Any) -> dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": ts, "metadata": meta}


def bot(text: str | None, ts: float, data: dict | None = None, **meta: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": ts, "data": data or {}, "metadata": meta}


def agent(text: str, ts: float, name: str = "Ana") -> dict[str, Any]:
    return bot(text, ts, parley_handoff={"key": f"k{ts}", "agent": name})


def notice(text: str, ts: float, kind: str = "", name: str = "") -> dict[str, Any]:
    marker: dict[str, Any] = {"key": f"n{ts}", "agent": ""}
    if kind:
        marker["kind"] = kind
    if name:
        marker["name"] = name
    return bot(text, ts, parley_handoff=marker)


def test_user_and_bot_messages_split_like_the_socket_channel() -> None:
    h = history_from_tracker(
        {
            "events": [
                user("hi", 1),
                {"event": "action", "name": "x"},
                bot("Hello.\n\nHow can I help?", 2),
            ]
        }
    )
    assert [(m["role"], m["text"]) for m in h["messages"]] == [
        ("user", "hi"),
        ("bot", "Hello."),
        ("bot", "How can I help?"),
    ]
    assert h["survey"] is None


def test_citations_from_the_custom_payload_only_with_safe_links() -> None:
    custom = {"answer_type": "kb", "sources": SOURCES}
    h = history_from_tracker(
        {"events": [user("shipping?", 1), bot("3 days.", 2, {"custom": custom})]}
    )
    assert h["messages"][-1]["sources"] == [
        {"title": "Shipping times", "url": "https://help.example/ship"},
        {"title": "Evil", "url": ""},
    ]


def test_custom_only_message_annotates_the_message_before_it() -> None:
    wrapped = {"data": {"answer_type": "kb", "sources": SOURCES[:1]}}
    h = history_from_tracker(
        {"events": [user("q", 1), bot("Answer", 2), bot(None, 3, {"custom": wrapped})]}
    )
    assert len(h["messages"]) == 2
    assert h["messages"][1]["sources"][0]["title"] == "Shipping times"


def test_abstention_has_no_citations() -> None:
    custom = {"answer_type": "abstain", "sources": []}
    h = history_from_tracker({"events": [bot("I don't know.", 2, {"custom": custom})]})
    assert "sources" not in h["messages"][0]


def test_button_presses_show_their_label_and_commands_are_hidden() -> None:
    h = history_from_tracker(
        {"events": [user("/human_handoff", 1, shown_as="Talk to a person"), user("/greet", 2)]}
    )
    assert [m["text"] for m in h["messages"]] == ["Talk to a person"]


def test_agent_messages_and_hand_back_survey() -> None:
    events = [
        user("person please", 1),
        bot("You're in the queue.", 2),
        {"event": "pause", "timestamp": 2.5},
    ]
    events += [notice("Ana from support (human) joined the chat.", 3), agent("Hi, Ana here.", 4)]
    h = history_from_tracker({"events": events})
    assert h["messages"][-2]["role"] == "notice"
    assert h["messages"][-1] == {"role": "agent", "text": "Hi, Ana here.", "ts": 4, "agent": "Ana"}
    assert h["survey"] is None
    events += [{"event": "resume", "timestamp": 5}, notice("You're talking to the AI again.", 5)]
    h = history_from_tracker({"events": events})
    assert h["survey"] == "handback:5"
    # The customer carried on chatting: no survey until the next ending.
    assert history_from_tracker({"events": [*events, user("thanks", 6)]})["survey"] is None


def test_notices_keep_their_kind() -> None:
    events = [
        user("person please", 1),
        notice("You're in the queue.", 2, kind="queued"),
        {"event": "pause", "timestamp": 2.5},
        notice("Ana from support (human) joined the chat.", 3, kind="joined", name="Ana"),
    ]
    h = history_from_tracker({"events": events})
    assert [m.get("kind") for m in h["messages"]] == [None, "queued", "joined"]
    spoofed = [notice("x", 1, kind="<img src=x onerror=alert(1)>")]
    assert "kind" not in history_from_tracker({"events": spoofed})["messages"][0]


def test_closed_by_the_agent_without_hand_back() -> None:
    events = [
        {"event": "pause", "timestamp": 1},
        notice("Ana joined.", 2),
        agent("Done!", 3),
        notice("Our support team has closed this conversation.", 4),
    ]
    h = history_from_tracker({"events": events})
    assert h["survey"] == "closed:4"


def test_goodbye_ends_a_bot_conversation() -> None:
    h = history_from_tracker(
        {"events": [user("bye", 1), bot("Goodbye!", 2, utter_action="utter_goodbye")]}
    )
    assert h["survey"] == "goodbye:2"


@pytest.mark.parametrize(
    "body",
    [
        b'{"session_id": "short", "score": 3}',
        b'{"session_id": "' + b"a" * 32 + b'", "score": 6}',
        b'{"session_id": "' + b"a" * 32 + b'", "score": true}',
        b'{"session_id": "' + b"a" * 32 + b'", "score": "5"}',
        b"[1]",
    ],
)
def test_csat_input_is_checked(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_csat(body)


def test_csat_is_forwarded_as_the_ledger_expects() -> None:
    sid = "b" * 32
    body = b'{"session_id": "' + sid.encode() + b'", "score": 4, "comment": " quick  "}'
    assert parse_csat(body) == {"sender_id": sid, "score": 4, "comment": "quick"}
