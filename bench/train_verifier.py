"""Train an answer verifier and measure it beside the trained confidence, leaving whole
brands out (the "trained verifier" route of the answer issue; measured, not shipped).

    .venv/bin/python bench/train_verifier.py [--quick] [--no-write]

Needs torch, a development-only dependency (CPU build, from the local wheel folder):
    .tools/bin/uv pip install --python .venv/bin/python --find-links "$PIP_FIND_LINKS" torch==2.13.0
Seeded; a progress bar for each step; about 30-50 minutes on 2 cores (--quick: a quarter of the
data, for trying changes; its figures are not the committed ones). Writes
bench/results/knowledge_verifier.{md,json}. Beside another CPU-heavy job, run it with
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1: oversubscribed BLAS threads spin, and a 2-core machine
then runs the encoder about 9x slower.

The verifier reads the question and a candidate sentence together and scores "this sentence
answers the question". To fit the answer's latency budget (one BERT layer over six pairs of 65
tokens takes 37 ms in NumPy here, so six full layers would take over 200 ms) it shares its lower
layers with the sentence encoder: the encoder's token states after layer SPLIT_LAYER, computed
anyway for the question and for each indexed sentence, are joined (the sentence's marked by a
learnt segment vector), the remaining layer is fine-tuned on the pair, and a linear head reads
the first token, both sides' mean states and their product ("precomputed term representations",
MacAvaney et al., 2020). Started from the MiniLM weights the encoder ships with.

Training data (sources and licences in bench/VERIFIER_DATA.md):
  - SQuAD 2.0 dev (../shared/bench-data/squad2, CC BY-SA 4.0), split by article: question vs
    each sentence of its paragraph; the sentence holding the answer is positive, all others
    and every sentence for an unanswerable question (near misses written against the same
    paragraph) negative. Held-out articles give the answerability sanity check.
  - The support knowledge bases: the sample one (development splits of
    bench/knowledge_qa_set.yaml) and the invented brands of bench/brands/. Each question is
    answered as the service would; the top article's CANDIDATES best sentences are the pairs,
    positive when the article is the labelled one and the sentence holds a labelled fact.
The blind splits are never read.

Evaluation, leaving brands out: the knowledge bases are dealt into FOLDS groups; each group's
pairs are scored by a verifier trained without that group. On those out-of-fold scores, each
route is scored on each knowledge base with a confidence fitted and thresholded on the other
knowledge bases only (as bench/train_confidence.py does):
  - the trained confidence (knowledge/confidence.py), quoting as the answerer does;
  - the verifier alone: the best sentence's probability, quoting its passage;
  - the trained confidence with the verifier's two scores as more signals, quoting as the
    answerer does, and quoting the verifier's passage.
Two verifiers: trained on SQuAD and the support pairs, and on the support pairs alone.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402
from bench.train_confidence import (  # noqa: E402
    MAX_WRONG,
    SAMPLE,
    Row,
    at,
    auroc,
    best_threshold,
    fit,
    knowledge_bases,
    matrix,
    raw_service,
)
from knowledge.answer import extractive_answer  # noqa: E402
from knowledge.chunking import split_sentences  # noqa: E402
from knowledge.confidence import FEATURES, answer_features  # noqa: E402
from knowledge.embeddings import shared_encoder  # noqa: E402
from knowledge.text import clean_question  # noqa: E402

SQUAD = ROOT.parent / "shared" / "bench-data" / "squad2" / "dev-v2.0.json"
SPLIT_LAYER = 5  # the encoder's layers 1..5 are shared; layer 6 reads the pair
MAX_QUESTION_TOKENS = 96
MAX_SENTENCE_TOKENS = 64
CANDIDATES = 6  # sentences of the top article read by the verifier, by similarity
SEED = 13
FOLDS = 3
SQUAD_TRAIN_ARTICLES = 25  # of 35; the other 10 are the sanity check
SQUAD_TRAIN_QUESTIONS = 4000
SQUAD_EVAL_QUESTIONS = 600
EPOCHS = 2
BATCH = 32
LR_LAYERS = 2e-4
LR_HEAD = 1e-3
V_FEATURES = ("verifier_best", "verifier_quoted")


# -- data --------------------------------------------------------------------------------------
class States:
    """Token states after the encoder's layer SPLIT_LAYER, computed once per distinct text."""

    def __init__(self) -> None:
        self.encoder = shared_encoder("minilm").encoder  # type: ignore[attr-defined]
        self.index: dict[str, int] = {}
        self.arrays: list[np.ndarray] = []

    def ids(self, texts: list[str]) -> list[int]:
        todo = list(dict.fromkeys(t for t in texts if t not in self.index))
        for start in range(0, len(todo), 64):
            chunk = todo[start : start + 64]
            _, states = self.encoder.encode_with_states(chunk, SPLIT_LAYER)
            for t, s in zip(chunk, states, strict=True):
                self.put(t, s)
        return [self.index[t] for t in texts]

    def encode(self, text: str) -> tuple[np.ndarray, int]:
        """The text's unit vector and its states' id: one encoder pass for both."""
        vecs, states = self.encoder.encode_with_states([text], SPLIT_LAYER)
        return vecs[0], self.put(text, states[0])

    def put(self, text: str, state: np.ndarray) -> int:
        if text not in self.index:
            self.index[text] = len(self.arrays)
            self.arrays.append(state)
        return self.index[text]


@dataclass
class Pair:
    q: int  # States id of the question
    s: int  # States id of the sentence (with its title and heading)
    label: int


@dataclass
class Question:
    kb: str
    text: str
    answerable: bool
    features: dict[str, float]
    pairs: list[Pair]
    passage_of: list[int]  # the evidence passage each candidate sentence is in
    right_if_first: list[bool]  # the answer is right when that passage is quoted first
    passage_best: list[float]  # each evidence passage's best sentence similarity
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def right(self) -> bool:
        return bool(self.right_if_first and self.right_if_first[0])


def answer_right(item: dict[str, Any], text: str, cited: str | None) -> bool:
    return bool(
        item["answerable"]
        and cited == item["article"]
        and all(f.lower() in text.lower() for f in item["facts"])
    )


def collect_support(states: States, quick: bool) -> dict[str, list[Question]]:
    from tqdm import tqdm

    kbs = knowledge_bases()
    if quick:
        kbs = {n: (a, items[::4]) for n, (a, items) in kbs.items()}
    out: dict[str, list[Question]] = {}
    bar = tqdm(total=sum(len(i) for _, i in kbs.values()), desc="answering", unit="q")
    for name, (articles, items) in kbs.items():
        rows: list[Question] = []
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "articles"
            shutil.copytree(articles, folder)
            svc = raw_service(folder, Path(tmp), name)
            for item in items:
                q = clean_question(item["q"])
                vector, qid = states.encode(q)
                hits, evidence = svc.assess(q, list(vector))
                bar.update()
                if not hits or not evidence:
                    continue
                top = hits[0]
                cands = []
                for pi, e in enumerate(evidence):
                    head = f"{top.title}: {e.passage.heading}" if e.passage.heading else top.title
                    for si, sent in enumerate(e.sentences):
                        cands.append((float(e.sims[si]), pi, f"{head}\n{sent}"))
                cands.sort(key=lambda c: -c[0])
                cands = cands[:CANDIDATES]
                sids = states.ids([c[2] for c in cands])
                gold = item["answerable"] and top.path == item["article"]
                pairs = [
                    Pair(
                        qid,
                        sid,
                        int(gold and any(f.lower() in c[2].lower() for f in item["facts"])),
                    )
                    for sid, c in zip(sids, cands, strict=True)
                ]
                right_if_first = []
                for pi in range(len(evidence)):
                    order = [evidence[pi]] + [e for j, e in enumerate(evidence) if j != pi]
                    ans = extractive_answer(hits, order)
                    cited = str(ans.sources[0]["path"]) if ans.sources else None
                    right_if_first.append(answer_right(item, ans.text, cited))
                rows.append(
                    Question(
                        name,
                        item["q"],
                        item["answerable"],
                        answer_features(q, hits, evidence),
                        pairs,
                        [c[1] for c in cands],
                        right_if_first,
                        [e.best for e in evidence],
                    )
                )
            svc.stop()
        out[name] = rows
    bar.close()
    return out


def squad(states: States, quick: bool) -> tuple[list[Pair], list[tuple[list[Pair], bool]]]:
    """Training pairs from the training articles; (pairs, answerable) per held-out question."""
    from tqdm import tqdm

    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    articles = sorted(data, key=lambda a: a["title"])
    random.Random(SEED).shuffle(articles)
    train, held = articles[:SQUAD_TRAIN_ARTICLES], articles[SQUAD_TRAIN_ARTICLES:]

    def questions(arts: list[dict], n: int) -> list[tuple[str, list[str], list[int]]]:
        out = []
        for a in arts:
            title = a["title"].replace("_", " ")
            for p in a["paragraphs"]:
                sents = split_sentences(p["context"])[:8]
                starts, pos = [], 0
                for s in sents:
                    at = p["context"].find(s, pos)
                    starts.append(at)
                    pos = max(at, pos)
                for qa in p["qas"]:
                    labels = [0] * len(sents)
                    if not qa.get("is_impossible"):
                        ans = qa["answers"][0]
                        a0, a1 = ans["answer_start"], ans["answer_start"] + len(ans["text"])
                        for i, (s, st) in enumerate(zip(sents, starts, strict=True)):
                            if st >= 0 and st <= a0 and a1 <= st + len(s):
                                labels[i] = 1
                    out.append((qa["question"], [f"{title}\n{s}" for s in sents], labels))
        random.Random(SEED).shuffle(out)
        return out[:n]

    scale = 6 if quick else 1
    tr = questions(train, SQUAD_TRAIN_QUESTIONS // scale)
    te = questions(held, SQUAD_EVAL_QUESTIONS // scale)
    pairs: list[Pair] = []
    evals: list[tuple[list[Pair], bool]] = []
    for group, sink in ((tr, "train"), (te, "eval")):
        for q, sents, labels in tqdm(group, desc=f"SQuAD {sink}", unit="q"):
            qid = states.ids([q])[0]
            ps = [Pair(qid, s, y) for s, y in zip(states.ids(sents), labels, strict=True)]
            if sink == "train":
                pairs += ps
            else:
                evals.append((ps, any(labels)))
    return pairs, evals


# -- the model (torch; mirrors knowledge/verifier.py) -------------------------------------------
def build_model() -> Any:
    import torch
    from parley_shared.encoder import default_model_dir
    from safetensors.torch import load_file
    from torch import nn

    base = load_file(str(default_model_dir() / "model.safetensors"))

    class Layer(nn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            names = [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
                "intermediate.dense",
                "output.dense",
            ]
            self.lin = nn.ModuleDict()
            for n in names:
                w = base[f"encoder.layer.{i}.{n}.weight"]
                lin = nn.Linear(w.shape[1], w.shape[0])
                lin.weight.data.copy_(w)
                lin.bias.data.copy_(base[f"encoder.layer.{i}.{n}.bias"])
                self.lin[n.replace(".", "_")] = lin
            self.ln1 = nn.LayerNorm(384, eps=1e-12)
            self.ln2 = nn.LayerNorm(384, eps=1e-12)
            for ln, n in ((self.ln1, "attention.output.LayerNorm"), (self.ln2, "output.LayerNorm")):
                ln.weight.data.copy_(base[f"encoder.layer.{i}.{n}.weight"])
                ln.bias.data.copy_(base[f"encoder.layer.{i}.{n}.bias"])

        def forward(self, x: Any, bias: Any) -> Any:
            b, t, _ = x.shape
            lin = self.lin

            def heads(y: Any) -> Any:
                return y.view(b, t, 12, 32).transpose(1, 2)

            q = heads(lin["attention_self_query"](x))
            k = heads(lin["attention_self_key"](x))
            v = heads(lin["attention_self_value"](x))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(32) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, t, 384)
            x = self.ln1(lin["attention_output_dense"](ctx) + x)
            h = torch.nn.functional.gelu(lin["intermediate_dense"](x))
            return self.ln2(lin["output_dense"](h) + x)

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer_ids = list(range(SPLIT_LAYER, 6))
            self.layers = nn.ModuleList(Layer(i) for i in self.layer_ids)
            self.segment = nn.Parameter(torch.zeros(384))
            self.head = nn.Linear(4 * 384, 1)
            nn.init.normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)

        def forward(self, x: Any, mask: Any, seg: Any) -> Any:
            x = x + seg[:, :, None] * self.segment
            bias = (1.0 - mask[:, None, None, :]) * -1e9
            for layer in self.layers:
                x = layer(x, bias)
            qm = (mask * (1.0 - seg))[:, :, None]
            sm = seg[:, :, None]
            mq = (x * qm).sum(1) / qm.sum(1).clamp(min=1.0)
            ms = (x * sm).sum(1) / sm.sum(1).clamp(min=1.0)
            return self.head(torch.cat([x[:, 0, :], mq, ms, mq * ms], dim=-1)).squeeze(-1)

    return Top()


def batch_tensors(pairs: list[Pair], states: States) -> tuple[Any, Any, Any, Any]:
    import torch

    qs = [states.arrays[p.q][:MAX_QUESTION_TOKENS] for p in pairs]
    ss = [states.arrays[p.s][:MAX_SENTENCE_TOKENS] for p in pairs]
    seq = max(len(q) + len(s) for q, s in zip(qs, ss, strict=True))
    x = np.zeros((len(pairs), seq, 384), np.float32)
    mask = np.zeros((len(pairs), seq), np.float32)
    seg = np.zeros((len(pairs), seq), np.float32)
    for i, (q, s) in enumerate(zip(qs, ss, strict=True)):
        n = len(q) + len(s)
        x[i, : len(q)] = q
        x[i, len(q) : n] = s
        mask[i, :n] = 1.0
        seg[i, len(q) : n] = 1.0
    y = torch.tensor([p.label for p in pairs], dtype=torch.float32)
    return torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(seg), y


def _buckets(pairs: list[Pair], states: States, rng: random.Random) -> list[list[Pair]]:
    """Batches of similar length (little padding), in random order."""
    order = sorted(pairs, key=lambda p: len(states.arrays[p.q]) + len(states.arrays[p.s]))
    chunks = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    rng.shuffle(chunks)
    return chunks


def train(pairs: list[Pair], states: States, desc: str) -> Any:
    import torch
    from tqdm import tqdm

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    model = build_model()
    head = [model.segment, *model.head.parameters()]
    opt = torch.optim.AdamW(
        [
            {"params": model.layers.parameters(), "lr": LR_LAYERS},
            {"params": head, "lr": LR_HEAD},
        ],
        weight_decay=0.01,
    )
    steps = EPOCHS * math.ceil(len(pairs) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    with tqdm(total=steps, desc=desc, unit="batch") as bar:
        for _ in range(EPOCHS):
            for chunk in _buckets(pairs, states, rng):
                x, mask, seg, y = batch_tensors(chunk, states)
                loss = loss_fn(model(x, mask, seg), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return model


def predict(model: Any, pairs: list[Pair], states: States) -> np.ndarray:
    import torch

    out = np.zeros(len(pairs), np.float32)
    idx = sorted(range(len(pairs)), key=lambda i: len(states.arrays[pairs[i].s]))
    with torch.no_grad():
        for start in range(0, len(idx), 64):
            chunk = idx[start : start + 64]
            x, mask, seg, _ = batch_tensors([pairs[i] for i in chunk], states)
            out[chunk] = model(x, mask, seg).numpy()
    return out


# -- routes --------------------------------------------------------------------------------------
def _quoted_right(r: Question, how: str) -> bool:
    if how == "before":
        return r.right
    return bool(r.right_if_first[int(r.extra["verifier_passage"])])


ROUTES: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "trained confidence (shipped)": (FEATURES, "before"),
    "verifier alone, quoting its passage": (None, "verifier"),
    "trained confidence + verifier, quoting as before": (FEATURES + V_FEATURES, "before"),
    "trained confidence + verifier, quoting its passage": (FEATURES + V_FEATURES, "verifier"),
}


def leave_one_out(data: dict[str, list[Question]]) -> list[dict[str, Any]]:
    table = []
    for held in data:
        tr = [r for n, rs in data.items() if n != held for r in rs]
        te = data[held]
        for route, (names, how) in ROUTES.items():
            # As rows of bench/train_confidence.py, right when the route's quote is right.
            rows_tr, rows_te = ([as_row(r, how) for r in rs] for rs in (tr, te))
            if names is None:
                s_tr = [r.extra["verifier_best"] for r in tr]
                s_te = [r.extra["verifier_best"] for r in te]
            else:
                model = fit(rows_tr, names)
                s_tr = list(model.predict_proba(matrix(rows_tr, names))[:, 1])
                s_te = list(model.predict_proba(matrix(rows_te, names))[:, 1])
            t = best_threshold(rows_tr, s_tr)
            table.append(
                {
                    "held_out": held,
                    "route": route,
                    "threshold": t,
                    "auroc": auroc(rows_te, s_te),
                    "right_if_answering_all": sum(r.good for r in rows_te)
                    / max(sum(r.answerable for r in te), 1),
                    **at(rows_te, s_te, t),
                }
            )
    return table


def as_row(r: Question, how: str) -> Row:
    return Row(r.text, r.answerable, _quoted_right(r, how), "", r.features, extra=r.extra)


def auroc_labels(labels: list[int], scores: list[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


# -- the run --------------------------------------------------------------------------------------
VARIANTS = {
    "verifier (SQuAD 2.0 + support pairs)": True,
    "verifier (support pairs only)": False,
}


def out_of_fold(
    data: dict[str, list[Question]], sq_train: list[Pair], states: States, with_squad: bool
) -> None:
    """Each knowledge base's verifier signals from a model trained without its fold."""
    names = list(data)
    folds = {n: i % FOLDS for i, n in enumerate(names)}
    for f in range(FOLDS):
        train_pairs = (sq_train if with_squad else []) + [
            p for n in names if folds[n] != f for r in data[n] for p in r.pairs
        ]
        model = train(train_pairs, states, f"fold {f + 1}/{FOLDS}")
        for n in names:
            if folds[n] != f:
                continue
            for r in data[n]:
                probs = 1 / (1 + np.exp(-predict(model, r.pairs, states)))
                best = int(np.argmax(probs))
                quoted = [x for x, pi in zip(probs, r.passage_of, strict=True) if pi == 0]
                r.extra = {
                    "verifier_best": float(probs[best]),
                    "verifier_quoted": float(max(quoted, default=0.0)),
                    "verifier_passage": float(r.passage_of[best]),
                }


def squad_check(sq_train: list[Pair], sq_eval: list, states: States) -> float:
    """Answerability AUROC on held-out SQuAD articles (best sentence's logit)."""
    model = train(sq_train, states, "SQuAD only")
    logits = predict(model, [p for ps, _ in sq_eval for p in ps], states)
    best, at_i = [], 0
    for ps, _ in sq_eval:
        best.append(float(logits[at_i : at_i + len(ps)].max()) if ps else -9.0)
        at_i += len(ps)
    return auroc_labels([int(a) for _, a in sq_eval], best)


def quote_rules(data: dict[str, list[Question]]) -> list[tuple[str, float, float]]:
    """Right when answering everything, per rule for choosing the passage to quote:
    (rule, mean over the invented brands, the sample)."""
    rules = {
        "best sentence + 0.2 x topic-word coverage (shipped)": lambda r: 0,
        "best sentence similarity alone": lambda r: int(np.argmax(r.passage_best)),
    }
    out = []
    for rule, pick in rules.items():
        share = {
            n: sum(r.right_if_first[pick(r)] for r in rs if r.answerable)
            / max(sum(r.answerable for r in rs), 1)
            for n, rs in data.items()
        }
        brands = [v for n, v in share.items() if n != SAMPLE]
        out.append((rule, float(np.mean(brands)), share.get(SAMPLE, math.nan)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a quarter of the data, for trials")
    ap.add_argument("--no-write", action="store_true", help="print only; write nothing")
    args = ap.parse_args()
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        print(
            "torch is not installed. It is needed only to train: .tools/bin/uv pip install "
            '--python .venv/bin/python --find-links "$PIP_FIND_LINKS" torch==2.13.0',
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    states = States()
    data = collect_support(states, args.quick)
    sq_train, sq_eval = squad(states, args.quick)
    tables: dict[str, list[dict[str, Any]]] = {}
    for variant, with_squad in VARIANTS.items():
        out_of_fold(data, sq_train, states, with_squad)
        tables[variant] = leave_one_out(data)
    squad_auc = squad_check(sq_train, sq_eval, states)
    minutes = (time.monotonic() - started) / 60
    pairs = sum(len(r.pairs) for rs in data.values() for r in rs)
    md = report(tables, data, squad_auc, len(sq_train), pairs, minutes, quote_rules(data))
    if args.quick:
        md = md.replace("(leave brands out)", "(leave brands out) — QUICK TRIAL, not the figures")
    print(md.replace("{HEADER}", ""))
    if not args.no_write and not args.quick:
        write_results(
            "knowledge_verifier",
            md,
            {"results": tables, "squad_auroc": squad_auc, "quote_rules": quote_rules(data)},
        )
    return 0


def report(
    tables: dict[str, list[dict[str, Any]]],
    data: dict[str, list[Question]],
    squad_auc: float,
    squad_pairs: int,
    support_pairs: int,
    minutes: float,
    rules: list[tuple[str, float, float]],
) -> str:
    lines = [
        "# Answer verifier across brands (leave brands out)",
        "",
        "{HEADER}",
        f"Knowledge bases (answered questions): "
        f"{', '.join(f'{n} ({len(r)})' for n, r in data.items())}. Verifier training pairs: "
        f"{squad_pairs} from SQuAD 2.0 (by article) and {support_pairs} from the knowledge bases "
        f"(the top article's {CANDIDATES} best sentences per question). Each knowledge base's "
        f"verifier signals come from a model trained without its fold ({FOLDS} folds), and each "
        "route's confidence and threshold from the other knowledge bases. A right answer cites "
        "the labelled article and contains every labelled fact; the threshold keeps wrong "
        f"answers at most {MAX_WRONG:.0%} of the training knowledge bases' questions. The "
        f"verifier reads the encoder's token states after layer {SPLIT_LAYER} (question and "
        f"sentence, {MAX_QUESTION_TOKENS}/{MAX_SENTENCE_TOKENS} tokens at most) with the "
        f"remaining layer(s) fine-tuned on the pair ({EPOCHS} epochs, seed {SEED}). "
        f"Run took {minutes:.0f} minutes.",
        "",
        f"SQuAD 2.0 answerability, {SQUAD_EVAL_QUESTIONS} questions of articles never trained "
        f"on (verifier trained on SQuAD pairs only; best sentence's logit): AUROC {squad_auc:.3f}.",
        "",
        "## Mean over the invented brands",
        "",
        "| verifier | route | AUROC | answered correctly | abstained correctly | wrong | "
        "right if answering all |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, table in tables.items():
        for route in ROUTES:
            rs = [r for r in table if r["route"] == route and r["held_out"] != SAMPLE]
            lines.append(
                f"| {variant} | {route} | {np.mean([r['auroc'] for r in rs]):.3f} | "
                f"{np.mean([r['answered_correctly'] for r in rs]):.3f} | "
                f"{np.mean([r['abstained_correctly'] for r in rs]):.3f} | "
                f"{np.mean([r['wrong'] for r in rs]):.3f} | "
                f"{np.mean([r['right_if_answering_all'] for r in rs]):.3f} |"
            )
    lines += [
        "",
        "## Choosing the passage to quote (right when answering everything)",
        "",
        "| rule | mean over the invented brands | sample |",
        "|---|---|---|",
    ]
    for rule, brands, sample in rules:
        lines.append(f"| {rule} | {brands:.3f} | {sample:.3f} |")
    for variant, table in tables.items():
        lines += [
            "",
            f"## Per knowledge base: {variant}",
            "",
            "| held out | route | threshold | AUROC | answered correctly | abstained correctly "
            "| wrong | right if answering all |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in table:
            lines.append(
                f"| {r['held_out']} | {r['route']} | {r['threshold']:.3f} | {r['auroc']:.3f} | "
                f"{r['answered_correctly']:.3f} | {r['abstained_correctly']:.3f} | "
                f"{r['wrong']:.3f} | {r['right_if_answering_all']:.3f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
