"""Latency of a knowledge answer through the Rasa REST channel (offline answerer, no LLM).

    .venv/bin/python bench/knowledge_latency.py [--n 200]

Starts the real stack (Rasa server + action server) on free ports, asks questions from the
labelled sets over REST (each in a fresh conversation after a greeting), and reports the
round-trip percentiles of the question's request: English questions (read with MiniLM) and
German, Spanish, French, Chinese and Japanese ones (read with e5; bench/knowledge_qa_multilingual
.yaml), alternately. Target: p95 <= 150 ms on 2 cores.

Where the time goes: for each question it also times Rasa's NLU alone (POST /model/parse) and
the action server alone (POST /webhook with the action's request), and, in this process, the
answerer's steps (query embedding, retrieval, the whole answer).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.knowledge_common import write_results  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def action_request(sender: str, question: str) -> dict[str, Any]:
    """What Rasa sends the action server for the knowledge action (a minimal tracker)."""
    return {
        "next_action": "action_answer_from_knowledge",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": question, "intent": {}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
    }


def answerer_steps(questions: list[str], rounds: int = 2) -> dict[str, list[float]]:
    """The answerer's own steps, timed in this process on one BLAS thread, as the action does."""
    from parley_shared.language import detect

    from actions.knowledge_answer import answer_question
    from knowledge.service import KnowledgeService
    from knowledge.settings import KnowledgeSettings

    steps: dict[str, list[float]] = {"query embedding": [], "retrieval": [], "whole answer": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        shutil.copytree(ROOT / "knowledge" / "articles", folder)
        settings = replace(
            KnowledgeSettings(), knowledge_dir=folder, state_dir=Path(tmp), watch=False
        )
        svc = KnowledgeService(settings)
        svc.sync()
        for q in questions[:5]:
            answer_question(svc, q)
        for q in questions * rounds:
            lang = detect(q)
            t = time.perf_counter()
            vector = svc.embeddings.embed_query_with(q, svc.reading(lang))  # type: ignore[attr-defined]
            steps["query embedding"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            svc.retriever.search(q, vector=vector, language=lang)
            steps["retrieval"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            answer_question(svc, q)
            steps["whole answer"].append((time.perf_counter() - t) * 1000)
        svc.stop()
    return steps


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=200, help="questions to time (default 200)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from tests.integration.stack import start_stack

    qa = yaml.safe_load((ROOT / "bench" / "knowledge_qa_set.yaml").read_text())
    multi = yaml.safe_load((ROOT / "bench" / "knowledge_qa_multilingual.yaml").read_text())
    english = [x["q"] for x in qa["answerable"]]
    others = [x["q"] for x in multi["answerable"] if x["lang"] != "en"]
    # English and another language in turn.
    questions = [q for pair in zip(english, others, strict=False) for q in pair]
    group = {q: "English" for q in english} | {q: "other five languages" for q in others}
    by_group: dict[str, list[float]] = {"English": [], "other five languages": []}
    timings: list[float] = []
    parts: dict[str, list[float]] = {"Rasa NLU alone (/model/parse)": [], "action server alone": []}
    kinds: dict[str, int] = {}
    with start_stack({"OPENAI_API_KEY": ""}) as stack:
        parse_url = f"{stack.rasa_url}/model/parse?token={stack.token}"
        action_url = f"{stack.settings.actions_url}/webhook"
        # Warm-up until steady: the first question loads the answerer, which then embeds
        # every passage's sentences with both encoders in the background (tens of seconds);
        # a latency measured meanwhile measures that. Ten answers in a row under 300 ms, or
        # three minutes at most.
        steady, started, i = 0, time.monotonic(), 0
        while steady < 10 and time.monotonic() - started < 180:
            t = time.perf_counter()
            stack.send(f"warm-{i}", questions[i % len(questions)])
            steady = steady + 1 if (time.perf_counter() - t) < 0.3 else 0
            i += 1
        warm_up = time.monotonic() - started
        for i in range(args.n):
            sender = f"lat-{uuid.uuid4().hex[:8]}"
            question = questions[i % len(questions)]
            stack.send(sender, "hi")
            t = time.perf_counter()
            replies = stack.send(sender, question)
            timings.append((time.perf_counter() - t) * 1000)
            by_group[group[question]].append(timings[-1])
            for r in replies:
                if "custom" in r:
                    kinds[r["custom"]["answer_type"]] = kinds.get(r["custom"]["answer_type"], 0) + 1
            t = time.perf_counter()
            post(parse_url, {"text": question})
            parts["Rasa NLU alone (/model/parse)"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            post(action_url, action_request(sender, question))
            parts["action server alone"].append((time.perf_counter() - t) * 1000)
    steps = answerer_steps(questions)
    p50, p95, p99 = pct(timings, 50), pct(timings, 95), pct(timings, 99)
    md = (
        "\n".join(
            [
                "# Knowledge answer latency through the Rasa REST channel",
                "",
                "{HEADER}",
                f"{len(timings)} answerable questions, English (`bench/knowledge_qa_set.yaml`) "
                "and German, Spanish, French, Chinese or Japanese "
                "(`bench/knowledge_qa_multilingual.yaml`) in turn, each in a "
                "new conversation after a greeting; time of the question's POST "
                "/webhooks/rest/webhook round trip (NLU, policies, action server call, retrieval, "
                "answer). Offline extractive answerer, no LLM. Target: p95 <= 150 ms. "
                f"Measured after a warm-up of {warm_up:.0f} s (until ten answers in a row "
                "took under 300 ms: the answerer embeds every passage's sentences once after "
                "it starts).",
                "",
                "| p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | mean (ms) | answer types |",
                "|---|---|---|---|---|---|",
                f"| {p50:.0f} | {p95:.0f} | {p99:.0f} | {max(timings):.0f} | "
                f"{statistics.mean(timings):.0f} | {kinds} |",
                "",
                "| questions | n | p50 (ms) | p95 (ms) |",
                "|---|---|---|---|",
                *[
                    f"| {k} | {len(v)} | {pct(v, 50):.0f} | {pct(v, 95):.0f} |"
                    for k, v in by_group.items()
                    if v
                ],
                "",
                "Where the time goes (same questions; the parts are timed one by one, so they do "
                "not add up exactly: the rest of a round trip is Rasa's policies, tracker and "
                "HTTP handling):",
                "",
                "| part | p50 (ms) | p95 (ms) |",
                "|---|---|---|",
                f"| whole REST round trip | {p50:.1f} | {p95:.1f} |",
                *[f"| {k} | {pct(v, 50):.1f} | {pct(v, 95):.1f} |" for k, v in parts.items()],
                *[
                    f"| answerer in-process: {k} | {pct(v, 50):.1f} | {pct(v, 95):.1f} |"
                    for k, v in steps.items()
                ],
            ]
        )
        + "\n"
    )
    print(md.replace("{HEADER}", ""))
    if not args.no_write:
        write_results(
            "knowledge_latency",
            md,
            {
                "ms": timings,
                "p50": p50,
                "p95": p95,
                "p99": p99,
                "answer_types": kinds,
                "parts_ms": parts,
                "answerer_steps_ms": steps,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
