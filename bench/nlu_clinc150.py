"""CLINC150 benchmark for the Rasa NLU pipeline (in-scope accuracy and out-of-scope recall).

Follows Larson et al. 2019, "oos-train" setting on the full data: the model is trained on
`train` plus `oos_train` (as the intent `out_of_scope`); the out-of-scope threshold is tuned on
`val` + `oos_val` only (the highest OOS recall that keeps in-scope accuracy at or above
--min-accuracy, 96.0 by default; also reported: the threshold maximising accuracy + recall);
in-scope accuracy is reported on `test` and out-of-scope recall on
`oos_test`. A message counts as out-of-scope when the top intent is `out_of_scope` or its
confidence is below the threshold. Also measured: training time, model size, parse latency.

Steps: convert the data to Rasa NLU YAML, `rasa train nlu` with the chosen pipeline (Rasa venv,
repository root as working directory so custom components import), parse every evaluation
message in-process (bench/nlu_eval_rasa.py), tune the threshold, write
bench/results/nlu_clinc150.md and .json (one entry per pipeline; other entries are kept).

Example:
    .venv/bin/python bench/nlu_clinc150.py --pipeline parley
    .venv/bin/python bench/nlu_clinc150.py --pipeline baseline --data /path/to/data_full.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "bench-data" / "clinc150" / "data_full.json"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
EVAL_SCRIPT = ROOT / "bench" / "nlu_eval_rasa.py"
RESULTS_DIR = ROOT / "bench" / "results"
PIPELINES = {
    "baseline": ROOT / "bench" / "configs" / "baseline.yml",
    "parley": ROOT / "config.yml",
}
OOS_LABEL = "oos"
OOS_INTENT = "out_of_scope"
EVAL_SPLITS = ("val", "oos_val", "test", "oos_test")
CURVE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
QUIET_ENV = {
    "PYTHONWARNINGS": "ignore",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "RASA_TELEMETRY_ENABLED": "false",
}
# Larson et al. 2019, Table 2, full data (in-scope accuracy, OOS recall).
PUBLISHED = [
    ("BERT (oos-train)", 96.9, 40.3),
    ("BERT (oos-threshold)", 96.2, 52.3),
    ("MLP (oos-train)", 93.5, 47.4),
    ("Rasa (oos-train)", 91.5, 45.3),
    ("Rasa (oos-threshold)", 90.9, 31.2),
    ("DialogFlow (oos-train)", 91.7, 14.0),
]


class BenchError(RuntimeError):
    """A problem the person running the bench has to fix; the message says what."""


def load_clinc(path: Path) -> dict[str, list[list[str]]]:
    if not path.is_file():
        raise BenchError(
            f"CLINC150 data not found at {path}; pass --data /path/to/data_full.json "
            "(or set CLINC150_DATA)"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in ("train", "oos_train", *EVAL_SPLITS) if k not in data]
    if missing:
        raise BenchError(f"{path} is not CLINC150 data_full.json: missing {', '.join(missing)}")
    return data


def to_rasa_intent(label: str) -> str:
    return OOS_INTENT if label == OOS_LABEL else label


def nlu_yaml(rows: Iterable[list[str]]) -> str:
    """Rasa NLU training data (YAML) with one block per intent."""
    by_intent: dict[str, list[str]] = {}
    for text, label in rows:
        by_intent.setdefault(to_rasa_intent(label), []).append(" ".join(text.split()))
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in dict.fromkeys(by_intent[intent]))
    return "\n".join(lines) + "\n"


def resolve_pipeline(value: str) -> tuple[str, Path]:
    if value in PIPELINES:
        return value, PIPELINES[value]
    path = Path(value)
    if not path.is_file():
        raise BenchError(
            f"--pipeline must be one of {', '.join(PIPELINES)} or a config file; {value} is neither"
        )
    return path.stem, path.resolve()


def machine_info() -> dict[str, Any]:
    cpu = cpu_model()
    ram_gb: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "ram_gb": ram_gb,
        "os": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_logged(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run a command with output appended to `log`; return (wall-clock, CPU) seconds."""
    cpu_start = _children_cpu_seconds()
    start = time.perf_counter()
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    cpu_seconds = _children_cpu_seconds() - cpu_start
    if proc.returncode != 0:
        raise BenchError(f"command failed (exit {proc.returncode}); see {log}")
    return seconds, cpu_seconds


def train(
    config: Path, nlu_file: Path, out_dir: Path, log: Path, env: dict[str, str]
) -> tuple[Path, float, float]:
    """Train; return the model file, wall-clock and CPU seconds."""
    if not RASA_BIN.exists():
        raise BenchError(f"Rasa is not installed at {RASA_BIN}; set up the Rasa venv first")
    seconds, cpu_seconds = _run_logged(
        [
            str(RASA_BIN),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(nlu_file),
            "--out",
            str(out_dir),
            "--fixed-model-name",
            "nlu",
        ],
        log,
        env,
    )
    model = out_dir / "nlu.tar.gz"
    if not model.is_file():
        raise BenchError(f"training finished but no model at {model}; see {log}")
    return model, seconds, cpu_seconds


def predict(
    model: Path, data: dict[str, list[list[str]]], work: Path, log: Path, env: dict[str, str]
) -> list[dict[str, Any]]:
    messages = work / "messages.json"
    messages.write_text(json.dumps({k: data[k] for k in EVAL_SPLITS}), encoding="utf-8")
    out = work / "predictions.jsonl"
    _run_logged(
        [
            str(RASA_PYTHON),
            str(EVAL_SCRIPT),
            "--model",
            str(model),
            "--messages",
            str(messages),
            "--out",
            str(out),
        ],
        log,
        env,
    )
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _is_oos(rec: dict[str, Any], threshold: float) -> bool:
    return rec["intent"] == OOS_INTENT or float(rec["confidence"]) < threshold


def scores(
    preds: list[dict[str, Any]], in_split: str, oos_split: str, threshold: float
) -> tuple[float, float]:
    """(in-scope accuracy, OOS recall) in percent at a confidence threshold."""
    ins = [p for p in preds if p["split"] == in_split]
    oos = [p for p in preds if p["split"] == oos_split]
    acc = sum(
        1
        for p in ins
        if not _is_oos(p, threshold) and p["intent"] == to_rasa_intent(str(p["gold"]))
    )
    rec = sum(1 for p in oos if _is_oos(p, threshold))
    return 100.0 * acc / max(len(ins), 1), 100.0 * rec / max(len(oos), 1)


def tune_threshold(preds: list[dict[str, Any]], min_accuracy: float | None = None) -> float:
    """Threshold tuned on val + oos_val (never test): with `min_accuracy`, the one with the
    highest OOS recall among those keeping in-scope accuracy >= min_accuracy (a wrong routine
    intent is a confident wrong reply, so accuracy comes first); without it, or when no
    threshold keeps that accuracy, the one maximising accuracy + recall."""
    val = [p for p in preds if p["split"] in ("val", "oos_val")]
    candidates = sorted({0.0, *(float(p["confidence"]) for p in val)})
    points = [(t, *scores(val, "val", "oos_val", t)) for t in candidates]
    if min_accuracy is not None:
        kept = [(t, acc, rec) for t, acc, rec in points if acc >= min_accuracy - 1e-9]
        if kept:
            # Highest recall; when a range of thresholds gives it, the middle of the range
            # (val cannot tell them apart, and the middle is furthest from both edges).
            best_rec = max(rec for _, _, rec in kept)
            ties = [t for t, _, rec in kept if rec >= best_rec - 1e-9]
            return (min(ties) + max(ties)) / 2
    best, best_score = 0.0, -1.0
    for t, acc, rec in points:
        if acc + rec > best_score + 1e-9:
            best, best_score = t, acc + rec
    return best


def configured_scores(preds: list[dict[str, Any]]) -> tuple[float, float]:
    """Scores with the pipeline's own FallbackClassifier decision (no tuning)."""
    ins = [p for p in preds if p["split"] == "test"]
    oos = [p for p in preds if p["split"] == "oos_test"]

    def flagged(p: dict[str, Any]) -> bool:
        return p["intent"] == OOS_INTENT or bool(p["fallback"])

    acc = sum(1 for p in ins if not flagged(p) and p["intent"] == to_rasa_intent(str(p["gold"])))
    return 100.0 * acc / len(ins), 100.0 * sum(1 for p in oos if flagged(p)) / len(oos)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def evaluate(preds: list[dict[str, Any]], min_accuracy: float | None = None) -> dict[str, Any]:
    threshold = tune_threshold(preds, min_accuracy)
    acc, rec = scores(preds, "test", "oos_test", threshold)
    val_acc, val_rec = scores(preds, "val", "oos_val", threshold)
    balanced = tune_threshold(preds)
    cfg_acc, cfg_rec = configured_scores(preds)
    ms = [1000.0 * float(p["seconds"]) for p in preds]
    rule = "max accuracy + recall"
    if min_accuracy is not None:
        rule = f"max recall at val accuracy >= {min_accuracy}"
        if threshold == balanced and val_acc < min_accuracy - 1e-9:
            rule = f"no threshold keeps val accuracy >= {min_accuracy}: max accuracy + recall"
    return {
        "threshold": round(threshold, 4),
        "threshold_rule": rule,
        "balanced_threshold": round(balanced, 4),
        "balanced_test": [round(x, 2) for x in scores(preds, "test", "oos_test", balanced)],
        "in_scope_accuracy": round(acc, 2),
        "oos_recall": round(rec, 2),
        "val_in_scope_accuracy": round(val_acc, 2),
        "val_oos_recall": round(val_rec, 2),
        "configured_in_scope_accuracy": round(cfg_acc, 2),
        "configured_oos_recall": round(cfg_rec, 2),
        "latency_ms_mean": round(sum(ms) / len(ms), 2),
        "latency_ms_p50": round(_percentile(ms, 0.5), 2),
        "latency_ms_p95": round(_percentile(ms, 0.95), 2),
        "messages_parsed": len(preds),
        "curve": [
            {
                "threshold": t,
                "val": [round(x, 2) for x in scores(preds, "val", "oos_val", t)],
                "test": [round(x, 2) for x in scores(preds, "test", "oos_test", t)],
            }
            for t in CURVE_THRESHOLDS
        ],
    }


def render_markdown(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# NLU benchmark: CLINC150 (full data, oos-train setting)",
        "",
        "In-scope accuracy on `test` (4,500) and out-of-scope recall on `oos_test` (1,000);",
        "trained on `train` + `oos_train` (`oos` as intent `out_of_scope`); a message is",
        "out-of-scope when its top intent is `out_of_scope` or its confidence is below the",
        "threshold, which is tuned on `val` + `oos_val` only: the highest OOS recall that keeps",
        "val in-scope accuracy at or above 96.0 (the rule is in each run's note below). The",
        "balanced column uses the threshold maximising val accuracy + recall instead.",
        "Latency: one in-process `Agent.parse_message` call per message, all 8,600 eval messages.",
        "Regenerate: `.venv/bin/python bench/nlu_clinc150.py --pipeline <name>`.",
        "",
        "| pipeline | in-scope acc. | OOS recall | threshold | balanced (threshold: acc. / "
        "recall) | as configured (acc. / recall) | training wall (CPU) | model size "
        "| latency mean / p95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    finished = {n: r for n, r in results.items() if r.get("status", "complete") == "complete"}
    for name, r in finished.items():
        lines.append(
            f"| {name} | {r['in_scope_accuracy']:.1f} | {r['oos_recall']:.1f} "
            f"| {r['threshold']:.3f} "
            f"| {_balanced_cell(r)} "
            f"| {r['configured_in_scope_accuracy']:.1f} / {r['configured_oos_recall']:.1f} "
            f"| {float(r['train_seconds']) / 60:.1f} min "
            f"({float(r.get('train_cpu_seconds', float('nan'))) / 60:.1f} min CPU) "
            f"| {float(r['model_mb']):.1f} MB "
            f"| {r['latency_ms_mean']:.1f} / {r['latency_ms_p95']:.1f} ms |"
        )
    for name, r in results.items():
        if name not in finished:
            lines.append(f"| {name} | did not finish: {r.get('note', '')} | | | | | | | |")
    for name, acc, rec in PUBLISHED:
        lines.append(f"| published: {name} | {acc:.1f} | {rec:.1f} | | | | | | |")
    lines.append(
        "| earlier measurement: Rasa 3.6.21 default pipeline, 2 cores | 88.4 | 44.6 | 0.3 (as "
        "configured) | | | 72 min | | 11.6 ms |"
    )
    lines += ["", "Published: Larson et al. 2019, EMNLP, Table 2 (full data).", ""]
    lines += [
        "## Trade-off: in-scope accuracy / OOS recall at fixed thresholds (val; test)",
        "",
        "| pipeline | " + " | ".join(f"t={t}" for t in CURVE_THRESHOLDS) + " |",
        "|---|" + "---|" * len(CURVE_THRESHOLDS),
    ]
    for name, r in finished.items():
        points = r.get("curve") or []
        assert isinstance(points, list)
        cells = [
            f"{p['val'][0]:.1f}/{p['val'][1]:.1f}; {p['test'][0]:.1f}/{p['test'][1]:.1f}"
            for p in points
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Runs", ""]
    for name, r in finished.items():
        m = r["machine"]
        assert isinstance(m, dict)
        lines.append(
            f"- **{name}** ({r['config']}), {r['finished']}: {m['cpu']}, {m['cores']} cores, "
            f"{m['ram_gb']} GB RAM, {m['os']}; load average at start {m['load_avg_at_start']}; "
            f"threshold rule: {r.get('threshold_rule', 'max accuracy + recall')}; "
            f"val at threshold {r['val_in_scope_accuracy']:.1f} / {r['val_oos_recall']:.1f}."
            + (f" {r['note']}" if r.get("note") else "")
        )
    return "\n".join(lines) + "\n"


def _balanced_cell(r: dict[str, Any]) -> str:
    if "balanced_test" not in r:
        return "n/a"
    acc, rec = r["balanced_test"]
    return f"{float(r['balanced_threshold']):.3f}: {acc:.1f} / {rec:.1f}"


def write_results(name: str, entry: dict[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / "nlu_clinc150.json"
    results: dict[str, dict[str, Any]] = {}
    if json_path.is_file():
        results = json.loads(json_path.read_text(encoding="utf-8"))
    results[name] = entry
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    md_path = results_dir / "nlu_clinc150.md"
    md_path.write_text(render_markdown(results), encoding="utf-8")
    return md_path


def run(args: argparse.Namespace) -> int:
    name, config = resolve_pipeline(args.pipeline)
    name = args.name or name
    data = load_clinc(args.data)
    work = (args.work_dir or ROOT / "var" / "bench" / "nlu_clinc150" / name).resolve()
    if work.exists() and not args.model:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "bench.log"
    # A fresh training cache per run: training time is then never a cache hit.
    env = {**os.environ, **QUIET_ENV, "RASA_CACHE_DIRECTORY": str(work / "cache")}
    machine = machine_info()
    print(f"[{name}] config {config}; work dir {work}; log {log}", flush=True)

    if args.model:
        model, train_seconds = args.model.resolve(), float("nan")
        train_cpu_seconds = float("nan")
    else:
        nlu_file = work / "data" / "nlu.yml"
        nlu_file.parent.mkdir(parents=True, exist_ok=True)
        nlu_file.write_text(nlu_yaml(data["train"] + data["oos_train"]), encoding="utf-8")
        shutil.copy(config, work / "config.yml")
        print(
            f"[{name}] training on {len(data['train']) + len(data['oos_train'])} examples",
            flush=True,
        )
        model, train_seconds, train_cpu_seconds = train(
            work / "config.yml", nlu_file, work / "models", log, env
        )
        print(f"[{name}] trained in {train_seconds / 60:.1f} min", flush=True)

    preds = predict(model, data, work, log, env)
    entry: dict[str, Any] = {
        **evaluate(preds, args.min_accuracy if args.min_accuracy > 0 else None),
        "config": str(config.relative_to(ROOT)) if config.is_relative_to(ROOT) else str(config),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1),
        "model_mb": round(model.stat().st_size / 1e6, 2),
        "machine": machine,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if args.note:
        entry["note"] = args.note
    md = write_results(name, entry, args.results_dir)
    print(
        f"[{name}] in-scope accuracy {entry['in_scope_accuracy']}, OOS recall "
        f"{entry['oos_recall']} at threshold {entry['threshold']}; results in {md}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("CLINC150_DATA", str(DEFAULT_DATA))),
        help="CLINC150 data_full.json (default: $CLINC150_DATA or ../shared/bench-data/...)",
    )
    parser.add_argument(
        "--pipeline",
        default="parley",
        help="'parley' (the shipped config.yml), 'baseline' (Rasa's default pipeline, "
        "bench/configs/baseline.yml) or a path to a Rasa config file (default: parley)",
    )
    parser.add_argument(
        "--out",
        dest="results_dir",
        type=Path,
        default=RESULTS_DIR,
        help="folder for nlu_clinc150.md/.json (default: bench/results)",
    )
    parser.add_argument(
        "--name", default=None, help="label of the results entry (default: the pipeline name)"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="scratch folder for data, model, logs (default: var/bench/nlu_clinc150/<name>)",
    )
    parser.add_argument("--note", default="", help="a remark printed with this run's results")
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=96.0,
        help="tune the threshold for the highest val OOS recall that keeps val in-scope "
        "accuracy at or above this (percent; default 96.0); 0: maximise accuracy + recall",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="evaluate this already trained model instead of training (training time: n/a)",
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
