"""StackFAQ retrieval: every retriever tried, side by side, and the shipped default end to end.

    .venv/bin/python bench/knowledge_retrieval.py [--data PATH]

Each StackFAQ thread is indexed as one article (question as title, answers as body) and every
user paraphrase is a query whose only relevant article is its own thread. Threads with an even
index form the tuning split (the title weight is chosen there), odd ones the test split.
The data path defaults to ../shared/bench-data/stackfaq/stackExchange-FAQ.json
(or $STACKFAQ_PATH).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402
from knowledge.articles import Article  # noqa: E402
from knowledge.chunking import chunk_article  # noqa: E402
from knowledge.embeddings import shared_encoder  # noqa: E402
from knowledge.settings import DEFAULT_TITLE_WEIGHT, KnowledgeSettings  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "bench-data" / "stackfaq" / "stackExchange-FAQ.json"
CACHE = ROOT / "var" / "bench-cache"


def as_list(value) -> list[str]:
    if value is None or value == "*":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return [str(value)]
    return [str(v) for v in parsed] if isinstance(parsed, list) else [str(parsed)]


def load(path: Path) -> tuple[list[Article], list[tuple[str, int]]]:
    pairs = json.loads(path.read_text(encoding="utf-8"))["root"]["qapair"]
    articles, queries = [], []
    for i, pair in enumerate(pairs):
        answers = [a for a in as_list(pair["answer"]) if a.strip() and a != "*"]
        body = "\n\n".join(answers) or pair["question"]
        articles.append(
            Article(
                path=f"thread-{i:03d}.md",
                title=pair["question"].strip(),
                url=f"https://stackfaq.example/{i}",
                body=body,
                content_hash=hashlib.sha256(body.encode()).hexdigest()[:16],
            )
        )
        for r in as_list(pair["rephr"]):
            if r.strip() and r != "*":
                queries.append((r.strip(), i))
    return articles, queries


def encode_cached(texts: list[str], name: str, kind: str) -> np.ndarray:
    """Vectors of `texts` from local encoder `kind` ("queries" get the query side)."""
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    f = CACHE / f"stackfaq-{kind}-{name}-{key}.npy"
    if f.exists():
        return np.load(f)
    enc = shared_encoder(kind)
    vecs = enc.queries(texts) if name == "queries" else enc.passages(texts, batch_size=16)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(f, vecs)
    return vecs


class CachedEmbeddings:
    """Vectors computed once per encoder, served to the shipped indexer and retriever."""

    def __init__(self, docs: dict[str, np.ndarray], queries: dict[str, np.ndarray]) -> None:
        self.docs, self.queries = docs, queries

    def embed_documents(self, texts):
        return [self.docs[t].tolist() for t in texts]

    def embed_query(self, text):
        return self.queries[text].tolist()


def metrics(scores: np.ndarray, gold: np.ndarray, idx: np.ndarray) -> dict[str, float]:
    s, g = scores[idx], gold[idx]
    rank = (s > s[np.arange(len(g)), g][:, None]).sum(1) + 1
    return {
        "R@1": float((rank == 1).mean()),
        "R@5": float((rank <= 5).mean()),
        "MRR@10": float(np.where(rank <= 10, 1.0 / rank, 0).mean()),
    }


def rank_matrix(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=1)
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, scores.shape[1] + 1)[None, :]
    return ranks


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=os.environ.get("STACKFAQ_PATH", str(DEFAULT_DATA)))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--encoders",
        default="minilm,e5",
        help="local encoders to compare, comma-separated (default: minilm,e5; the first is "
        "the shipped one)",
    )
    args = ap.parse_args()
    data = Path(args.data)
    if not data.exists():
        print(f"error: StackFAQ not found at {data}; pass --data PATH")
        return 2
    articles, queries = load(data)
    n = len(articles)
    gold = np.array([g for _, g in queries])
    tune = gold % 2 == 0
    splits = {"tune": tune, "test": ~tune, "all": np.ones(len(gold), bool)}
    print(f"{n} articles, {len(queries)} queries")

    chunks = [chunk_article(a) for a in articles]
    titles = [c[0] for c in chunks]
    passages = [p for c in chunks for p in c[1:]]
    owner = np.array([int(p.path[7:10]) for p in passages])
    import bm25s

    corpus = bm25s.tokenize(
        [f"{a.title} {a.body}" for a in articles], stopwords="en", show_progress=False
    )
    bm = bm25s.BM25()
    bm.index(corpus, show_progress=False)
    docs, sc = bm.retrieve(
        bm25s.tokenize([q for q, _ in queries], stopwords="en", show_progress=False),
        k=n,
        show_progress=False,
    )
    S_bm25 = np.zeros((len(queries), n))
    for i in range(len(queries)):
        S_bm25[i, docs[i]] = sc[i]

    rows: dict[str, dict[str, dict[str, float]]] = {
        "BM25 (bm25s, title + answers)": {
            sp: metrics(S_bm25, gold, idx) for sp, idx in splits.items()
        }
    }
    kinds = [k.strip() for k in args.encoders.split(",") if k.strip()]
    tuned_by: dict[str, dict[float, float]] = {}
    missing: list[str] = []
    for kind in kinds:
        Q = encode_cached([q for q, _ in queries], "queries", kind)
        T = encode_cached([t.embed_text for t in titles], "titles", kind)
        P = encode_cached([p.embed_text for p in passages], "passages", kind)
        W = encode_cached([f"{a.title}\n{a.body}" for a in articles], "whole", kind)

        S_title = Q @ T.T
        S_whole = Q @ W.T
        sims = Q @ P.T
        S_pass = np.full((len(queries), n), -1.0)
        for j in range(n):
            m = owner == j
            if m.any():
                S_pass[:, j] = sims[:, m].max(1)
        S_pass = np.where(S_pass < -0.5, S_title, S_pass)
        rrf = 1 / (60 + rank_matrix(S_bm25)) + 1 / (60 + rank_matrix(S_whole))

        grid = [round(float(x), 2) for x in np.arange(0.0, 1.01, 0.1)]
        tuned = {w: metrics(w * S_title + (1 - w) * S_pass, gold, tune)["MRR@10"] for w in grid}
        best_w = max(grid, key=lambda w: (round(tuned[w], 4), -abs(w - 0.5)))
        variants = {
            "dense whole article (title + answers, 256 tokens)": S_whole,
            "dense title only": S_title,
            "dense best passage (heading-aware chunks)": S_pass,
            "RRF(BM25, dense whole article), k=60": rrf,
            "max(title, best passage)": np.maximum(S_title, S_pass),
            f"title/passage weighted, w={best_w} (tuned on tune split)": best_w * S_title
            + (1 - best_w) * S_pass,
        }
        rows.update(
            {
                f"[{kind}] {name}": {sp: metrics(s, gold, idx) for sp, idx in splits.items()}
                for name, s in variants.items()
            }
        )

        # The shipped default, end to end: real Chroma index + knowledge.retriever.Retriever.
        from knowledge.indexer import Indexer
        from knowledge.retriever import Retriever
        from knowledge.store import open_vectorstore

        cache = {c.embed_text: v for c, v in zip(titles + passages, np.vstack([T, P]), strict=True)}
        qcache = {q: v for (q, _), v in zip(queries, Q, strict=True)}

        tmp = Path(tempfile.mkdtemp())
        try:
            folder = tmp / "articles"
            folder.mkdir()
            for a in articles:  # real files so the shipped reader and chunker run too
                (folder / a.path).write_text(
                    f"---\ntitle: {json.dumps(a.title)}\nurl: {a.url}\n---\n\n{a.body}\n",
                    encoding="utf-8",
                )
            settings = replace(KnowledgeSettings(), knowledge_dir=folder, state_dir=tmp)
            emb = CachedEmbeddings(cache, qcache)
            store, manifest = open_vectorstore(settings, emb, "bench")  # type: ignore[arg-type]
            report = Indexer(folder, store, manifest, settings.index_dir).sync(progress=True)
            missing = [e for e in report.errors]
            retr = Retriever(store, manifest, emb, settings.title_weight)  # type: ignore[arg-type]
            S_ship = np.full((len(queries), n), -9.0)
            for i, (q, _) in enumerate(queries):
                for rank, hit in enumerate(retr.search(q, top=10)):
                    S_ship[i, int(hit.path[7:10])] = 10 - rank
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        role = "SHIPPED" if kind == kinds[0] else "end to end"
        ship_name = (
            f"[{kind}] {role}: Chroma + Retriever (w={settings.title_weight}), top-10 via HNSW"
        )
        rows[ship_name] = {sp: metrics(S_ship, gold, idx) for sp, idx in splits.items()}
        tuned_by[kind] = tuned

    tuned = tuned_by[kinds[0]]
    best_w = max(tuned, key=lambda w: (round(tuned[w], 4), -abs(w - 0.5)))
    lines = [
        "# StackFAQ retrieval",
        "",
        "{HEADER}",
        f"{n} threads indexed as articles, {len(queries)} paraphrase queries. "
        "Split by thread: even index = tune, odd = test. "
        f"Title weight chosen on the tune split by MRR@10: w={best_w} "
        f"(grid {grid}; tune MRR@10 per w: "
        + ", ".join(f"{w}: {tuned[w]:.3f}" for w in grid)
        + "). "
        f"Shipped default KNOWLEDGE_TITLE_WEIGHT={DEFAULT_TITLE_WEIGHT}.",
        "The shipped weight 0.5 was fixed in an exploratory run before this tune/test "
        "protocol; the tune split's best (above) differs from it by a few thousandths of "
        "MRR, and on the labelled sample-KB set (knowledge_answer_quality.md) w=0.6 "
        "calibrates to a much worse operating point (answered correctly 0.586 vs 0.886), "
        "so 0.5 stays. BM25 and rank fusion did not help (rows below).",
        "Targets for the shipped default: R@1 >= 0.93, R@5 >= 0.995, MRR@10 >= 0.96.",
        "Encoders side by side: the shipped default (`KNOWLEDGE_EMBEDDINGS=local`, dual) reads "
        "English questions with MiniLM (its half of each stored vector, so exactly MiniLM's "
        "cosine), so its English figures are the [minilm] rows; [e5] rows are "
        "multilingual-e5-small (4-bit), which reads the other five languages. The title "
        "weight was tuned for MiniLM and is not re-tuned for e5.",
        "",
        "| retriever | split | R@1 | R@5 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for name, by_split in rows.items():
        for sp, m in by_split.items():
            lines.append(f"| {name} | {sp} | {m['R@1']:.3f} | {m['R@5']:.3f} | {m['MRR@10']:.3f} |")
    if missing:
        lines.append(f"\n{len(missing)} threads could not be indexed: {missing[:3]}")
    md = "\n".join(lines) + "\n"
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        write_results(
            "knowledge_retrieval",
            md,
            {
                "encoders": kinds,
                "best_title_weight_on_tune": best_w,
                "tune_mrr_by_weight": tuned_by,
                "results": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
