from __future__ import annotations

import json
from pathlib import Path

import pytest
from parley_shared.triggers import (
    ABSTENTIONS,
    FRUSTRATION,
    LOOP,
    SENSITIVE,
    TriggerConfig,
    after_answer,
    consecutive_abstentions,
    explain,
    frustration_score,
    load_config,
    on_user_message,
)

DATA = Path(__file__).parent.parent / "data"


def events(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text())["events"]


def user(text: str, intent: str = "nlu_fallback", conf: float = 0.4) -> dict:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": conf}},
    }


@pytest.fixture
def cfg() -> TriggerConfig:
    return load_config()


@pytest.mark.parametrize(
    "text",
    [
        "this is useless",
        "THIS IS RIDICULOUS WHERE IS IT",
        "what the fuck is going on",
        "you are not helping, waste of time",
    ],
)
def test_frustration_detected(cfg: TriggerConfig, text: str) -> None:
    score, why = frustration_score(text, cfg)
    assert score >= cfg.frustration_threshold, why


@pytest.mark.parametrize(
    "text",
    [
        "where is my parcel?",
        "Is DHL used for UK orders?",
        "thanks, that was useful",
        "I need a USB-C cable",
    ],
)
def test_calm_messages_are_not_frustration(cfg: TriggerConfig, text: str) -> None:
    assert frustration_score(text, cfg)[0] < cfg.frustration_threshold


def test_sensitive_topics(cfg: TriggerConfig) -> None:
    found = on_user_message([user("my lawyer will hear about this")], cfg)
    assert found and found.kind == SENSITIVE and "legal_threat" in found.detail
    found = on_user_message([user("the charger caught fire last night")], cfg)
    assert found and "safety_incident" in found.detail
    # whole words only: "court" must not match "courteous"
    assert on_user_message([user("your staff were very courteous")], cfg) is None


def test_sensitive_by_intent() -> None:
    cfg = TriggerConfig.from_dict({"sensitive": {"intents": ["legal_threat"]}}, env={})
    found = on_user_message([user("hmm", intent="legal_threat", conf=0.8)], cfg)
    assert found and found.kind == SENSITIVE and found.confidence == 0.8


def test_loop(cfg: TriggerConfig) -> None:
    found = explain(events("tracker_handoff_loop.json"), cfg)
    assert found.kind == LOOP
    assert (
        on_user_message([user("how do I return shoes"), user("how do I track my order")], cfg)
        is None
    )


def test_abstentions_count_and_threshold(cfg: TriggerConfig) -> None:
    evs = events("tracker_handoff_abstentions.json")
    assert consecutive_abstentions(evs, cfg) == 2
    assert after_answer(evs, cfg).kind == ABSTENTIONS
    # one abstention is not enough with the default of 2
    first_turn = evs[: [i for i, e in enumerate(evs) if e["event"] == "user"][1]]
    assert after_answer(first_turn, cfg) is None
    # a knowledge answer in between resets the count
    assert consecutive_abstentions(events("tracker_handoff_explicit.json"), cfg) == 0


def test_what_the_customer_told_a_person_does_not_count_against_the_bot(
    cfg: TriggerConfig,
) -> None:
    evs = events("tracker_handoff_abstentions.json")
    first_user = next(i for i, e in enumerate(evs) if e["event"] == "user")
    # The first abstained turn happened before a human handed the chat back.
    handed_back = [*evs[: first_user + 1], {"event": "resume"}, *evs[first_user + 1 :]]
    assert consecutive_abstentions(evs, cfg) == 2
    assert consecutive_abstentions(handed_back, cfg) == 1
    assert after_answer(handed_back, cfg) is None


def test_abstention_limit_configurable_by_env() -> None:
    cfg = TriggerConfig.from_dict(
        {"abstentions": {"consecutive": 2}}, env={"HANDOFF_MAX_ABSTENTIONS": "3"}
    )
    assert cfg.max_abstentions == 3
    assert after_answer(events("tracker_handoff_abstentions.json"), cfg) is None


def test_explain_explicit_and_frustration(cfg: TriggerConfig) -> None:
    assert explain(events("tracker_handoff_explicit.json"), cfg).kind == "explicit_request"
    assert explain(events("tracker_handoff_frustration.json"), cfg).kind == FRUSTRATION


def test_config_file_is_reread(tmp_path: Path) -> None:
    f = tmp_path / "t.yml"
    f.write_text("frustration: {threshold: 0.6, phrases: [meh]}\n")
    assert load_config(str(f)).frustration_phrases == ["meh"]
    import os

    f.write_text("frustration: {threshold: 0.6, phrases: [bah]}\n")
    os.utime(f, (1, 1))
    assert load_config(str(f)).frustration_phrases == ["bah"]
