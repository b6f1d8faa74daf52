"""Settings of the knowledge answerer, and of the knowledge CLI (`python -m knowledge ...`).

`KnowledgeSettings` is what the answerer is built from (a plain value: tests and benchmarks
make their own). `KnowledgeEnv` reads it from the environment; the action server's settings
(actions/settings.py) and the knowledge CLI's (`KnowledgeCliSettings`, `get_settings()`)
both include it. Every variable is in README.md's configuration table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from handoff.env_settings import Cached, EnvSettings, number, whole_number

# Article score = TITLE_WEIGHT * sim(question, title)
#               + (1 - TITLE_WEIGHT) * max sim(question, passage).
# Tuned on the tuning half of StackFAQ (bench/knowledge_retrieval.py, results in bench/results/).
DEFAULT_TITLE_WEIGHT = 0.5
# The answer bands apply to the trained confidence (knowledge/confidence.py), whose model file
# carries its calibrated thresholds. Without it (KNOWLEDGE_CONFIDENCE_MODEL=off, or OpenAI
# embeddings, which have no sentence evidence) they apply to the evidence score, with these
# thresholds, calibrated on the development splits of the labelled answer-quality set
# (bench/knowledge_answer_quality.py): answer from DEFAULT_MIN_SCORE; suggest the article and
# ask whether it answered from DEFAULT_SUGGEST_SCORE (at most 30% of suggestions wrong).
DEFAULT_MIN_SCORE = 0.55
DEFAULT_SUGGEST_SCORE = 0.41
# With a language model configured, it is asked about every question whose best article's
# retrieval score reaches this floor (below it, the bot says it does not know without asking).
# Calibrated on the labelled knowledge bases (bench/knowledge_llm.py --calibrate-floor).
DEFAULT_LLM_FLOOR = 0.30

EMBEDDINGS = ("local", "dual", "e5", "minilm", "openai")


@dataclass(frozen=True)
class KnowledgeSettings:
    knowledge_dir: Path = Path("knowledge/articles")
    state_dir: Path = Path("var")
    chroma_host: str = ""
    chroma_port: int = 8000
    collection: str = "parley_kb"
    title_weight: float = DEFAULT_TITLE_WEIGHT
    # None: the confidence model's calibrated thresholds (or the defaults above without it).
    min_score: float | None = None
    suggest_score: float | None = None
    # "" = the packaged knowledge/confidence_model.json; "off" = the evidence score alone.
    confidence_model: str = ""
    watch: bool = True
    openai_api_key: str = ""
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_embeddings: bool = False
    # The local encoders (knowledge/embeddings.py): "dual" (MiniLM for English, e5 for the
    # other languages), "minilm" (English only) or "e5" (e5 for every language).
    local_encoder: str = "dual"
    openai_embedding_model: str = "text-embedding-3-small"
    llm_timeout: float = 2.5
    # None: DEFAULT_LLM_FLOOR with the local encoders, 0 with OpenAI embeddings.
    llm_floor: float | None = None
    # PARLEY_DATABASE_URL: the index writer's lease becomes a PostgreSQL advisory lock.
    database_url: str = ""
    # How long a second writer (a CLI run beside the bot) waits for the index lock.
    lock_wait_seconds: float = 120.0
    # PARLEY_ENCODER_DIR: another copy of MiniLM's files; None: the packaged model.
    encoder_dir: Path | None = None

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "index"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KnowledgeSettings:
        """Read from `environ` (or os.environ) now; a process uses its settings object's
        `.knowledge` instead, read once."""
        return KnowledgeEnv.from_env(environ).knowledge


class KnowledgeEnv(EnvSettings):
    """The knowledge answerer's variables (part of the action server's and the knowledge
    CLI's settings)."""

    knowledge_dir: Path = Field(Path("knowledge/articles"), validation_alias="KNOWLEDGE_DIR")
    state_dir: Path = Field(Path("var"), validation_alias="PARLEY_STATE_DIR")
    chroma_host: str = Field("", validation_alias="CHROMA_HOST")
    chroma_port: int = Field(8000, validation_alias="CHROMA_PORT")
    collection: str = Field("parley_kb", validation_alias="KNOWLEDGE_COLLECTION")
    title_weight: float = Field(DEFAULT_TITLE_WEIGHT, validation_alias="KNOWLEDGE_TITLE_WEIGHT")
    min_score: float | None = Field(None, validation_alias="KNOWLEDGE_MIN_SCORE")
    suggest_score: float | None = Field(None, validation_alias="KNOWLEDGE_SUGGEST_SCORE")
    confidence_model: str = Field("", validation_alias="KNOWLEDGE_CONFIDENCE_MODEL")
    watch: bool = Field(True, validation_alias="KNOWLEDGE_WATCH")
    embeddings: str = Field("local", validation_alias="KNOWLEDGE_EMBEDDINGS")
    openai_api_key: str = Field("", validation_alias="OPENAI_API_KEY", repr=False)
    openai_base_url: str = Field("", validation_alias="OPENAI_BASE_URL")
    openai_model: str = Field("gpt-4o-mini", validation_alias="OPENAI_MODEL")
    openai_embedding_model: str = Field(
        "text-embedding-3-small", validation_alias="OPENAI_EMBEDDING_MODEL"
    )
    llm_timeout: float = Field(2.5, validation_alias="OPENAI_TIMEOUT")
    llm_floor: float | None = Field(None, validation_alias="KNOWLEDGE_LLM_FLOOR")
    parley_database_url: str = Field("", validation_alias="PARLEY_DATABASE_URL", repr=False)
    lock_wait_seconds: float = Field(120.0, validation_alias="KNOWLEDGE_LOCK_WAIT_SECONDS")
    encoder_dir: Path | None = Field(None, validation_alias="PARLEY_ENCODER_DIR")

    @field_validator(
        "chroma_host", "confidence_model", "openai_api_key", "openai_base_url", mode="before"
    )
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("encoder_dir", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("chroma_port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> int:
        return whole_number("CHROMA_PORT", value)

    @field_validator(
        "title_weight",
        "min_score",
        "suggest_score",
        "llm_timeout",
        "llm_floor",
        "lock_wait_seconds",
        mode="before",
    )
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> float | None:
        return None if value is None else number(cls.env_name(info), value)

    @field_validator("watch", mode="before")
    @classmethod
    def _watch(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() not in {"0", "false", "no"}

    @field_validator("embeddings", mode="before")
    @classmethod
    def _embeddings(cls, value: Any) -> str:
        kind = str(value).strip().lower()
        if kind not in EMBEDDINGS:
            raise ValueError(
                "KNOWLEDGE_EMBEDDINGS must be local (the same as dual), dual, minilm, e5 or "
                f"openai, got {kind!r}"
            )
        return kind

    @property
    def knowledge(self) -> KnowledgeSettings:
        """The answerer's settings."""
        return KnowledgeSettings(
            knowledge_dir=self.knowledge_dir,
            state_dir=self.state_dir,
            chroma_host=self.chroma_host,
            chroma_port=self.chroma_port,
            collection=self.collection,
            title_weight=self.title_weight,
            min_score=self.min_score,
            suggest_score=self.suggest_score,
            confidence_model=self.confidence_model,
            watch=self.watch,
            openai_api_key=self.openai_api_key,
            openai_base_url=self.openai_base_url,
            openai_model=self.openai_model,
            openai_embeddings=self.embeddings == "openai",
            local_encoder=self.embeddings if self.embeddings in ("minilm", "e5") else "dual",
            openai_embedding_model=self.openai_embedding_model,
            llm_timeout=self.llm_timeout,
            llm_floor=self.llm_floor,
            database_url=self.parley_database_url,
            lock_wait_seconds=self.lock_wait_seconds,
            encoder_dir=self.encoder_dir,
        )


class KnowledgeCliSettings(KnowledgeEnv):
    """The knowledge CLI's settings: the answerer's, and where `gaps` reads the handoff
    database (as the handoff service finds it: knowledge/gaps_command.py)."""

    handoff_db_url: str = Field("", validation_alias="HANDOFF_DB_URL")

    def handoff_database(self, state_dir: Path | None = None) -> str:
        """The handoff database's URL (`state_dir`: instead of PARLEY_STATE_DIR)."""
        from handoff.settings import database_url

        return database_url(
            self.handoff_db_url, self.parley_database_url, state_dir or self.state_dir
        )


_settings: Cached[KnowledgeCliSettings] = Cached(KnowledgeCliSettings.from_env)


def get_settings() -> KnowledgeCliSettings:
    """The knowledge CLI's settings, read from the environment on first use."""
    return _settings.get()


def override_settings(settings: KnowledgeCliSettings) -> None:
    """Use these settings instead of the environment's (tests)."""
    _settings.override(settings)


def reset_settings() -> None:
    """Read the environment again on the next get_settings() (tests)."""
    _settings.reset()
