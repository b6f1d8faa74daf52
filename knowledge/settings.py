"""Settings of the knowledge answerer, read once from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def _float(name: str, default: float) -> float:
    value = _optional_float(name)
    return default if value is None else value


def _optional_float(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


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

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "index"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key)

    @classmethod
    def from_env(cls) -> KnowledgeSettings:
        env = os.environ
        embeddings = (env.get("KNOWLEDGE_EMBEDDINGS") or "local").strip().lower()
        if embeddings not in ("local", "dual", "e5", "minilm", "openai"):
            raise ValueError(
                "KNOWLEDGE_EMBEDDINGS must be local (the same as dual), dual, minilm, e5 or "
                f"openai, got {embeddings!r}"
            )
        return cls(
            knowledge_dir=Path(env.get("KNOWLEDGE_DIR") or "knowledge/articles"),
            state_dir=Path(env.get("PARLEY_STATE_DIR") or "var"),
            chroma_host=env.get("CHROMA_HOST", "").strip(),
            chroma_port=int(env.get("CHROMA_PORT") or 8000),
            collection=env.get("KNOWLEDGE_COLLECTION") or "parley_kb",
            title_weight=_float("KNOWLEDGE_TITLE_WEIGHT", DEFAULT_TITLE_WEIGHT),
            min_score=_optional_float("KNOWLEDGE_MIN_SCORE"),
            suggest_score=_optional_float("KNOWLEDGE_SUGGEST_SCORE"),
            confidence_model=env.get("KNOWLEDGE_CONFIDENCE_MODEL", "").strip(),
            watch=(env.get("KNOWLEDGE_WATCH", "1").strip().lower() not in {"0", "false", "no"}),
            openai_api_key=env.get("OPENAI_API_KEY", "").strip(),
            openai_base_url=env.get("OPENAI_BASE_URL", "").strip(),
            openai_model=env.get("OPENAI_MODEL") or "gpt-4o-mini",
            openai_embeddings=embeddings == "openai",
            local_encoder=embeddings if embeddings in ("minilm", "e5") else "dual",
            openai_embedding_model=env.get("OPENAI_EMBEDDING_MODEL") or "text-embedding-3-small",
            llm_timeout=_float("OPENAI_TIMEOUT", 2.5),
        )
