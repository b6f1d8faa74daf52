"""The local OpenAI-compatible server the tests talk to (scripts/openai_standin.py)."""

from scripts.openai_standin import FakeOpenAI, embeddings_payload, fake_embedding

__all__ = ["FakeOpenAI", "embeddings_payload", "fake_embedding"]
