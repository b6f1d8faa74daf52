"""Rasa-side forgetting (bot/privacy_channel.py) on a real SQL tracker store, in Rasa's venv."""

from __future__ import annotations

from tests.rasa_probe import ROOT, needs_rasa, run_probe

pytestmark = needs_rasa


def test_forget_deletes_one_conversation_behind_the_token() -> None:
    out = run_probe(
        ROOT / "tests" / "bot" / "rasa_privacy_probe.py", str(ROOT / "domain.yml"), timeout=300
    )
    assert out["no_token"] == out["wrong_token"] == 401
    assert out["activity"] == {"last_event": {"gone": 3.0, "kept": 5.0}}
    assert out["forget"] == [200, {"events": 3}]
    assert out["left"] == {"gone": 0, "kept": 1}
