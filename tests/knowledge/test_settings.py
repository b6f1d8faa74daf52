"""The knowledge CLI's settings (knowledge/settings.py): names, derived defaults, errors,
read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.settings import SettingsError
from knowledge.settings import (
    KnowledgeCliSettings,
    KnowledgeSettings,
    get_settings,
    reset_settings,
)


def test_every_variable_is_read_by_its_name() -> None:
    s = KnowledgeCliSettings.from_env(
        {
            "KNOWLEDGE_DIR": "/srv/articles",
            "PARLEY_STATE_DIR": "/srv/state",
            "CHROMA_HOST": "chroma",
            "CHROMA_PORT": "8001",
            "KNOWLEDGE_COLLECTION": "shop",
            "KNOWLEDGE_TITLE_WEIGHT": "0.3",
            "KNOWLEDGE_MIN_SCORE": "0.9",
            "KNOWLEDGE_SUGGEST_SCORE": "0.5",
            "KNOWLEDGE_CONFIDENCE_MODEL": "off",
            "KNOWLEDGE_WATCH": "false",
            "KNOWLEDGE_EMBEDDINGS": "openai",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": "http://llm.test/v1",
            "OPENAI_MODEL": "m",
            "OPENAI_EMBEDDING_MODEL": "e",
            "OPENAI_TIMEOUT": "4",
            "HANDOFF_DB_URL": "postgresql://db/handoff",
            "PARLEY_ENCODER_DIR": "/srv/minilm",
        }
    )
    assert s.knowledge == KnowledgeSettings(
        knowledge_dir=Path("/srv/articles"),
        state_dir=Path("/srv/state"),
        chroma_host="chroma",
        chroma_port=8001,
        collection="shop",
        title_weight=0.3,
        min_score=0.9,
        suggest_score=0.5,
        confidence_model="off",
        watch=False,
        openai_api_key="sk-test",
        openai_base_url="http://llm.test/v1",
        openai_model="m",
        openai_embeddings=True,
        local_encoder="dual",
        openai_embedding_model="e",
        llm_timeout=4.0,
        encoder_dir=Path("/srv/minilm"),
    )
    assert s.handoff_database() == "postgresql://db/handoff"
    assert "sk-test" not in repr(s)


def test_defaults_and_derived_defaults() -> None:
    s = KnowledgeCliSettings.from_env({})
    assert s.knowledge == KnowledgeSettings()  # the answerer's own defaults
    assert KnowledgeCliSettings.from_env({"PARLEY_ENCODER_DIR": " "}).knowledge.encoder_dir is None
    assert (
        KnowledgeCliSettings.from_env({"KNOWLEDGE_EMBEDDINGS": "minilm"}).knowledge.local_encoder
        == "minilm"
    )
    # `gaps` finds the handoff database as the handoff service does.
    assert s.handoff_database() == "sqlite:///var/handoff.db"
    assert s.handoff_database(Path("/tmp/s")) == "sqlite:////tmp/s/handoff.db"
    shared = KnowledgeCliSettings.from_env({"PARLEY_DATABASE_URL": "postgresql://db/parley"})
    assert shared.handoff_database() == "postgresql://db/parley"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KNOWLEDGE_EMBEDDINGS", "bert", "KNOWLEDGE_EMBEDDINGS must be local (the same as dual)"),
        ("KNOWLEDGE_MIN_SCORE", "high", "KNOWLEDGE_MIN_SCORE must be a number, got 'high'"),
        ("CHROMA_PORT", "80a", "CHROMA_PORT must be a whole number, got '80a'"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        KnowledgeCliSettings.from_env({name: value})
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # the CLI prints ValueErrors as `error: ...`


def test_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWLEDGE_DIR", "/one")
    first = get_settings()
    monkeypatch.setenv("KNOWLEDGE_DIR", "/two")
    assert get_settings() is first and first.knowledge_dir == Path("/one")
    reset_settings()
    assert get_settings().knowledge_dir == Path("/two")
