"""How much lower e5 scores a right answer in another language: the cross-language gap.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python bench/e5_language_gap.py [--n 400]

multilingual-e5-small puts a question closer to text in its own language than to the same text
translated, so a German question prefers a German article on another topic to the English
article that answers it, and a right answer across languages scores lower than the same answer
in one language (the confidence was fitted on one-language answers). XQuAD has every question
and its answer sentence in de, es, zh and en (the same items translated), so the gap can be
measured directly: for question language Q and article language A,
    gap(Q, A) = mean over items of  cos(q_Q, s_Q) - cos(q_Q, s_A)
where s is the sentence holding the answer. The answerer adds the gap to every similarity of an
article in another language than the question's (knowledge/embeddings.py, E5_LANGUAGE_GAP),
then ranks and scores as in one language. Measured on XQuAD, never on our labelled sets.
Pairs XQuAD lacks (French, Japanese) get the mean of the measured ones.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402

DATA = ROOT.parent / "shared" / "bench-data" / "xquad"
LANGS = ("en", "de", "es", "zh")
_END = re.compile(r"(?<=[.!?。！？])\s*")


def answer_sentence(context: str, start: int) -> str:
    """The sentence of `context` that holds character `start`."""
    at = 0
    for piece in _END.split(context):
        if at <= start < at + len(piece) + 1:
            return piece.strip()
        at += len(piece)
        while at < len(context) and context[at].isspace():
            at += 1
    return context[max(0, start - 100) : start + 100]


def items(lang: str) -> dict[str, tuple[str, str]]:
    """question id -> (question, answer sentence)."""
    data = json.loads((DATA / f"xquad.{lang}.json").read_text(encoding="utf-8-sig"))
    out = {}
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                start = qa["answers"][0]["answer_start"]
                out[qa["id"]] = (qa["question"], answer_sentence(para["context"], start))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=400, help="items (questions) used, spread evenly")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from tqdm import tqdm

    from knowledge.embeddings import shared_encoder

    enc = shared_encoder("e5")
    by_lang = {lang: items(lang) for lang in LANGS}
    ids = sorted(set.intersection(*(set(v) for v in by_lang.values())))
    ids = ids[:: max(1, len(ids) // args.n)][: args.n]
    q, s = {}, {}
    for lang in tqdm(LANGS, desc="embedding", unit="language"):
        q[lang] = enc.queries([by_lang[lang][i][0] for i in ids])
        s[lang] = enc.passages([by_lang[lang][i][1] for i in ids])
    gaps: dict[str, dict[str, float]] = {}
    for ql in LANGS:
        gaps[ql] = {}
        for al in LANGS:
            if al != ql:
                same = (q[ql] * s[ql]).sum(1)
                cross = (q[ql] * s[al]).sum(1)
                gaps[ql][al] = round(float(np.mean(same - cross)), 4)
    mean_gap = round(float(np.mean([g for row in gaps.values() for g in row.values()])), 4)
    lines = [
        "# e5's cross-language gap on XQuAD",
        "",
        "{HEADER}",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        f"{len(ids)} items, each in {', '.join(LANGS)}. Mean cos(q, answer sentence) in the "
        "question's language minus in the article's (rows: question, columns: article):",
        "",
        "| question \\ article | " + " | ".join(LANGS) + " |",
        "|---|" + "---|" * len(LANGS),
    ]
    for ql in LANGS:
        cells = ["—" if al == ql else f"{gaps[ql][al]:+.4f}" for al in LANGS]
        lines.append(f"| {ql} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean over the measured pairs (used for fr and ja): {mean_gap:+.4f}."]
    md = "\n".join(lines) + "\n"
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        write_results("e5_language_gap", md, {"items": len(ids), "gaps": gaps, "mean": mean_gap})
    return 0


if __name__ == "__main__":
    sys.exit(main())
