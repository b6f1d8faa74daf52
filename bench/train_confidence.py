"""Train the answer confidence and measure every confidence route, leaving whole brands out.

    .venv/bin/python bench/train_confidence.py [--no-write]

Knowledge bases (nine): the sample one (knowledge/articles, with the development splits calib,
test and holdout of bench/knowledge_qa_set.yaml) and the eight invented brands of bench/brands/.
The blind splits (blind2 to blind5) are never read here.

Routes, side by side; each is scored on every knowledge base with only the other eight used for
any fitting or calibration ("leave one brand out"):
  - evidence score at the threshold shipped before (0.55, tuned on the sample's dev splits, so
    it leaks on the sample);
  - evidence score, threshold calibrated on the other brands (pooled);
  - per-knowledge-base calibration: the knowledge base questions itself with the other brands'
    questions (probes it should mostly not answer) and sets its threshold at a quantile of
    those scores; the quantile is chosen on the other brands;
  - chatty messages read for their question first (greetings and small talk dropped, the
    question sentences and the one before them kept), evidence score, pooled threshold;
  - the trained confidence (knowledge/confidence.py): a logistic regression over the
    answerer's signals, fitted and thresholded on the other brands;
  - the per-brand oracle: the best threshold for that brand itself (an upper bound for any
    calibration, not a route).
Thresholds answer at the best "answered correctly" with wrong answers <= 3% of the questions;
the suggestion threshold is the lowest at which at most 30% of suggestions are wrong.

Then the shipped model is fitted on all nine and written with its calibrated thresholds to
knowledge/confidence_model.json, reference scores for the serving test to
tests/data/confidence_reference.json, and the figures to bench/results/knowledge_brands.*.
Logistic regression (lbfgs) is deterministic; the same data gives the same figures, and weights
that agree to about 1e-7 (the encoder's float32 sums depend on how BLAS splits them).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import RESULTS, write_results  # noqa: E402
from knowledge.confidence import (  # noqa: E402
    CROSS_LANGUAGE_FEATURES,
    DEFAULT_E5_MODEL,
    DEFAULT_MODEL,
    FEATURES,
    SIGNALS,
    answer_features,
)
from knowledge.service import KnowledgeService  # noqa: E402
from knowledge.settings import KnowledgeSettings  # noqa: E402
from knowledge.text import clean_question  # noqa: E402

SAMPLE = "tidewell (sample)"
DEV = ("calib", "test", "holdout")
MAX_WRONG = 0.03
SUGGEST_MAX_WRONG = 0.30
SHIPPED_BEFORE = 0.55
REFERENCE = ROOT / "tests" / "data" / "confidence_reference.json"
C = 1.0  # the regularisation strength: sklearn's default, not tuned


@dataclass
class Row:
    q: str
    answerable: bool
    right: bool
    style: str
    features: dict[str, float]
    focus_score: float = 0.0
    focus_right: bool = False
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def good(self) -> bool:
        return self.answerable and self.right


# -- the knowledge bases --------------------------------------------------------------------
def knowledge_bases() -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    qa = yaml.safe_load((ROOT / "bench" / "knowledge_qa_set.yaml").read_text(encoding="utf-8"))
    items = [dict(x, answerable=True) for x in qa["answerable"] if x["split"] in DEV]
    items += [dict(x, answerable=False) for x in qa["unanswerable"] if x["split"] in DEV]
    out = {SAMPLE: (ROOT / "knowledge" / "articles", items)}
    for folder in sorted((ROOT / "bench" / "brands").iterdir()):
        questions = folder / "questions.yaml"
        if questions.exists():
            data = yaml.safe_load(questions.read_text(encoding="utf-8"))
            items = [dict(x, answerable=True) for x in data["answerable"]]
            items += [dict(x, answerable=False) for x in data["unanswerable"]]
            out[folder.name] = (folder / "articles", items)
    return out


# -- reading a chatty message for its question (a route measured here, not shipped) --------
_SPLIT = re.compile(r"(?<=[.!?…])\s+|\n+")
_SMALL_TALK = re.compile(
    r"^(hi|hello|hey|hiya|good (morning|afternoon|evening)|dear|greetings|thanks?|thank you|"
    r"thx|cheers|many thanks|much appreciated|any help|please help|hope you can help|sorry|"
    r"ok|okay|lol)\b",
    re.I,
)
_ASKING = re.compile(
    r"^(how|what|whats|what's|when|where|which|who|why|can|could|do|does|did|is|are|was|will|"
    r"would|should|may|am|have|has|any)\b",
    re.I,
)
_LETTERS = re.compile(r"[^\W\d_]+")


def focus(message: str, min_words: int = 25) -> str:
    if len(_LETTERS.findall(message)) <= min_words:
        return message
    kept = []
    for sentence in (s.strip() for s in _SPLIT.split(message)):
        core = re.sub(r"^\W+", "", sentence)
        words = len(_LETTERS.findall(core))
        if words and not (_SMALL_TALK.match(core) and words <= 6):
            kept.append(sentence)
    asks = [
        i
        for i, s in enumerate(kept)
        if s.rstrip().endswith("?") or _ASKING.match(re.sub(r"^\W+", "", s))
    ]
    if not kept or not asks:
        return " ".join(kept) or message
    chosen = sorted(set(asks) | ({asks[0] - 1} if asks[0] > 0 else set()))
    return " ".join(kept[i] for i in chosen)


# -- collecting the answerer's signals ---------------------------------------------------------
def raw_service(folder: Path, tmp: Path, name: str, encoder: str) -> KnowledgeService:
    settings = replace(
        KnowledgeSettings(),
        local_encoder=encoder,
        knowledge_dir=folder,
        state_dir=tmp,
        watch=False,
        min_score=-1.0,
        suggest_score=-1.0,
        confidence_model="off",
        collection=f"c{abs(hash(name))}",
    )
    svc = KnowledgeService(settings)
    svc.sync()
    return svc


def judge(svc: KnowledgeService, item: dict[str, Any], question: str) -> tuple[bool, dict]:
    q = clean_question(question)
    hits, evidence = svc.assess(q)
    answer = svc.answer(question, "en")  # the brands' questions are all English
    cited = str(answer.sources[0]["path"]) if answer.sources else None
    right = bool(
        item["answerable"]
        and cited == item["article"]
        and all(f.lower() in answer.text.lower() for f in item["facts"])
    )
    return right, answer_features(q, hits, evidence) if hits and evidence else {}


def collect(
    kbs: dict[str, tuple[Path, list[dict[str, Any]]]], encoder: str = "minilm"
) -> dict[str, dict[str, Any]]:
    from tqdm import tqdm

    out: dict[str, dict[str, Any]] = {}
    total = sum(len(items) for _, items in kbs.values()) * len(kbs)
    bar = tqdm(total=total, desc="answering", unit="q")
    for name, (articles, items) in kbs.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "articles"
            shutil.copytree(articles, folder)
            svc = raw_service(folder, Path(tmp), name, encoder)
            rows = []
            for item in items:
                right, feats = judge(svc, item, item["q"])
                if not feats:
                    feats = dict.fromkeys(SIGNALS, 0.0)
                row = Row(
                    item["q"],
                    item["answerable"],
                    right,
                    str(item.get("style") or item.get("kind") or item.get("split")),
                    feats,
                )
                focused = focus(item["q"])
                if focused == item["q"]:
                    row.focus_score, row.focus_right = feats["evidence"], right
                else:
                    row.focus_right, ff = judge(svc, item, focused)
                    row.focus_score = ff.get("evidence", 0.0)
                rows.append(row)
                bar.update()
            probes = []
            for other, (_, others) in kbs.items():
                if other != name:
                    for item in others:
                        hits, _ = svc.assess(clean_question(item["q"]))
                        probes.append((other, hits[0].answer_score if hits else 0.0))
                        bar.update()
            svc.stop()
        out[name] = {"rows": rows, "probes": probes}
    bar.close()
    return out


# -- measuring ---------------------------------------------------------------------------------
def at(rows: list[Row], scores: list[float], t: float) -> dict[str, float]:
    ans = [i for i, r in enumerate(rows) if r.answerable]
    una = [i for i, r in enumerate(rows) if not r.answerable]
    correct = sum(1 for i in ans if scores[i] >= t and rows[i].right)
    wrong = sum(1 for i, r in enumerate(rows) if scores[i] >= t and not r.good)
    return {
        "answered_correctly": correct / max(len(ans), 1),
        "abstained_correctly": sum(1 for i in una if scores[i] < t) / max(len(una), 1),
        "wrong": wrong / max(len(rows), 1),
    }


def bands(rows: list[Row], scores: list[float], t: float, s: float) -> dict[str, float]:
    m = at(rows, scores, t)
    ans = sum(r.answerable for r in rows)
    suggested = [i for i in range(len(rows)) if s <= scores[i] < t]
    right = sum(1 for i in suggested if rows[i].good)
    m["answered_or_suggested_correctly"] = m["answered_correctly"] + right / max(ans, 1)
    m["suggestions_wrong"] = (len(suggested) - right) / max(len(suggested), 1)
    return m


def best_threshold(rows: list[Row], scores: list[float]) -> float:
    """The threshold with the most right answers while wrong answers stay <= MAX_WRONG."""
    best, chosen = -1.0, 1.0 + max(scores, default=0.0)
    for t in sorted(set(scores)):
        m = at(rows, scores, t)
        if m["wrong"] <= MAX_WRONG and m["answered_correctly"] > best:
            best, chosen = m["answered_correctly"], t
    return chosen


def suggest_threshold(rows: list[Row], scores: list[float], t: float) -> float:
    """The lowest threshold below `t` at which at most SUGGEST_MAX_WRONG suggestions are wrong."""
    chosen = t
    for s in sorted({x for x in scores if x < t}, reverse=True):
        if bands(rows, scores, t, s)["suggestions_wrong"] <= SUGGEST_MAX_WRONG:
            chosen = s
    return chosen


def auroc(rows: list[Row], scores: list[float]) -> float:
    from sklearn.metrics import roc_auc_score

    labels = [int(r.good) for r in rows]
    return float(roc_auc_score(labels, scores)) if 0 < sum(labels) < len(labels) else math.nan


def matrix(rows: list[Row], names: tuple[str, ...] = FEATURES) -> np.ndarray:
    """The signals `names` of each row (from its features, else its extra signals)."""
    return np.array(
        [[r.features[f] if f in r.features else r.extra[f] for f in names] for r in rows],
        dtype=np.float64,
    )


def fit(rows: list[Row], names: tuple[str, ...] = FEATURES) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    model.fit(matrix(rows, names), np.array([int(r.good) for r in rows]))
    return model


def probe_quantile(data: dict[str, dict[str, Any]], names: list[str]) -> float:
    """The probe quantile that, used as each training brand's own threshold, answers the most
    correctly over those brands with wrong answers <= MAX_WRONG (pooled)."""
    best, chosen = -1.0, 0.99
    for q in [x / 100 for x in range(80, 100)]:
        rows, scores, flags = [], [], []
        for n in names:
            t = float(np.quantile([s for _, s in data[n]["probes"]], q))
            rs = data[n]["rows"]
            rows += rs
            scores += [r.features["evidence"] for r in rs]
            flags += [t] * len(rs)
        shifted = [s - t for s, t in zip(scores, flags, strict=True)]
        m = at(rows, shifted, 0.0)
        if m["wrong"] <= MAX_WRONG and m["answered_correctly"] > best:
            best, chosen = m["answered_correctly"], q
    return chosen


def result(
    held: str, rows: list[Row], route: str, scores: list[float], t: float, s: float | None
) -> dict[str, Any]:
    m = bands(rows, scores, t, s) if s is not None else at(rows, scores, t)
    return {
        "held_out": held,
        "route": route,
        "threshold": t,
        "suggest_at": s,
        "auroc": auroc(rows, scores),
        **m,
    }


def leave_one_out(data: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], dict]:
    names = list(data)
    table: list[dict[str, Any]] = []
    pooled: dict[str, list[tuple[Row, float]]] = {"evidence score": [], "trained confidence": []}
    for held in names:
        train = [n for n in names if n != held]
        tr = [r for n in train for r in data[n]["rows"]]
        te = data[held]["rows"]
        ev_tr = [r.features["evidence"] for r in tr]
        ev_te = [r.features["evidence"] for r in te]

        def add(
            route: str,
            scores: list[float],
            t: float,
            s: float | None = None,
            held: str = held,
            te: list[Row] = te,
        ) -> None:
            table.append(result(held, te, route, scores, t, s))

        add(f"evidence score, threshold {SHIPPED_BEFORE} (shipped before)", ev_te, SHIPPED_BEFORE)
        t = best_threshold(tr, ev_tr)
        add(
            "evidence score, threshold from the other brands",
            ev_te,
            t,
            suggest_threshold(tr, ev_tr, t),
        )
        q = probe_quantile(data, train)
        own = float(np.quantile([s for _, s in data[held]["probes"]], q))
        add(f"per-knowledge-base calibration (probe quantile {q:.2f})", ev_te, own)
        fo_tr = [r.focus_score for r in tr]
        fo_rows = [replace(r, right=r.focus_right) for r in te]
        tf = best_threshold([replace(r, right=r.focus_right) for r in tr], fo_tr)
        route = "chatty messages read for their question"
        table.append(result(held, fo_rows, route, [r.focus_score for r in te], tf, None))
        model = fit(tr)
        p_tr = list(model.predict_proba(matrix(tr))[:, 1])
        p_te = list(model.predict_proba(matrix(te))[:, 1])
        t = best_threshold(tr, p_tr)
        add("trained confidence (shipped)", p_te, t, suggest_threshold(tr, p_tr, t))
        # The model for answers across languages, scored on the same (same-language) rows: what
        # it costs to go without the lexical signals.
        cross = fit(tr, CROSS_LANGUAGE_FEATURES)
        c_tr = list(cross.predict_proba(matrix(tr, CROSS_LANGUAGE_FEATURES))[:, 1])
        c_te = list(cross.predict_proba(matrix(te, CROSS_LANGUAGE_FEATURES))[:, 1])
        tc = best_threshold(tr, c_tr)
        add(
            "trained confidence without lexical signals (shipped for cross-language answers)",
            c_te,
            tc,
            suggest_threshold(tr, c_tr, tc),
        )
        own_best = "the brand's own best threshold"
        add(f"oracle: evidence score, {own_best}", ev_te, best_threshold(te, ev_te))
        add(f"oracle: trained confidence, {own_best}", p_te, best_threshold(te, p_te))
        pooled["evidence score"] += list(zip(te, ev_te, strict=True))
        pooled["trained confidence"] += list(zip(te, p_te, strict=True))
    return table, pooled


# -- the shipped model ---------------------------------------------------------------------
def export(
    model: Any, rows: list[Row], names: list[str], features: tuple[str, ...] = FEATURES
) -> dict[str, Any]:
    scaler, lr = model[0], model[1]
    p = list(model.predict_proba(matrix(rows, features))[:, 1])
    t = best_threshold(rows, p)
    s = suggest_threshold(rows, p, t)
    return {
        "features": list(features),
        "mean": [float(x) for x in scaler.mean_],
        "scale": [float(x) for x in scaler.scale_],
        "coef": [float(x) for x in lr.coef_[0]],
        "intercept": float(lr.intercept_[0]),
        "answer_at": round(t, 4),
        "suggest_at": round(s, 4),
        "about": {
            "what": "logistic regression over the answerer's signals (knowledge/confidence.py)",
            "trained_by": "bench/train_confidence.py",
            "trained_on": names,
            "questions": len(rows),
            "right_answers": sum(r.good for r in rows),
            "regularisation_C": C,
            "answer_at": f"best answered-correctly share with wrong <= {MAX_WRONG:.0%} (pooled)",
            "suggest_at": f"lowest with at most {SUGGEST_MAX_WRONG:.0%} of suggestions wrong",
        },
    }


def reference(model: Any, rows: list[Row]) -> dict[str, Any]:
    """Fixed feature rows and the training library's scores, for the serving test."""
    picked = rows[:: max(1, len(rows) // 12)][:12]
    p = model.predict_proba(matrix(picked))[:, 1]
    return {
        "about": "written by bench/train_confidence.py: sklearn's predict_proba on these rows",
        "rows": [
            {"features": r.features, "score": float(x)} for r, x in zip(picked, p, strict=True)
        ],
    }


def chart(pooled: dict[str, list[tuple[Row, float]]]) -> str:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, pairs in pooled.items():
        rows = [r for r, _ in pairs]
        scores = [s for _, s in pairs]
        pts = []
        for t in sorted(set(scores)) + [2.0]:
            m = at(rows, scores, t)
            pts.append((m["wrong"], m["answered_correctly"]))
        pts.sort()
        ax.plot([x for x, _ in pts], [y for _, y in pts], label=label)
    ax.axvline(MAX_WRONG, color="#999", linestyle="--", linewidth=1)
    ax.set_xlim(0, 0.3)
    ax.set_ylim(0, 1)
    ax.set_xlabel("wrong answers (share of all questions)")
    ax.set_ylabel("answerable questions answered correctly")
    ax.set_title("Each brand scored by a model fitted on the others (pooled)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--no-write", action="store_true", help="print only; write nothing")
    ap.add_argument(
        "--encoder",
        choices=("minilm", "e5"),
        default="minilm",
        help="the encoder whose readings the model scores: minilm (English questions; writes "
        "knowledge/confidence_model.json) or e5 (the other languages; writes "
        "knowledge/confidence_model_e5.json with its cross-language model)",
    )
    args = ap.parse_args()
    kbs = knowledge_bases()
    data = collect(kbs, args.encoder)
    table, pooled = leave_one_out(data)
    rows = [r for d in data.values() for r in d["rows"]]
    model = fit(rows)
    shipped = export(model, rows, list(data))
    shipped["about"]["encoder"] = args.encoder
    if args.encoder == "e5":
        shipped["cross_language"] = export(
            fit(rows, CROSS_LANGUAGE_FEATURES), rows, list(data), CROSS_LANGUAGE_FEATURES
        )
    counts = {
        n: (sum(r.answerable for r in d["rows"]), sum(not r.answerable for r in d["rows"]))
        for n, d in data.items()
    }
    lines = [
        "# Answer confidence across brands (leave one brand out)",
        "",
        "{HEADER}",
        f"{len(counts)} knowledge bases, each with labelled questions: "
        + ", ".join(f"{n} ({a} answerable, {u} unanswerable)" for n, (a, u) in counts.items())
        + ". The sample's questions are its development splits; its blind splits are not used "
        "here. Each row scores one knowledge base with a route whose fitting and thresholds "
        "used only the others. A right answer cites the labelled article and contains "
        "every labelled fact. Targets (the answer issue): answered correctly >= 0.80, abstained "
        "correctly >= 0.90, wrong <= 0.03.",
        "",
        "![correct vs wrong answers as the threshold moves, out-of-brand](knowledge_brands.svg)",
        "",
        "| held out | route | threshold | AUROC | answered correctly | abstained correctly | "
        "wrong | answered or suggested correctly | suggestions wrong |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        extra = (
            f"{r['answered_or_suggested_correctly']:.3f} | {r['suggestions_wrong']:.3f}"
            if r.get("suggest_at") is not None
            else "– | –"
        )
        lines.append(
            f"| {r['held_out']} | {r['route']} | {r['threshold']:.3f} | {r['auroc']:.3f} | "
            f"{r['answered_correctly']:.3f} | {r['abstained_correctly']:.3f} | {r['wrong']:.3f} "
            f"| {extra} |"
        )
    routes = list(dict.fromkeys(r["route"].split(" (probe")[0] for r in table))
    lines += [
        "",
        f"Mean over the {len(counts) - 1} invented brands (the sample's own tuning leaks into "
        "its rows):",
        "",
        "| route | AUROC | answered correctly | abstained correctly | wrong |",
        "|---|---|---|---|---|",
    ]
    for route in routes:
        rs = [r for r in table if r["route"].startswith(route) and r["held_out"] != SAMPLE]
        lines.append(
            f"| {route} | {np.mean([r['auroc'] for r in rs]):.3f} | "
            f"{np.mean([r['answered_correctly'] for r in rs]):.3f} | "
            f"{np.mean([r['abstained_correctly'] for r in rs]):.3f} | "
            f"{np.mean([r['wrong'] for r in rs]):.3f} |"
        )
    weights = ", ".join(f"{f} {w:+.2f}" for f, w in zip(FEATURES, shipped["coef"], strict=True))
    lines += [
        "",
        f"Shipped model (`{(DEFAULT_E5_MODEL if args.encoder == 'e5' else DEFAULT_MODEL).name}`), "
        f"fitted on all {len(counts)}: "
        f"answer from "
        f"{shipped['answer_at']}, suggest from {shipped['suggest_at']}; standardised weights: "
        f"{weights}.",
    ]
    md = "\n".join(lines) + "\n"
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        e5 = args.encoder == "e5"
        target = DEFAULT_E5_MODEL if e5 else DEFAULT_MODEL
        target.write_text(json.dumps(shipped, indent=2) + "\n", encoding="utf-8")
        ref = REFERENCE.with_name("confidence_reference_e5.json") if e5 else REFERENCE
        ref.write_text(json.dumps(reference(model, rows), indent=2) + "\n", encoding="utf-8")
        name = "knowledge_brands_e5" if e5 else "knowledge_brands"
        md = md.replace("(knowledge_brands.svg)", f"({name}.svg)")
        write_results(name, md, {"results": table, "model": shipped, "counts": counts})
        (RESULTS / f"{name}.svg").write_text(chart(pooled), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
