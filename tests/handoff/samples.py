"""A typical packet for tests."""

from __future__ import annotations


def sample_packet(trigger: str = "explicit_request", until: float = 100.0) -> dict:
    return {
        "customer": {
            "name": "Maria",
            "email": "maria@example.com",
            "page_url": "",
            "locale": "en",
            "metadata": {},
        },
        "language": "en",
        "trigger": trigger,
        "confidence": 0.97,
        "trigger_detail": "",
        "summary": "My parcel to Germany is late.",
        "transcript": [
            {"role": "customer", "text": "My parcel to Germany is late", "ts": 90.0},
            {"role": "bot", "text": "Sorry to hear that.", "ts": 91.0},
            {"role": "customer", "text": "I want a human", "ts": 99.0},
        ],
        "intents": [{"name": "human_handoff", "confidence": 0.97}],
        "sources": [],
        "transcript_until": until,
    }
