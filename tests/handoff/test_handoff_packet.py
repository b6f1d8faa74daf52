import json

from handoff.packet import (
    CLAIM_ACTION,
    RESOLVE_ACTION,
    build_blocks,
    collect_packet,
    console_text,
    transcript_chunks,
    transcript_is_long,
)

EVENTS = [
    {
        "event": "session_started",
        "timestamp": 1.0,
        "metadata": {"page_url": "https://shop.example/orders", "locale": "de-DE"},
    },
    {
        "event": "user",
        "timestamp": 2.0,
        "text": "where is my parcel <!channel>",
        "parse_data": {"intent": {"name": "out_of_scope", "confidence": 0.41}},
        "metadata": {"name": "Maria <@U999>", "email": "maria@example.com", "plan": "gold"},
    },
    {"event": "action", "timestamp": 2.1, "name": "action_answer_from_knowledge"},
    {
        "event": "bot",
        "timestamp": 2.2,
        "text": "Parcels take 3-5 days.",
        "data": {
            "custom": {
                "answer_type": "kb",
                "sources": [
                    {
                        "path": "shipping/times.md",
                        "title": "Shipping times",
                        "url": "https://h/s",
                        "score": 0.81,
                    }
                ],
            }
        },
    },
    {
        "event": "slot",
        "timestamp": 2.3,
        "name": "kb_sources",
        "value": [
            {"path": "orders/tracking.md", "title": "Tracking", "url": "https://h/t", "score": 0.2}
        ],
    },
    {"event": "slot", "timestamp": 2.3, "name": "kb_answer_type", "value": "abstain"},
    {
        "event": "user",
        "timestamp": 3.0,
        "text": "I want a human",
        "parse_data": {"intent": {"name": "human_handoff", "confidence": 0.98}},
    },
]


def test_collect_packet_gathers_everything() -> None:
    p = collect_packet(EVENTS, trigger="explicit_request", confidence=0.98)
    assert p["customer"]["email"] == "maria@example.com"
    assert p["customer"]["page_url"] == "https://shop.example/orders"
    assert p["customer"]["locale"] == "de-DE"
    assert p["language"] == "en"  # the language the customer wrote in, not the browser's
    assert p["customer"]["metadata"]["plan"] == "gold"
    assert [t["role"] for t in p["transcript"]] == ["customer", "bot", "customer"]
    assert {i["name"] for i in p["intents"]} == {"out_of_scope", "human_handoff"}
    by_path = {s["path"]: s for s in p["sources"]}
    assert by_path["shipping/times.md"]["used"] is True
    assert by_path["orders/tracking.md"]["used"] is False
    assert p["transcript_until"] == 3.0
    assert "parcel" in p["summary"]


def test_blocks_escape_customer_text_everywhere() -> None:
    p = collect_packet(EVENTS)
    blocks = build_blocks(7, p, "queued")
    dumped = json.dumps(blocks)
    assert "<!channel>" not in dumped
    assert "<@U999>" not in dumped
    assert "&lt;!channel&gt;" in dumped
    actions = [b for b in blocks if b["type"] == "actions"][0]
    assert actions["elements"][0]["action_id"] == CLAIM_ACTION
    assert actions["elements"][0]["value"] == "7"


def test_blocks_after_claim_offer_resolve_and_after_close_none() -> None:
    p = collect_packet(EVENTS)
    claimed = build_blocks(7, p, "agent", agent_id="U1", agent_name="Ana")
    ids = [e["action_id"] for b in claimed if b["type"] == "actions" for e in b["elements"]]
    assert ids == [RESOLVE_ACTION]
    closed = build_blocks(7, p, "closed", agent_id="U1", resolution="resolved", note="ok")
    assert not [b for b in closed if b["type"] == "actions"]
    assert "resolved" in json.dumps(closed)


def test_long_transcript_goes_to_thread() -> None:
    events = [
        {"event": "user", "timestamp": float(i), "text": f"message number {i} " * 20}
        for i in range(40)
    ]
    p = collect_packet(events)
    assert transcript_is_long(p)
    chunks = transcript_chunks(p)
    assert len(chunks) > 1 and all(len(c) <= 3500 for c in chunks)
    assert "Full transcript in the thread." in json.dumps(build_blocks(1, p, "queued"))
    assert sum(c.count("*Customer:*") for c in chunks) == 40


def test_console_text_is_plain() -> None:
    out = console_text(3, collect_packet(EVENTS))
    assert "Handoff #3" in out and "maria@example.com" in out and "shipping/times.md" in out


def test_the_packet_says_which_language_the_customer_wrote_in() -> None:
    german = [
        {"event": "user", "timestamp": 1.0, "text": "Ich möchte mit einem Menschen sprechen"},
        {"event": "user", "timestamp": 2.0, "text": "Meine Bestellung ist nicht angekommen"},
    ]
    assert collect_packet(german, trigger="explicit_request")["language"] == "de"
    # Rasa's language slot (set from the widget's language and the messages) comes first.
    slots = {"language": "fr"}
    assert collect_packet(german, slots, trigger="explicit_request")["language"] == "fr"
    assert collect_packet([], trigger="explicit_request")["language"] == "unknown"


def test_the_packet_says_who_decided_each_knowledge_answer() -> None:
    def answer(ts: float, custom: dict) -> dict:
        return {"event": "bot", "timestamp": ts, "text": "…", "data": {"custom": custom}}

    events = [
        answer(
            1.0, {"answer_type": "kb", "sources": [], "decided_by": "model", "grounding": "passed"}
        ),
        answer(
            2.0,
            {
                "answer_type": "suggest",
                "sources": [],
                "grounding": "failed",
                "decided_by": "offline",
            },
        ),
        answer(3.0, {"answer_type": "abstain", "sources": [], "decided_by": "model"}),
        answer(4.0, {"answer_type": "kb", "sources": []}),  # an older answerer's payload
    ]
    p = collect_packet(events, trigger="abstentions")
    assert p["knowledge_decisions"] == [
        {"answer_type": "kb", "decided_by": "model", "grounding": "passed"},
        {"answer_type": "suggest", "decided_by": "offline", "grounding": "failed"},
        {"answer_type": "abstain", "decided_by": "model", "grounding": ""},
        {"answer_type": "kb", "decided_by": "offline", "grounding": ""},
    ]
    line = (
        "1 by the language model, 1 by the language model (grounding check passed), "
        "1 by the offline answerer, 1 by the offline answerer (after the model's answer "
        "failed the grounding check)"
    )
    assert f"Knowledge answers decided: {line}" in json.dumps(build_blocks(7, p, "queued"))
    assert f"Decided:  {line}" in console_text(7, p)
    assert "decided" not in json.dumps(build_blocks(7, collect_packet(EVENTS[:2]), "queued"))
