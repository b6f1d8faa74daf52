"""Index scaling: full index, one-file re-index and save-to-served latency vs folder size.

    .venv/bin/python bench/knowledge_scaling.py [--sizes 100 1000 10000] [--embedder hash|minilm]

Synthetic articles (title + two short sections). The default `hash` embedder gives
deterministic pseudo-vectors at no CPU cost, so the figures show what the index itself
(reading, hashing, Chroma, manifest) costs as the folder grows; the real encoder's cost is
per passage and constant (measured separately here as passages per second).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402
from knowledge.articles import parse_article  # noqa: E402
from knowledge.chunking import chunk_article  # noqa: E402
from knowledge.indexer import Indexer  # noqa: E402
from knowledge.retriever import Retriever  # noqa: E402
from knowledge.settings import KnowledgeSettings  # noqa: E402
from knowledge.store import open_vectorstore  # noqa: E402

TOPICS = [
    "shipping",
    "returns",
    "refunds",
    "warranty",
    "payments",
    "accounts",
    "lamps",
    "earbuds",
    "customs",
    "gift cards",
    "discounts",
    "privacy",
]


class HashEmbeddings(Embeddings):
    def _vec(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def synthetic(i: int, version: int = 0) -> str:
    topic = TOPICS[i % len(TOPICS)]
    return (
        f"---\ntitle: Article {i} about {topic}\nurl: https://help.example/a/{i}\n"
        f"tags: [{topic}]\n---\n\n## Overview\n\nArticle {i} explains {topic} rule {i * 7} "
        f"for region {i % 9}, version {version}.\n\n## Details\n\nCustomers in group {i % 13} "
        f"get {i % 30} days and pay {i % 50} euros for {topic}.\n"
    )


def run_size(n: int, embedder: str, tmp: Path, edits: int = 9) -> dict[str, float]:
    folder = tmp / f"kb-{n}"
    folder.mkdir()
    for i in range(n):
        (folder / f"a{i:05d}.md").write_text(synthetic(i), encoding="utf-8")
    settings = replace(KnowledgeSettings(), knowledge_dir=folder, state_dir=tmp / f"state-{n}")
    if embedder == "hash":
        emb, name = HashEmbeddings(), "hash"
    else:
        from knowledge.embeddings import LocalEmbeddings

        emb, name = LocalEmbeddings(), "minilm"
    store, manifest = open_vectorstore(settings, emb, name)
    indexer = Indexer(folder, store, manifest, settings.index_dir)
    retriever = Retriever(store, manifest, emb, settings.title_weight)

    t = time.perf_counter()
    indexer.sync(progress=True)
    full = time.perf_counter() - t

    t = time.perf_counter()
    report = indexer.sync()
    noop = time.perf_counter() - t
    assert report.indexed == []

    retriever.refresh()
    retriever.search("Article 1 explains returns")  # warm
    one_scan, one_watch, one_refresh, one_search, served = [], [], [], [], []
    for k in range(edits):
        i = (k * 37) % n
        target = folder / f"a{i:05d}.md"
        target.write_text(synthetic(i, version=k + 1), encoding="utf-8")
        t = time.perf_counter()
        rep = indexer.sync()  # full folder scan, one file changed
        one_scan.append(time.perf_counter() - t)
        assert rep.indexed == [target.name], rep.indexed
        target.write_text(synthetic(i, version=k + 100), encoding="utf-8")
        t = time.perf_counter()
        indexer.sync(only=[target.name])  # what the watcher does
        t_index = time.perf_counter()
        retriever.refresh()  # the new version is now what searches see
        one_refresh.append(time.perf_counter() - t_index)
        one_watch.append(time.perf_counter() - t)
        t = time.perf_counter()
        retriever.search(f"Article {i} explains {TOPICS[i % len(TOPICS)]}")
        one_search.append(time.perf_counter() - t)
        art, _ = parse_article(target.name, target.read_bytes())
        assert art is not None
        new_ids = {c.id for c in chunk_article(art)}
        served.append(new_ids <= retriever._live)
    return {
        "articles": n,
        "load_1min": os.getloadavg()[0],
        "full_index_s": full,
        "noop_rescan_s": noop,
        "one_file_full_scan_s": statistics.median(one_scan),
        "one_file_watcher_path_s": statistics.median(one_watch),
        "one_file_watcher_path_min_s": min(one_watch),
        "retriever_refresh_s": statistics.median(one_refresh),
        "search_after_s": statistics.median(one_search),
        "new_version_served": sum(served) / len(served),
    }


def encoder_throughput() -> float:
    from knowledge.embeddings import shared_encoder

    enc = shared_encoder()
    texts = [
        f"Article {i}: Details\nCustomers in group {i % 13} get {i % 30} days and pay "
        f"{i % 50} euros for shipping."
        for i in range(256)
    ]
    enc.encode(texts[:16])
    t = time.perf_counter()
    enc.encode(texts, batch_size=16)
    return len(texts) / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--embedder", choices=["hash", "minilm"], default="hash")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    rows = []
    try:
        for n in args.sizes:
            rows.append(run_size(n, args.embedder, tmp))
            print(rows[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = encoder_throughput()
    lines = [
        "# Knowledge index scaling",
        "",
        "{HEADER}",
        f"Embedder for the index runs: `{args.embedder}`"
        + (" (pseudo-vectors: isolates the index's own cost)." if args.embedder == "hash" else "."),
        f"Local MiniLM encoder throughput on this machine: {rate:.0f} passages/s "
        "(short passages, batch 16); add (changed passages / that rate) to the re-index "
        "times for the real encoder. Each synthetic article has 3 records (title + 2 "
        "passages); an edit of one section re-embeds 1 passage.",
        "Target: the one-file re-index does not grow with the folder's size.",
        "",
        "Columns: *one file, watcher path* is what the bot does on a save event naming the "
        "file: read, chunk and embed it, write its records, switch the manifest and move the "
        "retriever's live set on (after this, searches serve the new version); the retriever's "
        "part of it is shown on its own. *Search after* "
        "is the first search that follows (retrieval cost at that folder size, for reference). "
        "Times are medians of 9 edits of different files.",
        "",
        "| articles | full index (s) | no-change rescan (s) | one file, full scan (s) | "
        "one file, watcher path (s): median (min) | of which retriever refresh (s) | "
        "search after (s) | new version served |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['articles']} | {r['full_index_s']:.2f} | {r['noop_rescan_s']:.3f} | "
            f"{r['one_file_full_scan_s']:.3f} | {r['one_file_watcher_path_s']:.3f} "
            f"({r['one_file_watcher_path_min_s']:.3f}) | {r['retriever_refresh_s']:.3f} | "
            f"{r['search_after_s']:.3f} | {r['new_version_served']:.0%} |"
        )
    lines.append("")
    lines.append(
        "Load average (1 min) after each size's run: "
        + ", ".join(f"{r['articles']}: {r['load_1min']:.1f}" for r in rows)
        + " (2 cores, shared)."
    )
    md = "\n".join(lines) + "\n"
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        write_results(
            "knowledge_scaling",
            md,
            {"embedder": args.embedder, "encoder_passages_per_s": rate, "rows": rows},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
