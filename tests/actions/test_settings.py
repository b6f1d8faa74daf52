"""The action server's settings (actions/settings.py): names, derived defaults, errors, read
once; and the handoff action reads them once, not per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.settings import ActionSettings, SettingsError, get_settings, reset_settings


def test_every_variable_is_read_by_its_name() -> None:
    env = {
        "HANDOFF_URL": "http://handoff.internal:4001/",
        "HANDOFF_INTERNAL_TOKEN": "tok",
        "PARLEY_IDENTITY_SECRET": "shh",
        "SUPPORT_HOURS": "Mon-Fri 09:00-17:00 Europe/Amsterdam",
        "HANDOFF_RATE_PER_HOUR": "0",
        "KNOWLEDGE_PRELOAD": "yes",
        "KNOWLEDGE_DIR": "/srv/articles",
        "PARLEY_STATE_DIR": "/srv/state",
        "KNOWLEDGE_EMBEDDINGS": "e5",
        "KNOWLEDGE_WATCH": "0",
        "CHROMA_HOST": " chroma ",
        "CHROMA_PORT": "8001",
        "KNOWLEDGE_MIN_SCORE": "0.8",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": "http://llm.test/v1",
        "OPENAI_MODEL": "local-model",
        "OPENAI_TIMEOUT": "1.5",
    }
    s = ActionSettings.from_env(env)
    assert (s.handoff_url, s.handoff_token) == ("http://handoff.internal:4001", "tok")
    assert s.identity_secret == "shh" and s.support_hours is not None
    assert s.support_hours.text == "Mon-Fri 09:00-17:00 Europe/Amsterdam"
    assert (s.handoff_rate_per_hour, s.knowledge_preload) == (0, True)
    k = s.knowledge
    assert (k.knowledge_dir, k.index_dir) == (Path("/srv/articles"), Path("/srv/state/index"))
    assert (k.local_encoder, k.watch, k.chroma_host, k.chroma_port) == ("e5", False, "chroma", 8001)
    assert (k.min_score, k.suggest_score, k.llm_timeout) == (0.8, None, 1.5)
    summary = s.summary_model
    assert (summary.api_key, summary.base_url, summary.model, summary.timeout) == (
        "sk-test",
        "http://llm.test/v1",
        "local-model",
        1.5,
    )
    assert "sk-test" not in repr(s) and "shh" not in repr(s) and "sk-test" not in repr(summary)


def test_defaults_and_derived_defaults() -> None:
    s = ActionSettings.from_env({})
    # The handoff service's internal API where the handoff service puts it by default.
    assert s.handoff_url == "http://127.0.0.1:3001"
    assert ActionSettings.from_env({"HANDOFF_PORT": "3100"}).handoff_url == "http://127.0.0.1:3101"
    assert ActionSettings.from_env({"HANDOFF_INTERNAL_PORT": "4000"}).handoff_url == (
        "http://127.0.0.1:4000"
    )
    assert (s.support_hours, s.identity_secret, s.handoff_rate_per_hour) == (None, "", 6)
    assert s.knowledge_preload is False and s.summary_model.api_key == ""
    k = s.knowledge
    assert (k.knowledge_dir, k.state_dir, k.local_encoder) == (
        Path("knowledge/articles"),
        Path("var"),
        "dual",
    )
    assert (k.watch, k.openai_embeddings, k.llm_timeout, k.collection) == (
        True,
        False,
        2.5,
        "parley_kb",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HANDOFF_RATE_PER_HOUR", "six", "HANDOFF_RATE_PER_HOUR must be a whole number"),
        ("HANDOFF_RATE_PER_HOUR", "-1", "HANDOFF_RATE_PER_HOUR must be 0 or more"),
        ("SUPPORT_HOURS", "Mon-Fri 09:00-17:00", "not an IANA time zone"),
        ("OPENAI_TIMEOUT", "soon", "OPENAI_TIMEOUT must be a number, got 'soon'"),
        ("KNOWLEDGE_EMBEDDINGS", "bert", "KNOWLEDGE_EMBEDDINGS must be local"),
        ("CHROMA_PORT", "eighty", "CHROMA_PORT must be a whole number"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        ActionSettings.from_env({name: value})
    assert message in str(info.value)


def test_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_IDENTITY_SECRET", "one")
    first = get_settings()
    monkeypatch.setenv("PARLEY_IDENTITY_SECRET", "two")
    assert get_settings() is first and first.identity_secret == "one"
    reset_settings()
    assert get_settings().identity_secret == "two"


def test_the_handoff_action_does_not_read_the_handoff_services_settings() -> None:
    import actions.handoff

    assert not hasattr(actions.handoff, "Settings")
    source = Path(actions.handoff.__file__).read_text(encoding="utf-8")
    assert "from_env" not in source and "os.environ" not in source
