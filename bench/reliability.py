"""The reliability campaign: hostile inputs, faults and load through the real stack.

    .venv/bin/python bench/reliability.py --part all           # the campaign (about 30 min)
    .venv/bin/python bench/reliability.py --trial --part all   # tiny sizes (about 5 min)
    .venv/bin/python bench/reliability.py --part hostile --hostile 300

Starts the whole stack (Rasa, action server, handoff service, widget server) on free
loopback ports with its own state folder, the handoff service posting to a local mock of
Slack's Web API and the answerer and handoff summaries calling a local OpenAI-compatible
fake that parrots the customer's words. Nothing leaves 127.0.0.1.

Parts (--part; `all` runs them in this order on one stack):
  hostile  >= 1,500 distinct hostile messages (bench/hostile_inputs.py: HTML/JS, Slack
           mentions and links, prompt injection, 20k and 1 MB floods, RTL overrides,
           zero-width, SQL and template probes, control characters, card numbers and IBANs,
           mixes, hostile widget metadata), each over REST in its own conversation, a share
           also over socket.io, some followed by or sent during a handoff. Targets: 0 crashes,
           0 empty replies, 0 raw markup reaching the widget, 0 unescaped mentions or links
           reaching Slack, 0 card numbers or IBANs in Slack, the LLM requests, the logs, the
           tracker store or the handoff database.
  faults   kill -9 and restart the action server, Rasa, the handoff service; Slack 503 and
           429 storms; the handoff database locked, while customers write and an agent
           replies. Targets: 0 lost customer messages, 0 lost or duplicated handoffs or agent
           replies; recovery times.
  load     N customers at once over REST for T seconds: errors, p50/p95/p99 per message,
           messages per second, memory of every process at the start and the end.

Results: bench/results/reliability.md and .json (--out-dir, --name), with the machine, each
figure next to its target and what is not covered. Exit status 0 even when targets are
missed (the results say which); --strict exits 1 then.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.hostile_inputs import FULL_SET, SEED, generate, select  # noqa: E402
from bench.reliability_checks import zero_check  # noqa: E402
from bench.reliability_faults import run_faults  # noqa: E402
from bench.reliability_hostile import run_hostile  # noqa: E402
from bench.reliability_load import run_load  # noqa: E402
from bench.reliability_report import PartResult, started_now, write_report  # noqa: E402
from bench.reliability_rig import (  # noqa: E402
    Rig,
    customer_address,
    rest_send,
    running_rig,
    support_questions,
)

PARTS = ("hostile", "faults", "load")
TRIAL = {
    "hostile": 50,
    "load_clients": 10,
    "load_seconds": 20.0,
    "storm_seconds": 5.0,
    "lock_seconds": 3.0,
    "settle_seconds": 60.0,
    "retry_window": 90.0,
    "drain_seconds": 60.0,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/reliability.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--part", choices=[*PARTS, "all"], default="all", help="default: all")
    p.add_argument(
        "--trial",
        action="store_true",
        help="tiny sizes for a quick end-to-end check: "
        + ", ".join(f"{k}={v}" for k, v in TRIAL.items()),
    )
    g = p.add_argument_group("hostile inputs")
    g.add_argument(
        "--hostile",
        type=int,
        default=sum(FULL_SET.values()),
        help=f"how many (round-robin over the families; default all {sum(FULL_SET.values())})",
    )
    g.add_argument("--socketio-share", type=float, default=0.2, help="also over socket.io (0.2)")
    g.add_argument("--hostile-workers", type=int, default=3, help="conversations at once (3)")
    g.add_argument("--seed", type=int, default=SEED, help="of the hostile set")
    g = p.add_argument_group("faults")
    g.add_argument("--fault-customers", type=int, default=6, help="steady customers (6)")
    g.add_argument("--storm-seconds", type=float, default=15.0, help="each Slack storm (15)")
    g.add_argument("--lock-seconds", type=float, default=5.0, help="database lock (5)")
    g.add_argument("--downtime", type=float, default=2.0, help="kill → restart (2 s)")
    g.add_argument(
        "--retry-window", type=float, default=120.0, help="customers and Slack resend for (120 s)"
    )
    g.add_argument(
        "--settle-seconds", type=float, default=120.0, help="max wait after each fault (120 s)"
    )
    g = p.add_argument_group("load")
    g.add_argument("--load-clients", type=int, default=200, help="customers at once (200)")
    g.add_argument("--load-seconds", type=float, default=300.0, help="how long (300 s)")
    g.add_argument(
        "--think-seconds", type=float, default=2.0, help="between a reply and the next (2 s)"
    )
    g = p.add_argument_group("output")
    g.add_argument("--drain-seconds", type=float, default=120.0, help="max wait for the outbox")
    g.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    g.add_argument("--name", default="reliability", help="results file name (reliability)")
    g.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    g.add_argument(
        "--keep-state",
        type=Path,
        default=None,
        help="copy the stack's state folder (logs, SQLite databases) here before it is deleted",
    )
    return p


def apply_trial(args: argparse.Namespace, argv: list[str]) -> None:
    """--trial sets the tiny sizes, except those given explicitly on the command line."""
    if not args.trial:
        return
    for key, value in TRIAL.items():
        if f"--{key.replace('_', '-')}" not in argv:
            setattr(args, key, value)


def warm_up(rig: Rig) -> None:
    """The answerer loads on the first question: do that before anything is measured."""
    with httpx.Client() as client:
        for i, question in enumerate(support_questions()[:3]):
            rest_send(
                client, rig.rasa_url, f"warmup-{i}", question, timeout=240,
                address=customer_address(9, i),
            )  # fmt: skip


def run_part(name: str, rig: Rig, args: argparse.Namespace, run_id: str) -> PartResult:
    print(f"\n== {name}", flush=True)
    try:
        if name == "hostile":
            inputs = select(generate(args.seed), args.hostile)
            hostile = run_hostile(rig, inputs, args, f"{run_id}h")
            return PartResult(name, hostile.checks, hostile.figures)
        if name == "faults":
            checks, figures = run_faults(rig, args, f"{run_id}f")
            return PartResult(name, checks, figures)
        checks, figures = run_load(rig, args, f"{run_id}l")
        return PartResult(name, checks, figures)
    except Exception as exc:  # noqa: BLE001 - report the part as failed, run the others
        traceback.print_exc()
        return PartResult(name, error=f"{type(exc).__name__}: {exc}"[:500])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    apply_trial(args, argv)
    names = list(PARTS) if args.part == "all" else [args.part]
    sizes: dict[str, Any] = {
        k: getattr(args, k)
        for k in (
            "hostile", "socketio_share", "hostile_workers", "seed", "fault_customers",
            "storm_seconds", "lock_seconds", "downtime", "retry_window", "settle_seconds",
            "load_clients", "load_seconds", "think_seconds", "drain_seconds",
        )
    }  # fmt: skip
    started = started_now()
    t0 = time.monotonic()
    run_id = f"rel{int(time.time())}"
    results: list[PartResult] = []
    env: dict[str, str] = {}
    print("Starting the stack (Rasa loads its model: about a minute)…", flush=True)
    try:
        with running_rig() as rig:
            env = rig.env
            warm_up(rig)
            for name in names:
                results.append(run_part(name, rig, args, run_id))
            died = rig.crashed()
            if args.keep_state:
                keep_state(rig, args.keep_state)
            results.append(
                PartResult(
                    "stack",
                    [zero_check("stack processes dead at the end", [died] if died else [])],
                )
            )
    except Exception as exc:  # noqa: BLE001 - the stack did not start: say so in the results
        traceback.print_exc()
        results.append(PartResult("stack", error=f"{type(exc).__name__}: {exc}"[:500]))
    command = "bench/reliability.py " + shlex.join(argv)
    md, js = write_report(
        args.out_dir, args.name, command.strip(), results, sizes, env, started,
        time.monotonic() - t0,
    )  # fmt: skip
    print_summary(results)
    print(f"\nResults: {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md}, {js.name}")
    missed = any(p.error or any(c.passed is False for c in p.checks) for p in results)
    return 1 if (args.strict and missed) else 0


def keep_state(rig: Rig, target: Path) -> None:
    """A copy of the state folder for a post-mortem (SQLite's WAL files included)."""
    shutil.copytree(rig.state_dir, target, dirs_exist_ok=True)
    print(f"State folder copied to {target}", flush=True)


def print_summary(results: list[PartResult]) -> None:
    print("\n== Summary")
    for p in results:
        if p.error:
            print(f"  [FAILED TO RUN] {p.name}: {p.error}")
        for c in p.checks:
            mark = {None: "  --  ", True: "  ok  ", False: " MISS "}[c.passed]
            target = f" (target {c.target})" if c.target else ""
            print(f"{mark} {p.name}: {c.name}: {c.value:g}{target}")
            if c.passed is False:
                for e in c.examples[:2]:
                    print(f"         e.g. {e[:160]}")


if __name__ == "__main__":
    sys.exit(main())
