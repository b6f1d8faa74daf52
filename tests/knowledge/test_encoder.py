"""The NumPy encoder: token states kept from the same pass as the sentence vectors."""

from __future__ import annotations

import numpy as np

from knowledge.embeddings import shared_encoder


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
