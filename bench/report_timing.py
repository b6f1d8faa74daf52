"""Time of the support lead's report (`python -m handoff report`) over 100,000 conversations.

    .venv/bin/python bench/report_timing.py [--conversations 100000] [--runs 3]

Fills a temporary SQLite handoff database with synthetic rows in realistic proportions
(conversations over 30 days, handoffs, knowledge answers, answer feedback; bulk inserts),
then times, a few times each:
  * in one process: the figures (`build_report`), the HTML page (charts included), both;
  * the whole command in a fresh process, `python -m handoff report --since 30d --out …`,
    as a person runs it (interpreter start, imports and matplotlib's first use included).
Target: the report, HTML included, in <= 10 s. Results go to
bench/results/report_timing.{json,md} with the machine noted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from handoff.db import Database  # noqa: E402
from handoff.models import AnswerFeedback, Conversation, Handoff, KnowledgeAnswer  # noqa: E402
from handoff.report import build_report, resolve_period  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_S = 10.0
DAYS = 30
TRIGGERS = [
    ("explicit_request", 50),
    ("abstentions", 25),
    ("frustration", 12),
    ("loop", 8),
    ("sensitive_topic", 5),
]
AGENTS = ["Ana", "Bo", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana"]
ARTICLES = [(f"articles/topic-{i:03d}.md", f"Topic {i}") for i in range(150)]
QUESTIONS = [f"Do you offer service number {i} in my country" for i in range(400)]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def fill(db: Database, n: int, now: datetime, seed: int = 7) -> dict[str, int]:
    """`n` synthetic conversations over the last DAYS days, with their handoffs, knowledge
    answers and feedback. Returns the row counts."""
    rng = random.Random(seed)
    conversations: list[dict[str, Any]] = []
    handoffs: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    span = DAYS * 86400
    for cid in range(1, n + 1):
        started = now - timedelta(seconds=rng.uniform(60, span - 600))
        sender = f"bench-{cid:07d}"
        first_bot = started + timedelta(seconds=rng.lognormvariate(0.0, 0.5))
        roll = rng.random()
        open_ = (now - started).total_seconds() < 3600 * 2
        handed_off = roll < 0.27
        outcome: str | None
        if handed_off:
            outcome = _pick(
                rng,
                [("resolved_by_human", 70), ("unresolved", 18), ("abandoned", 12)],
            )
        else:
            outcome = "resolved_by_bot" if rng.random() < 0.88 else "unresolved"
        if open_:
            outcome = None
        episodes = (2 if rng.random() < 0.06 else 1) if handed_off else 0
        last = first_bot + timedelta(seconds=rng.uniform(20, 600))
        for e in range(episodes):
            queued = last + timedelta(seconds=rng.uniform(5, 120))
            claimed = queued + timedelta(seconds=rng.lognormvariate(4.0, 1.0))
            final = e == episodes - 1
            abandoned = final and outcome == "abandoned"
            replied = None if abandoned else claimed + timedelta(seconds=rng.uniform(10, 90))
            resolved = (replied or claimed) + timedelta(seconds=rng.lognormvariate(6.0, 0.8))
            handoffs.append(
                {
                    "conversation_id": cid,
                    "sender_id": sender,
                    "state": "closed",
                    "trigger": _pick(rng, TRIGGERS),
                    "trigger_confidence": 0.9,
                    "trigger_detail": "",
                    "packet": {},
                    "transcript_until": 0.0,
                    "agent_id": None if abandoned else "U1",
                    "agent_name": None if abandoned else rng.choice(AGENTS),
                    "queued_at": queued,
                    "claimed_at": None if abandoned else claimed,
                    "first_agent_reply_at": replied,
                    "resolved_at": resolved,
                    "resolution": None if abandoned else "resolved",
                    "ended_as": "bot",
                    "last_activity_at": resolved,
                }
            )
            last = resolved
        csat = None
        if outcome and rng.random() < 0.22:
            good = outcome in ("resolved_by_bot", "resolved_by_human")
            csat = rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 6] if good else [4, 3, 2, 1, 1])[0]
        conversations.append(
            {
                "id": cid,
                "sender_id": sender,
                "state": "bot",
                "outcome": outcome,
                "started_at": started,
                "first_bot_response_at": first_bot,
                "last_activity_at": last,
                "last_bot_abstained": 0,
                "ended_at": None if open_ else last + timedelta(minutes=30),
                "csat": csat,
                "handoff_count": episodes,
            }
        )
        for q in range(rng.choice([0, 1, 1, 2, 2, 3])):
            kind = _pick(rng, [("kb", 60), ("suggest", 15), ("abstain", 25)])
            at = started + timedelta(seconds=5 + 40 * q)
            path, title = rng.choice(ARTICLES) if kind != "abstain" else (None, None)
            question = rng.choice(QUESTIONS)
            answers.append(
                {
                    "sender_id": sender,
                    "question": question if rng.random() < 0.5 else question.lower() + "?",
                    "answer_type": kind,
                    "article_path": path,
                    "article_title": title,
                    "confidence": 0.6,
                    "created_at": at,
                    "source_key": f"{sender}:{q}",
                }
            )
            if path and rng.random() < 0.1:
                feedback.append(
                    {
                        "sender_id": sender,
                        "question": question,
                        "article_path": path,
                        "article_version": "v1",
                        "answer_type": kind,
                        "confidence": 0.6,
                        "verdict": "yes" if rng.random() < 0.7 else "no",
                        "created_at": at + timedelta(seconds=20),
                    }
                )
    with db.engine.begin() as conn:
        conn.execute(insert(Conversation), conversations)
        conn.execute(insert(Handoff), handoffs)
        conn.execute(insert(KnowledgeAnswer), answers)
        conn.execute(insert(AnswerFeedback), feedback)
    return {
        "conversations": len(conversations),
        "handoffs": len(handoffs),
        "knowledge_answers": len(answers),
        "answer_feedback": len(feedback),
    }


def seconds(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 2),
        "min_s": round(min(values), 2),
        "max_s": round(max(values), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="parley-report-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'handoff.db'}"
        db = Database(url)
        now = datetime.now(UTC).replace(tzinfo=None)
        t0 = time.perf_counter()
        rows = fill(db, args.conversations, now)
        fill_s = time.perf_counter() - t0
        print(f"Filled {rows} in {fill_s:.1f} s")
        period = resolve_period("30d", now=now + timedelta(minutes=1))

        import_started = time.perf_counter()
        from handoff.report_html import render_html  # matplotlib's first import

        import_s = time.perf_counter() - import_started
        figures_s, html_s, total_s = [], [], []
        size = 0
        for run in range(args.runs):
            t0 = time.perf_counter()
            report = build_report(db, period)
            t1 = time.perf_counter()
            page = render_html(report)
            t2 = time.perf_counter()
            figures_s.append(t1 - t0)
            html_s.append(t2 - t1)
            total_s.append(t2 - t0)
            size = len(page.encode())
            print(f"run {run + 1}: figures {t1 - t0:.2f} s, page {t2 - t1:.2f} s")
        assert report["figures"]["conversations"]["total"] == args.conversations
        db.dispose()

        cli_s = []
        env = {**os.environ, "HANDOFF_DB_URL": url, "PARLEY_STATE_DIR": tmp}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "handoff", "report", "--since", "30d", "--out"]
                + [str(Path(tmp) / "report.html")],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            cli_s.append(time.perf_counter() - t0)
            print(f"command: {cli_s[-1]:.2f} s")

    result = {
        "benchmark": "support report generation (python -m handoff report)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "rows": rows,
        "period_days": DAYS,
        "runs": args.runs,
        "fill_s": round(fill_s, 1),
        "matplotlib_import_s": round(import_s, 2),
        "figures": seconds(figures_s),
        "html_page": seconds(html_s),
        "figures_and_html": seconds(total_s),
        "whole_command_fresh_process": seconds(cli_s),
        "html_bytes": size,
        "target_s": TARGET_S,
        "met": max(cli_s) <= TARGET_S and max(total_s) <= TARGET_S,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report_timing.json").write_text(json.dumps(result, indent=2) + "\n")
    m, r = result["machine"], rows
    f, h, t, c = (
        result[k]
        for k in ("figures", "html_page", "figures_and_html", "whole_command_fresh_process")
    )
    target = f"≤ {TARGET_S:g} s"

    def row(step: str, took: dict[str, float], target: str = "") -> str:
        return f"| {step} | {took['median_s']} | {took['min_s']} | {took['max_s']} | {target} |"

    md = f"""# Support report generation time

The support lead's report (`python -m handoff report`) over {r["conversations"]:,} synthetic
conversations started in the last {DAYS} days, with {r["handoffs"]:,} handoffs,
{r["knowledge_answers"]:,} knowledge answers and {r["answer_feedback"]:,} answer feedback
verdicts, in a SQLite handoff database. Run: `.venv/bin/python bench/report_timing.py`
({args.runs} runs each).

Machine: {m["platform"]}, {m["cpus"]} CPUs ({m["cpu"]}), Python {m["python"]};
1-minute load average at the end: {m["load_average_1m_at_end"]} (the machine is shared).
Date: {result["date"]}.

| Step | median s | min s | max s | target |
|---|---|---|---|---|
{row("figures (`build_report`: queries and arithmetic)", f)}
{row("HTML page (7 matplotlib SVG charts, tables)", h)}
{row("figures + HTML, in one process", t, target)}
{row("whole command in a fresh process", c, target)}

The whole command is `python -m handoff report --since 30d --out report.html`: interpreter
start, imports (importing the page's module, matplotlib included, took
{result["matplotlib_import_s"]} s in the timing process), figures, charts and writing the
page ({result["html_bytes"]:,} bytes). Target met: {"yes" if result["met"] else "no"}.
"""
    (RESULTS / "report_timing.md").write_text(md)
    print(json.dumps({k: result[k] for k in ("figures_and_html", "whole_command_fresh_process")}))


if __name__ == "__main__":
    main()
