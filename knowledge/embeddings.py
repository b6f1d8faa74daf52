"""LangChain `Embeddings` for the vector store: the local encoder by default, OpenAI by config."""

from __future__ import annotations

import threading

from langchain_core.embeddings import Embeddings

from knowledge.settings import KnowledgeSettings

_LOCK = threading.Lock()
_ENCODER = None


def shared_encoder():  # -> MiniLMEncoder
    """One encoder per process (loading the weights takes ~0.3 s and 90 MB)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            from knowledge.encoder import MiniLMEncoder

            _ENCODER = MiniLMEncoder()
        return _ENCODER


class LocalEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 run in numpy; no network, no torch."""

    name = "minilm"

    def __init__(self, batch_size: int = 16) -> None:
        self.encoder = shared_encoder()
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encoder.encode(texts, batch_size=self.batch_size).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.encode([text])[0].tolist()


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
    return LocalEmbeddings(), LocalEmbeddings.name
