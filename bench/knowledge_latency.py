"""Latency of a knowledge answer through the Rasa REST channel (offline answerer, no LLM).

    .venv/bin/python bench/knowledge_latency.py [--n 200]

Starts the real stack (Rasa server + action server) on free ports, asks questions from the
labelled set over REST (each in a fresh conversation after a greeting), and reports the
round-trip percentiles of the question's request. Target: p95 <= 150 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=200, help="questions to time (default 200)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from tests.integration.stack import start_stack

    qa = yaml.safe_load((ROOT / "bench" / "knowledge_qa_set.yaml").read_text())
    questions = [x["q"] for x in qa["answerable"]]
    timings: list[float] = []
    kinds: dict[str, int] = {}
    with start_stack({"OPENAI_API_KEY": ""}) as stack:
        for i in range(5):  # warm-up
            stack.send(f"warm-{i}", questions[i])
        for i in range(args.n):
            sender = f"lat-{uuid.uuid4().hex[:8]}"
            stack.send(sender, "hi")
            t = time.perf_counter()
            replies = stack.send(sender, questions[i % len(questions)])
            timings.append((time.perf_counter() - t) * 1000)
            for r in replies:
                if "custom" in r:
                    kinds[r["custom"]["answer_type"]] = kinds.get(r["custom"]["answer_type"], 0) + 1
    p50, p95, p99 = pct(timings, 50), pct(timings, 95), pct(timings, 99)
    md = (
        "\n".join(
            [
                "# Knowledge answer latency through the Rasa REST channel",
                "",
                "{HEADER}",
                f"{len(timings)} questions from `bench/knowledge_qa_set.yaml` (answerable), "
                "each in a "
                "new conversation after a greeting; time of the question's POST "
                "/webhooks/rest/webhook round trip (NLU, policies, action server call, retrieval, "
                "answer). Offline extractive answerer, no LLM. Target: p95 <= 150 ms.",
                "",
                "| p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | mean (ms) | answer types |",
                "|---|---|---|---|---|---|",
                f"| {p50:.0f} | {p95:.0f} | {p99:.0f} | {max(timings):.0f} | "
                f"{statistics.mean(timings):.0f} | {kinds} |",
            ]
        )
        + "\n"
    )
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        write_results(
            "knowledge_latency",
            md,
            {"ms": timings, "p50": p50, "p95": p95, "p99": p99, "answer_types": kinds},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
