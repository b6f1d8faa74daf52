"""Answer quality of the offline answerer on a labelled set over the sample knowledge base.

    .venv/bin/python bench/knowledge_answer_quality.py [--threshold X]

Measures, per split: share of answerable questions answered correctly (right article cited
and every required fact in the answer), share of unanswerable questions abstained, and share
of all questions answered wrongly. The abstention threshold is calibrated on the "calib"
split only (highest correct + abstained with wrong <= 3%); the "test" split is reported apart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402
from knowledge.retriever import LEXICAL_WEIGHT  # noqa: E402
from knowledge.service import KnowledgeService  # noqa: E402
from knowledge.settings import KnowledgeSettings  # noqa: E402

SET = Path(__file__).with_name("knowledge_qa_set.yaml")


def evaluate(rows: list[dict], threshold: float) -> dict[str, float]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    correct = sum(1 for r in ans if r["score"] >= threshold and r["right"])
    wrong = sum(1 for r in ans if r["score"] >= threshold and not r["right"])
    wrong += sum(1 for r in una if r["score"] >= threshold)
    abstained = sum(1 for r in una if r["score"] < threshold)
    return {
        "answered_correctly": correct / max(len(ans), 1),
        "abstained_correctly": abstained / max(len(una), 1),
        "wrong": wrong / max(len(rows), 1),
        "n_answerable": len(ans),
        "n_unanswerable": len(una),
    }


def calibrate(rows: list[dict]) -> float:
    best, best_t = -1.0, 0.5
    for i in range(200, 800):
        t = i / 1000
        m = evaluate(rows, t)
        if m["wrong"] > 0.03:
            continue
        gain = m["answered_correctly"] + m["abstained_correctly"]
        if gain > best + 1e-9:
            best, best_t = gain, t
    # Middle of the plateau of equally good thresholds, not its edge.
    plateau = [
        i / 1000
        for i in range(200, 800)
        if evaluate(rows, i / 1000)["wrong"] <= 0.03
        and abs(sum(list(evaluate(rows, i / 1000).values())[:2]) - best) < 1e-9
    ]
    return round((min(plateau) + max(plateau)) / 2, 3) if plateau else best_t


LEXICAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def answer_all(svc: KnowledgeService, items: list[dict], lexical_weight: float) -> list[dict]:
    svc.retriever.lexical_weight = lexical_weight
    rows = []
    for it in items:
        a = svc.answer(it["q"])
        score = float(a.sources[0]["score"]) if a.sources else -1.0
        right = False
        if it["answerable"] and a.sources:
            right = a.sources[0]["path"] == it["article"] and all(
                f.lower() in a.text.lower() for f in it["facts"]
            )
        rows.append(
            {
                "q": it["q"],
                "split": it["split"],
                "answerable": it["answerable"],
                "score": score,
                "right": right,
                "cited": a.sources[0]["path"] if a.sources else None,
                "answer": a.text,
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--articles", default=str(ROOT / "knowledge" / "articles"))
    ap.add_argument("--no-write", action="store_true", help="print only; do not write results")
    args = ap.parse_args()
    data = yaml.safe_load(SET.read_text())
    items = [dict(x, answerable=True) for x in data["answerable"]]
    items += [dict(x, answerable=False) for x in data["unanswerable"]]
    shipped = KnowledgeSettings().min_score
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        shutil.copytree(args.articles, folder)
        settings = replace(
            KnowledgeSettings(),
            knowledge_dir=folder,
            state_dir=Path(tmp),
            watch=False,
            min_score=-1.0,
        )
        svc = KnowledgeService(settings)
        svc.sync(progress=True)
        # Lexical weight chosen on the calib split only; 0 is the dense-only score.
        sweep = {lam: answer_all(svc, items, lam) for lam in LEXICAL_WEIGHTS}
        rows = sweep[LEXICAL_WEIGHT]
        svc.stop()
    calib = [r for r in rows if r["split"] == "calib"]
    test = [r for r in rows if r["split"] == "test"]
    chosen = calibrate(calib)
    table = []
    for lam, part_rows in sweep.items():
        part_calib = [r for r in part_rows if r["split"] == "calib"]
        part_test = [r for r in part_rows if r["split"] == "test"]
        t = calibrate(part_calib)
        for split_name, part in (("calib", part_calib), ("test", part_test)):
            table.append((f"lexical weight {lam}, calibrated on calib", t, split_name,
                          evaluate(part, t)))  # fmt: skip
    for label, t in (
        (f"shipped (lexical weight {LEXICAL_WEIGHT}), calibrated on calib", chosen),
        ("shipped, default threshold", shipped),
    ):
        for split_name, part in (("calib", calib), ("test", test), ("all", rows)):
            m = evaluate(part, t)
            table.append((label, t, split_name, m))
    lines = [
        "# Knowledge answer quality (offline extractive answerer)",
        "",
        "{HEADER}",
        f"Labelled set: `bench/knowledge_qa_set.yaml` ({sum(r['answerable'] for r in rows)} "
        f"answerable, {sum(not r['answerable'] for r in rows)} unanswerable; "
        f"calib {len(calib)} / test {len(test)}).",
        "Threshold (and the lexical weight, knowledge/retriever.py) chosen on the calib split "
        "only; the test split is never used for tuning. Lexical weight 0 is the dense-only "
        "score (0.5 title + 0.5 best-passage similarity).",
        "Targets: answered correctly >= 0.9, abstained correctly >= 0.9, wrong <= 0.03.",
        "",
        "| threshold | value | split | answered correctly | abstained correctly | wrong |",
        "|---|---|---|---|---|---|",
    ]
    for label, t, split_name, m in table:
        lines.append(
            f"| {label} | {t:.3f} | {split_name} | {m['answered_correctly']:.3f} | "
            f"{m['abstained_correctly']:.3f} | {m['wrong']:.3f} |"
        )
    misses = [
        r
        for r in rows
        if (r["answerable"] and not (r["right"] and r["score"] >= chosen))
        or (not r["answerable"] and r["score"] >= chosen)
    ]
    lines += ["", f"Failures at the calibrated threshold ({chosen}):", ""]
    for r in misses:
        kind = "answerable" if r["answerable"] else "unanswerable"
        lines.append(
            f"- [{r['split']}, {kind}] {r['q']!r}: score {r['score']:.3f}, "
            f"cited {r['cited']}, right={r['right']}"
        )
    md = "\n".join(lines) + "\n"
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        write_results(
            "knowledge_answer_quality",
            md,
            {
                "calibrated_threshold": chosen,
                "lexical_weight": LEXICAL_WEIGHT,
                "shipped_threshold": shipped,
                "results": [
                    {"threshold_kind": a, "threshold": t, "split": s, **m} for a, t, s, m in table
                ],
                "rows": rows,
            },
        )
    print(json.dumps({"calibrated_threshold": chosen}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
