"""The NumPy encoder: token states kept from the same pass as the sentence vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import LocalEmbeddings, shared_encoder
from knowledge.settings import KnowledgeCliSettings


def test_states_come_from_the_same_pass_as_the_vectors() -> None:
    encoder = shared_encoder("minilm").encoder  # type: ignore[attr-defined]
    texts = ["How long does standard shipping to the UK take?", "Refunds", "a b c d e f g h"]
    vectors, states = encoder.encode_with_states(texts, states_at=5)
    assert np.array_equal(vectors, encoder.encode(texts))
    for text, state in zip(texts, states, strict=True):
        assert state.shape == (encoder.count_tokens(text), 384)
        assert state.dtype == np.float16 and np.isfinite(state).all()
    # Layer 5 states are not the final ones: the last layer still changes them.
    _, last = encoder.encode_with_states(texts[:1], states_at=6)
    assert not np.allclose(states[0], last[0], atol=1e-2)


def test_another_copy_of_minilm_comes_in_through_the_settings(tmp_path: Path) -> None:
    """PARLEY_ENCODER_DIR reaches the encoder through KnowledgeSettings (the shared package
    reads no environment): a copy gives the same vectors, a folder without the files fails."""
    packaged = shared_encoder("minilm").encoder  # type: ignore[attr-defined]
    copy = tmp_path / "minilm"
    copy.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (copy / name).symlink_to(packaged.model_dir / name)
    settings = KnowledgeCliSettings.from_env({"PARLEY_ENCODER_DIR": str(copy)}).knowledge
    emb = LocalEmbeddings("minilm", minilm_dir=settings.encoder_dir)
    assert emb.encoder.encoder.model_dir == copy  # type: ignore[union-attr]
    assert np.allclose(emb.embed_query("Refunds"), packaged.encode(["Refunds"])[0], atol=1e-6)
    with pytest.raises(Exception, match="model.safetensors"):
        shared_encoder("minilm", tmp_path / "empty")
