"""Scale: messages per second and latency under load, one Rasa + one action server vs. two of
each, beside a bare Rasa 3.6 `rasa init` bot in the same run.

    .venv/bin/python bench/scale.py            # the full run (about 20 min on 2 cores)
    .venv/bin/python bench/scale.py --quick    # a smoke run (a few minutes), writes nothing

Configurations, all started before the first measurement and measured in turn:

  baseline  a bare `rasa init --no-prompt` project (DIET + TED, in-memory tracker store), built
            and trained in a temporary folder for this run, served by `rasa run --enable-api`
            with its REST channel; its default intents need no action server
  sqlite    ours, one Rasa + one action server + one handoff service, the shipped single-
            machine set-up (SQLite tracker store and event broker)
  pg-1      ours, one of each, on PostgreSQL (tracker store, SQL event broker, handoff
            database) and Redis (lock store, rate limits): the same servers as pg-2
  pg-2      ours, two Rasa servers, two action servers and two handoff services on the same
            PostgreSQL and Redis; every conversation's messages go alternately to both Rasa
            servers (the Redis lock store keeps one conversation's turns in order)

PostgreSQL and Redis are throw-away servers on loopback (scripts/servers.py). Every client is
a closed loop: it sends its conversation's next message when the previous reply has arrived,
with no think time; each conversation is a fresh sender id and five routine messages both bots
understand (greeting, "are you a bot?", yes, "am I talking to a bot?", goodbye). Loads: 1
client (sequential), 32 and 200 concurrent conversations. The measurement at each load is
split into rounds, and within a round the configurations take turns, so that other work on a
shared machine falls on all of them alike. Target: ours' p95 <= 1.2 x the baseline's at the
same load, sequential and at 32 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import git_revision, machine, percentile  # noqa: E402
from scripts.stack import (  # noqa: E402
    QUIET_ENV,
    RASA_BIN,
    Settings,
    Stack,
    ensure_model,
    free_port,
    launch,
    stop_processes,
)

RESULTS = ROOT / "bench" / "results"
NAME = "scale"
TARGET_RATIO = 1.2
REQUEST_TIMEOUT = 60.0
CONFIGS = ("baseline", "sqlite", "pg-1", "pg-2")
LABELS = {
    "baseline": "bare `rasa init` bot (1 Rasa, in-memory tracker)",
    "sqlite": "ours, 1 Rasa + 1 action server, SQLite (shipped default)",
    "pg-1": "ours, 1 Rasa + 1 action server, PostgreSQL + Redis",
    "pg-2": "ours, 2 Rasa + 2 action servers, PostgreSQL + Redis",
}
# One conversation: messages whose intents both bots were trained on (ours: bot/data/nlu.yml;
# rasa init: greet, bot_challenge, affirm, deny, goodbye), each a training example of both.
# Both answer every one of them (rasa init's bot has no reply to a "no" out of its mood story).
CONVERSATION = ("hello", "are you a bot?", "yes", "am I talking to a bot?", "goodbye")
EXPECTED_INTENTS = ("greet", "bot_challenge", "affirm", "bot_challenge", "goodbye")
# One BLAS/OpenMP/TensorFlow thread per process, for both bots alike: several processes share
# two cores, and thread pools sized to the machine in each of them only contend.
THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # Rasa's names for TensorFlow's thread pools (rasa/utils/tensorflow/environment.py).
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
}
# The load generator is one address sending as fast as replies come: the message guard's rate
# limits (bot/channel_guard.py) would refuse it, so they are off; its other checks still run.
UNLIMITED_RATES = {
    "PARLEY_RATE_PER_CONVERSATION": "0",
    "PARLEY_RATE_PER_ADDRESS": "0",
    "WIDGET_API_RATE_PER_SESSION": "0",
    "WIDGET_API_RATE_PER_ADDRESS": "0",
}


def log(message: str) -> None:
    tqdm.write(f"[scale {time.strftime('%H:%M:%S')}] {message}")


# --- the bots ----------------------------------------------------------------------------


@dataclass
class Bot:
    name: str
    rasa_urls: list[str]
    token: str = ""
    started_s: float = 0.0


class Baseline:
    """A bare `rasa init` project, trained in `folder` (or reused from it), served on a free
    port with its REST channel."""

    def __init__(self, folder: Path, reuse: bool) -> None:
        self.folder = folder
        self.reuse = reuse
        self.process: subprocess.Popen[str] | None = None
        self.train_s = 0.0

    def env(self) -> dict[str, str]:
        return {**os.environ, **QUIET_ENV, **THREAD_ENV}

    def build(self) -> None:
        if self.reuse and any((self.folder / "models").glob("*.tar.gz")):
            log(f"baseline: reusing the trained rasa init project in {self.folder}")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        log("baseline: rasa init --no-prompt (trains DIET + TED; a minute or more)")
        began = time.monotonic()
        with open(self.folder.parent / "baseline-init.log", "w") as out:
            done = subprocess.run(
                [str(RASA_BIN), "init", "--no-prompt", "--init-dir", str(self.folder)],
                cwd=self.folder,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.train_s = time.monotonic() - began
        if done.returncode != 0 or not any((self.folder / "models").glob("*.tar.gz")):
            raise RuntimeError(
                f"rasa init failed (exit {done.returncode}); see "
                f"{self.folder.parent / 'baseline-init.log'}"
            )
        log(f"baseline: trained in {self.train_s:.0f} s")

    def start(self, timeout: float = 240.0) -> Bot:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        began = time.monotonic()
        argv = [
            str(RASA_BIN), "run", "--enable-api", "--model", str(self.folder / "models"),
            "--interface", "127.0.0.1", "--port", str(port),
            "--credentials", str(self.folder / "credentials.yml"),
            "--endpoints", str(self.folder / "endpoints.yml"),
        ]  # fmt: skip
        # As scripts/stack.py starts its children (its own process group, gone with this
        # process even if it is killed), but in the baseline's folder.
        self.process = launch(argv, self.env(), cwd=self.folder)
        threading.Thread(
            target=self._pump, args=(self.process,), name="log-baseline", daemon=True
        ).start()
        deadline = time.monotonic() + timeout
        while not _status_ok(url):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the baseline's rasa run exited ({self.process.returncode}); see "
                    f"{self.folder.parent / 'baseline-run.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the baseline did not become ready within {timeout:.0f} s")
            time.sleep(0.5)
        return Bot("baseline", [url], started_s=time.monotonic() - began)

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout
        with open(self.folder.parent / "baseline-run.log", "a", encoding="utf-8") as out:
            for line in process.stdout:
                out.write(line)

    def stop(self) -> None:
        if self.process:
            stop_processes([self.process])  # type: ignore[list-item]
            self.process = None


def _status_ok(url: str, token: str = "") -> bool:
    try:
        with urllib.request.urlopen(f"{url}/status?token={token}", timeout=2) as response:
            return b'"model_id"' in response.read()
    except OSError:
        return False


def _ours_settings(state_dir: Path, servers: dict[str, str]) -> Settings:
    env = {
        "PARLEY_STATE_DIR": str(state_dir),
        "RASA_MODELS_DIR": str(ROOT / "models"),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
        "HANDOFF_PORT": str(free_port()),
        "HANDOFF_INTERNAL_PORT": str(free_port()),
        **servers,
    }
    settings = Settings.from_env(env)
    return dataclasses.replace(settings, extra_env={**UNLIMITED_RATES, **THREAD_ENV, **servers})


def start_ours(
    name: str, state_dir: Path, servers: dict[str, str], replicas: int, model: Path
) -> tuple[Stack, Bot]:
    settings = _ours_settings(state_dir, servers)
    # A knowledge index made for an earlier configuration of this run spares re-indexing.
    for sibling in state_dir.parent.glob("ours-*/index"):
        if sibling.is_dir() and not (state_dir / "index").exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(sibling, state_dir / "index")
            break
    stack = Stack(settings, replicas=replicas)
    began = time.monotonic()
    try:
        stack.start(model)
    except BaseException:
        stack.stop()
        raise
    urls = [s.url for s in stack.services if s.name == "rasa" or s.name.startswith("rasa-")]
    return stack, Bot(name, urls, token=stack.token, started_s=time.monotonic() - began)


# --- load --------------------------------------------------------------------------------


@dataclass
class Sample:
    sent: float  # monotonic seconds
    done: float
    ok: bool
    kind: str = ""  # the error's kind when not ok
    first: bool = False  # the conversation's first message (ours: its session start)


@dataclass
class Cell:
    """Everything measured for one configuration at one load, over all its rounds."""

    samples: list[Sample] = field(default_factory=list)
    window_s: float = 0.0  # seconds of measurement window, all rounds
    answered_in_window: int = 0
    examples: list[str] = field(default_factory=list)
    load_avg: list[float] = field(default_factory=list)


async def _message(
    client: httpx.AsyncClient, url: str, sender: str, text: str, cell: Cell, first: bool
) -> None:
    sent = time.monotonic()
    kind = ""
    try:
        r = await client.post(
            f"{url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=REQUEST_TIMEOUT,
        )
        if r.status_code >= 300:
            kind = f"HTTP {r.status_code}"
        elif not r.json():
            kind = "empty reply"
    except httpx.TimeoutException:
        kind = "timeout"
    except httpx.HTTPError as exc:
        kind = f"connection ({type(exc).__name__})"
    except ValueError:
        kind = "not JSON"
    cell.samples.append(Sample(sent, time.monotonic(), not kind, kind, first))
    if kind and len(cell.examples) < 5:
        cell.examples.append(f"{kind}: {sender} {text!r}")


async def _segment(bot: Bot, clients: int, seconds: float, tag: str, cell: Cell, desc: str) -> None:
    """`clients` closed-loop conversations for `seconds`; messages in flight at the end are
    waited for (and count in the latencies), none is sent after it."""
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    before = len(cell.samples)
    async with httpx.AsyncClient(limits=limits) as client:
        start = time.monotonic()
        deadline = start + seconds

        async def conversation_client(k: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                sender = f"{tag}-{k}-{n}"
                for i, text in enumerate(CONVERSATION):
                    if time.monotonic() >= deadline:
                        return
                    url = bot.rasa_urls[(k + i) % len(bot.rasa_urls)]
                    await _message(client, url, sender, text, cell, first=i == 0)
                n += 1

        async def progress() -> None:
            with tqdm(total=int(seconds), desc=desc, unit="s", leave=False) as bar:
                while time.monotonic() < deadline:
                    await asyncio.sleep(1.0)
                    bar.n = min(int(seconds), int(time.monotonic() - start))
                    recent = [s.done - s.sent for s in cell.samples[before:][-300:] if s.ok]
                    bar.set_postfix(
                        sent=len(cell.samples) - before,
                        errors=sum(not s.ok for s in cell.samples[before:]),
                        p95_ms=round(percentile(recent, 0.95) * 1000) if recent else "-",
                    )
                    bar.refresh()

        await asyncio.gather(progress(), *(conversation_client(k) for k in range(clients)))
    cell.window_s += seconds
    cell.answered_in_window += sum(
        1 for s in cell.samples[before:] if s.ok and start <= s.done <= deadline
    )
    cell.load_avg.append(os.getloadavg()[0])


def warm_up(bot: Bot, run_id: str) -> None:
    """Two conversations through every Rasa server: lazy loading is not measured."""
    cell = Cell()
    for n in range(2):
        for url in bot.rasa_urls:
            solo = dataclasses.replace(bot, rasa_urls=[url])
            asyncio.run(_segment_quick(solo, f"{run_id}-warm-{bot.name}-{n}-{url[-5:]}", cell))
    failed = [s for s in cell.samples if not s.ok]
    if failed:
        raise RuntimeError(f"{bot.name}: warm-up messages failed: {cell.examples}")


async def _segment_quick(bot: Bot, sender: str, cell: Cell) -> None:
    async with httpx.AsyncClient() as client:
        for i, text in enumerate(CONVERSATION):
            await _message(client, bot.rasa_urls[0], sender, text, cell, first=i == 0)


def parse_check(bot: Bot) -> list[dict[str, Any]]:
    """How each bot reads the conversation's messages (/model/parse)."""
    read = []
    for text, expected in zip(CONVERSATION, EXPECTED_INTENTS, strict=True):
        request = urllib.request.Request(
            f"{bot.rasa_urls[0]}/model/parse?token={bot.token}",
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            intent = json.loads(response.read()).get("intent") or {}
        read.append(
            {
                "text": text,
                "intent": intent.get("name"),
                "confidence": round(float(intent.get("confidence") or 0), 3),
                "expected": expected,
            }
        )
    return read


def replies_of(bot: Bot, run_id: str) -> list[list[str]]:
    """What each bot answers to one conversation (for the notes)."""
    out = []
    with httpx.Client() as client:
        for i, text in enumerate(CONVERSATION):
            url = bot.rasa_urls[i % len(bot.rasa_urls)]
            r = client.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": f"{run_id}-show-{bot.name}", "message": text},
                timeout=REQUEST_TIMEOUT,
            )
            out.append([str(m.get("text", m))[:80] for m in r.json()])
    return out


# --- figures -----------------------------------------------------------------------------


def figures(cell: Cell) -> dict[str, Any]:
    ok = [(s.done - s.sent) * 1000 for s in cell.samples if s.ok]
    errors = Counter(s.kind for s in cell.samples if not s.ok)
    first = [(s.done - s.sent) * 1000 for s in cell.samples if s.ok and s.first]
    rest = [(s.done - s.sent) * 1000 for s in cell.samples if s.ok and not s.first]

    def r(x: float) -> float | None:
        return None if x != x else round(x, 1)  # NaN -> None

    return {
        "messages_sent": len(cell.samples),
        "messages_answered": len(ok),
        "window_s": round(cell.window_s, 1),
        "messages_per_s": round(cell.answered_in_window / cell.window_s, 2)
        if cell.window_s
        else 0.0,
        "p50_ms": r(percentile(ok, 0.50)),
        "p95_ms": r(percentile(ok, 0.95)),
        "p99_ms": r(percentile(ok, 0.99)),
        "max_ms": r(max(ok)) if ok else None,
        "first_message_p50_ms": r(percentile(first, 0.50)),
        "other_messages_p50_ms": r(percentile(rest, 0.50)),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "error_examples": cell.examples,
        "load_average_1min_after_rounds": [round(x, 2) for x in cell.load_avg],
    }


def _ticks_busy() -> int:
    """CPU time the whole machine spent busy, in clock ticks (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _ticks_ours(groups: set[int]) -> int:
    """CPU time of every process in the bench's process groups (the stacks, the baseline,
    PostgreSQL and Redis) and of this process, in clock ticks."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        pid, pgid = int(entry.name), int(rest[2])
        if pgid in groups or pid == os.getpid():
            # utime, stime, and the children it waited for (PostgreSQL's backends).
            total += sum(int(x) for x in rest[11:15])
    return total


def cpu_snapshot(groups: set[int]) -> tuple[int, int, float]:
    return _ticks_busy(), _ticks_ours(groups), time.monotonic()


def cpu_others(start: tuple[int, int, float], end: tuple[int, int, float]) -> dict[str, float]:
    """How much of the machine other work used between two snapshots."""
    hz = os.sysconf("SC_CLK_TCK")
    busy, ours = (end[0] - start[0]) / hz, (end[1] - start[1]) / hz
    wall = end[2] - start[2]
    capacity = wall * (os.cpu_count() or 1)
    others = max(0.0, busy - ours)
    return {
        "wall_s": round(wall, 1),
        "machine_busy_core_s": round(busy, 1),
        "bench_core_s": round(ours, 1),
        "other_work_core_s": round(others, 1),
        "other_work_share": round(others / capacity, 3) if capacity else 0.0,
    }


def _is_own_ps(command: str) -> bool:
    """The `ps` below, which sees itself (results of earlier runs list it too)."""
    return command.strip("`").startswith("ps -eo pid,pgid,pcpu,")


def busiest_other_processes(ours: set[int]) -> list[str]:
    """The processes using most CPU that are not this bench's (what else ran)."""
    done = subprocess.run(
        ["ps", "-eo", "pid,pgid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True
    )
    found = []
    for line in done.stdout.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        pid, pgid, pcpu, comm = parts
        if int(pid) in ours or int(pgid) in ours or int(pid) == os.getpid():
            continue
        if _is_own_ps(comm):
            continue
        if float(pcpu) >= 5.0:
            command = " ".join(Path(w).name if w.startswith("/") else w for w in comm.split())
            found.append(f"`{command[:70]}` ({pcpu} % CPU)")
    return found[:6]


def ratio_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for load in (1, 32):
        base = data["results"].get("baseline", {}).get(str(load))
        if not base or not base["p95_ms"]:
            continue
        for config in ("sqlite", "pg-1"):
            ours = data["results"].get(config, {}).get(str(load))
            if not ours or not ours["p95_ms"]:
                continue
            ratio = ours["p95_ms"] / base["p95_ms"]
            rows.append(
                {
                    "load": load,
                    "config": config,
                    "baseline_p95_ms": base["p95_ms"],
                    "ours_p95_ms": ours["p95_ms"],
                    "ratio": round(ratio, 2),
                    "met": ratio <= TARGET_RATIO,
                }
            )
    return rows


def notes(data: dict[str, Any]) -> list[str]:
    """What a reader should know about these figures, worked out from them."""
    found = []
    for config, read in data.get("parse", {}).items():
        wrong = [r for r in read if r["intent"] != r["expected"]]
        if wrong:
            found.append(
                f"{config} reads "
                + ", ".join(f"{r['text']!r} as {r['intent']}" for r in wrong)
                + " (not the intent both were meant to share)."
            )
    for row in ratio_rows(data):
        if not row["met"]:
            found.append(
                f"**Target missed** at {load_name(row['load'])} for {row['config']}: ours' p95 "
                f"is {row['ratio']:.2f} x the baseline's ({row['ours_p95_ms']:.0f} vs "
                f"{row['baseline_p95_ms']:.0f} ms)."
            )
    results = data["results"]
    for config, by_load in results.items():
        for load, f in by_load.items():
            if f["errors"]:
                kinds = f["errors_by_kind"]
                found.append(f"{config} at {load} clients: {f['errors']} errors {kinds}.")
    if {"baseline", "pg-1"} <= set(results):
        base, ours = results["baseline"].get("1"), results["pg-1"].get("1")
        if base and ours and base["p50_ms"] and ours["p50_ms"]:
            work = (
                "ours runs a MiniLM encoder (numpy) in its NLU, two more policies (handoff "
                "triggers, language), the AI disclosure at each conversation's start, and writes "
                "each turn's events to its event broker for the handoff service and to a tracker "
                "store in a database (one transaction each, bot/event_store.py), where the "
                "baseline keeps trackers in memory"
            )
            if ours["p50_ms"] > base["p50_ms"]:
                found.append(
                    f"Sequentially each of our messages costs about {ours['p50_ms']:.0f} ms "
                    f"(p50) against the bare bot's {base['p50_ms']:.0f} ms: {work}."
                )
            else:
                found.append(
                    f"Sequentially our messages take about {ours['p50_ms']:.0f} ms (p50), the "
                    f"bare bot's {base['p50_ms']:.0f} ms, although {work} (the baseline's DIET "
                    "and TED run in TensorFlow)."
                )
    base, ours = results.get("baseline", {}).get("32"), results.get("sqlite", {}).get("32")
    if base and ours and base["first_message_p50_ms"] and ours["first_message_p50_ms"]:
        first, others = ours["first_message_p50_ms"], ours["other_messages_p50_ms"]
        line = (
            "At 32 clients one message in five is a conversation's first: ours' first "
            f"messages take {first:.0f} ms (p50) against {others:.0f} ms for the others "
            f"(baseline: {base['first_message_p50_ms']:.0f} / "
            f"{base['other_messages_p50_ms']:.0f} ms)."
        )
        if others and first > 1.2 * others:
            line += " The p95 falls among those first messages."
        found.append(line)
    spiky = [
        f"{config} {f['p99_ms']:.0f} / {f['max_ms']:.0f} ms"
        for config, by_load in results.items()
        if (f := by_load.get("32")) and f["p95_ms"] and f["p99_ms"] > 2.5 * f["p95_ms"]
    ]
    if spiky and any(s.startswith("baseline ") for s in spiky):
        found.append(
            "Some replies at 32 clients took seconds longer than the p95, in the baseline too, "
            "which has no database or action server (p99 / longest: " + ", ".join(spiky) + "). "
            "Their cause was not found; they are not one bot's alone. The p95, the target's "
            "figure, lies below them."
        )
    if {"sqlite", "pg-1"} <= set(results):
        slow = [
            (k, results["pg-1"][k]["messages_per_s"] / results["sqlite"][k]["messages_per_s"])
            for k in results["sqlite"]
            if k != "1" and k in results["pg-1"] and results["sqlite"][k]["messages_per_s"]
        ]
        if slow and min(x for _, x in slow) > 1.1:
            found.append(
                "SQLite (the shipped single-machine default) is the bottleneck under concurrent "
                "load: pg-1 answers "
                + ", ".join(f"{x:.1f} x as many messages/s at {k}" for k, x in slow)
                + " clients. Rasa's SQL tracker store and SQL event broker commit synchronously, "
                "inside its one event loop, and SQLite syncs every commit to disk; part of "
                "pg-1's lead is durability given up: the throw-away PostgreSQL of "
                "scripts/servers.py runs with fsync and synchronous_commit off."
            )
    if {"pg-1", "pg-2"} <= set(results):
        ratios = {
            k: results["pg-2"][k]["messages_per_s"] / results["pg-1"][k]["messages_per_s"]
            for k in results["pg-1"]
            if k in results["pg-2"] and results["pg-1"][k]["messages_per_s"]
        }
        concurrent = {k: v for k, v in ratios.items() if k != "1"}
        if concurrent:
            found.append(
                f"Two replicas on this {data['machine']['cores']}-core machine: "
                + ", ".join(f"{v:.2f} x pg-1's messages/s at {k}" for k, v in ratios.items())
                + " client(s)"
                + ". One Rasa server is one event loop and uses about one core; a second one can "
                "use the other core, but both share this machine's cores (and the load generator "
                "and PostgreSQL use them too), so two replicas cannot double anything here. "
                "Sequentially there is nothing to share out, and each turn pays for the Redis "
                "lock and a tracker read from PostgreSQL on whichever server it reaches."
            )
    return found


def load_name(load: int) -> str:
    return "1 (sequential)" if load == 1 else f"{load} concurrent"


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    before = ", ".join(f"{x:.2f}" for x in data["load_average_before"])
    after = ", ".join(f"{x:.2f}" for x in data["load_average_after"])
    lines = [
        "# Scale: one vs. two replicas, beside a bare `rasa init` bot",
        "",
        f"Run {data['run']} ({data['wall_s'] / 60:.1f} min), git {data['git']}, command "
        f"`{data['command']}`.",
        "",
        f"Machine: {m['platform']}, {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}. Load average (1/5/15 min) before: {before}; after: {after}.",
    ]
    if data["shared_machine"]:
        c = data["cpu_during_measurement"]
        lines += [
            "",
            f"**Shared machine:** other work ran beside this measurement: it used "
            f"{c['other_work_core_s']:.0f} of the {c['machine_busy_core_s']:.0f} core-seconds "
            f"the machine was busy during the {c['wall_s']:.0f} s of load "
            f"({c['other_work_share']:.0%} of its capacity; busiest other processes at the "
            "end: " + (", ".join(data["other_processes"]) or "none caught") + "). The "
            "configurations took turns in each round, so it fell on all of them alike, but the "
            "absolute figures are below an idle machine's.",
        ]
    lines += ["", "## Target: ours' p95 <= 1.2 x the baseline's, same load", ""]
    rows = ratio_rows(data)
    if rows:
        lines += [
            "| load | ours | baseline p95 ms | ours p95 ms | ratio | target <= 1.2 |",
            "|---|---|---|---|---|---|",
            *[
                f"| {load_name(r['load'])} | {r['config']} | {r['baseline_p95_ms']:.0f} | "
                f"{r['ours_p95_ms']:.0f} | {r['ratio']:.2f} | "
                f"{'met' if r['met'] else '**missed**'} |"
                for r in rows
            ],
        ]
    else:
        lines.append("Not measured (the baseline or ours did not run at 1 or 32 clients).")
    lines += [
        "",
        "## Figures",
        "",
        "messages/s: replies received inside the measurement windows / their length; "
        "latency: every message sent inside a window, from request to reply (messages in "
        "flight at a window's end are waited for).",
        "",
        "| configuration | clients | messages | messages/s | p50 ms | p95 ms | p99 ms | max ms "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for config, by_load in data["results"].items():
        for load, f in by_load.items():
            errs = f["errors"]
            err = f"{errs} ({', '.join(f'{k}: {v}' for k, v in f['errors_by_kind'].items())})"
            lines.append(
                f"| {config} | {load} | {f['messages_answered']:,} | {f['messages_per_s']:.1f} | "
                f"{_ms(f['p50_ms'])} | {_ms(f['p95_ms'])} | {_ms(f['p99_ms'])} | "
                f"{_ms(f['max_ms'])} | {err if errs else 0} |"
            )
    lines += ["", "Configurations:", ""]
    lines += [f"- **{c}**: {LABELS[c]}" for c in data["results"]]
    scaling = []
    for load in data["loads"]:
        one = data["results"].get("pg-1", {}).get(str(load))
        two = data["results"].get("pg-2", {}).get(str(load))
        if one and two and one["messages_per_s"]:
            scaling.append(
                f"| {load_name(load)} | {one['messages_per_s']:.1f} | {two['messages_per_s']:.1f} "
                f"| {two['messages_per_s'] / one['messages_per_s']:.2f} | "
                f"{_ms(one['p95_ms'])} | {_ms(two['p95_ms'])} |"
            )
    if scaling:
        lines += [
            "",
            "## Two replicas vs. one (PostgreSQL + Redis)",
            "",
            "| load | pg-1 msgs/s | pg-2 msgs/s | pg-2 / pg-1 | pg-1 p95 ms | pg-2 p95 ms |",
            "|---|---|---|---|---|---|",
            *scaling,
        ]
    lines += ["", "## Where the first message's time goes", ""]
    lines += [
        "p50 of a conversation's first message (ours runs its `action_session_start` inside "
        "Rasa, bot/session_start.py: the AI disclosure; the baseline's is Rasa's built-in) vs. "
        "the other four:",
        "",
        "| configuration | clients | first message p50 ms | others p50 ms |",
        "|---|---|---|---|",
    ]
    for config, by_load in data["results"].items():
        for load, f in by_load.items():
            lines.append(
                f"| {config} | {load} | {_ms(f['first_message_p50_ms'])} | "
                f"{_ms(f['other_messages_p50_ms'])} |"
            )
    lines += ["", "## Method", ""]
    s = data["settings"]
    lines += [
        f"- Each conversation: {', '.join(repr(t) for t in CONVERSATION)} (a fresh sender id), "
        "then the client starts the next one. Closed loop: the next message goes when the "
        "previous reply is in; no think time, so 32 clients means 32 messages in flight.",
        f"- Per load, {s['rounds']} round(s); in each, every configuration in turn for "
        + ", ".join(f"{s['seconds'][str(k)]:g} s at {k}" for k in data["loads"])
        + f" client(s); request timeout {REQUEST_TIMEOUT:g} s. Before measuring, two whole "
        "conversations through every Rasa server (warm-up, not counted).",
        "- All configurations run at the same time (idle ones cost little: the handoff "
        "services poll their event broker); the load generator (Python, httpx, one event loop) "
        "runs on the same machine and takes its share of the cores.",
        "- Every process with one BLAS/OpenMP/TensorFlow thread ("
        + ", ".join(f"`{k}={v}`" for k, v in THREAD_ENV.items())
        + "), both bots alike (checked while writing this bench: the baseline's sequential "
        "p50/p95 was the same, within noise, with TensorFlow's default thread pools). Ours "
        "with its message guard's rate limits off (the load comes "
        "from one address); its other checks run.",
        "- The baseline is `rasa init --no-prompt` as generated (its default pipeline, in-memory "
        "tracker and lock store, no action server), trained at the start of the run"
        + (f" ({data['baseline_train_s']:.0f} s)" if data.get("baseline_train_s") else "")
        + ". Nothing of it is kept.",
        "- How both bots read the messages (`/model/parse`):",
        "",
        "| message | baseline | ours |",
        "|---|---|---|",
    ]
    parse = data.get("parse", {})
    for i, text in enumerate(CONVERSATION):
        cells = []
        for config in ("baseline", "sqlite"):
            p = parse.get(config)
            cells.append(f"{p[i]['intent']} ({p[i]['confidence']:.2f})" if p else "-")
        lines.append(f"| {text} | {cells[0]} | {cells[1]} |")
    replies = data.get("replies", {})
    if replies:
        lines += ["", "What each bot answers to one conversation:", ""]
        for config, turns in replies.items():
            said = " / ".join(" + ".join(t) or "(nothing)" for t in turns)
            lines.append(f"- {config}: {said}")
    found = notes(data)
    if found:
        lines += ["", "## Notes", "", *[f"- {n}" for n in found]]
    if data.get("chart"):
        lines += ["", f"![messages/s and p95 per configuration and load]({data['chart']})"]
    return "\n".join(lines) + "\n"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def chart(data: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    configs = list(data["results"])
    loads = data["loads"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(configs))
    for j, config in enumerate(configs):
        xs = [i + (j - (len(configs) - 1) / 2) * width for i in range(len(loads))]
        by_load = data["results"][config]
        rate = [by_load.get(str(k), {}).get("messages_per_s") or 0 for k in loads]
        p95 = [by_load.get(str(k), {}).get("p95_ms") or 0 for k in loads]
        axes[0].bar(xs, rate, width, label=config)
        axes[1].bar(xs, p95, width, label=config)
    for ax, title in zip(axes, ("messages per second", "p95 latency (ms, log scale)"), strict=True):
        ax.set_xticks(range(len(loads)), [load_name(k) for k in loads])
        ax.set_xlabel("clients")
        ax.set_title(title)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Parley vs. bare rasa init, {data['machine']['cores']} cores ({data['run']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data.pop("chart", None)
    data["other_processes"] = [p for p in data.get("other_processes", []) if not _is_own_ps(p)]
    if chart(data, RESULTS / f"{NAME}.png"):
        data["chart"] = f"{NAME}.png"
    md = markdown(data)
    (RESULTS / f"{NAME}.md").write_text(md, encoding="utf-8")
    (RESULTS / f"{NAME}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(md)
    log(f"wrote {RESULTS / NAME}.md, .json" + (", .png" if data.get("chart") else ""))


# --- main --------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated configurations (default {','.join(CONFIGS)})",
    )
    ap.add_argument(
        "--loads", default="1,32,200", help="concurrent conversations (default 1,32,200)"
    )
    ap.add_argument(
        "--seconds",
        default="10,20,40",
        help="seconds per round and configuration at each load, in --loads order "
        "(default 10,20,40)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="rounds per load (default 3)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round of 5 s per load, loads 1 and 32; writes nothing",
    )
    ap.add_argument(
        "--baseline-dir",
        type=Path,
        help="reuse (or create) the trained rasa init project in this folder instead of "
        "training a fresh one in a temporary folder (for trying the bench; not for results)",
    )
    ap.add_argument("--no-write", action="store_true", help="print the results, write nothing")
    ap.add_argument(
        "--from-json",
        type=Path,
        metavar="JSON",
        help="measure nothing: write bench/results/scale.md and .png again from a results "
        "file (bench/results/scale.json)",
    )
    args = ap.parse_args()
    if args.from_json:
        data = json.loads(args.from_json.read_text(encoding="utf-8"))
        write(data)
        return 0
    if args.quick:
        args.loads, args.seconds, args.rounds, args.no_write = "1,32", "5,5", 1, True
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; choose from {', '.join(CONFIGS)}")
    loads = [int(x) for x in args.loads.split(",")]
    seconds = [float(x) for x in args.seconds.split(",")]
    if len(seconds) != len(loads):
        ap.error("--seconds needs one figure per load in --loads")

    os.environ.update(THREAD_ENV)  # children (ours and the baseline) inherit them
    began = time.monotonic()
    load_before = list(os.getloadavg())
    run_id = f"scale{int(time.time())}"
    data: dict[str, Any] = {
        "benchmark": "scale: messages/s and latency, one vs two replicas, vs bare rasa init",
        "run": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/scale.py" + "".join(f" {a}" for a in sys.argv[1:]),
        "git": git_revision(),
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "loads": loads,
        "settings": {
            "rounds": args.rounds,
            "seconds": dict(zip(map(str, loads), seconds, strict=True)),
            "conversation": list(CONVERSATION),
            "thread_env": THREAD_ENV,
            "request_timeout_s": REQUEST_TIMEOUT,
        },
        "results": {},
        "parse": {},
        "replies": {},
        "startup_s": {},
    }
    cells: dict[str, dict[int, Cell]] = {c: {k: Cell() for k in loads} for c in configs}
    bots: dict[str, Bot] = {}
    pids: set[int] = set()
    log(f"configurations {', '.join(configs)}; loads {loads}; {args.rounds} round(s)")
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="parley-scale-") as t:
        tmp = Path(t)
        if "baseline" in configs:
            folder = args.baseline_dir.resolve() if args.baseline_dir else tmp / "baseline"
            baseline = Baseline(folder, reuse=bool(args.baseline_dir))
            baseline.build()
            data["baseline_train_s"] = round(baseline.train_s, 1) or None
            stack.callback(baseline.stop)
            log("baseline: starting rasa run")
            bots["baseline"] = baseline.start()
            assert baseline.process
            pids.add(baseline.process.pid)
        servers_env: dict[str, dict[str, str]] = {}
        if {"pg-1", "pg-2"} & set(configs):
            from scripts.servers import LocalServers

            log("starting PostgreSQL and Redis on loopback (scripts/servers.py)")
            servers = stack.enter_context(LocalServers(tmp / "servers", postgres=True, redis=True))
            # Their CPU counts as the bench's (LocalServers keeps its processes privately).
            pids |= {p.popen.pid for p in getattr(servers, "_processes", [])}
            for n, config in enumerate(("pg-1", "pg-2"), start=1):
                if config in configs:
                    db = f"scale_{n}"
                    url = servers.create_database(db)
                    servers.create_database(f"{db}_events")  # Rasa's SQL event broker's
                    servers_env[config] = {
                        "PARLEY_DATABASE_URL": url,
                        "REDIS_URL": servers.redis_url.rsplit("/", 1)[0] + f"/{n}",
                    }
        # One model for every configuration of ours, even if the tree changes meanwhile.
        model = ensure_model(_ours_settings(tmp / "ours-model", {}), sys.stdout)
        data["model"] = model.name
        for config in configs:
            if config == "baseline":
                continue
            replicas = 2 if config == "pg-2" else 1
            log(f"{config}: starting ours ({LABELS[config]})")
            ours, bot = start_ours(
                config, tmp / f"ours-{config}", servers_env.get(config, {}), replicas, model
            )
            stack.callback(ours.stop)
            bots[config] = bot
            pids |= {s.process.pid for s in ours.services if s.process}
        for config, bot in bots.items():
            data["startup_s"][config] = round(bot.started_s, 1)
            log(f"{config}: ready in {bot.started_s:.0f} s at {', '.join(bot.rasa_urls)}; warm-up")
            warm_up(bot, run_id)
            data["parse"][config] = parse_check(bot)
            data["replies"][config] = replies_of(bot, run_id)
        cpu_start = cpu_snapshot(pids)
        total = sum(s * args.rounds * len(bots) for s in seconds)
        log(f"measuring: {total / 60:.1f} min of load, plus waiting for the last replies")
        for load, secs in zip(loads, seconds, strict=True):
            for rnd in range(args.rounds):
                for config, bot in bots.items():
                    desc = f"{config} · {load} client(s) · round {rnd + 1}/{args.rounds}"
                    tag = f"{run_id}-{config}-{load}-{rnd}"
                    asyncio.run(_segment(bot, load, secs, tag, cells[config][load], desc))
                    f = figures(cells[config][load])
                    log(
                        f"{desc}: {f['messages_per_s']:.1f} msgs/s so far, p50 "
                        f"{_ms(f['p50_ms'])} ms, p95 {_ms(f['p95_ms'])} ms, "
                        f"errors {f['errors']}"
                    )
        data["cpu_during_measurement"] = cpu_others(cpu_start, cpu_snapshot(pids))
        data["other_processes"] = busiest_other_processes(pids)
    for config in configs:
        data["results"][config] = {str(k): figures(cells[config][k]) for k in loads}
    data["wall_s"] = round(time.monotonic() - began, 1)
    data["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    data["shared_machine"] = data["cpu_during_measurement"]["other_work_share"] > 0.05
    print()
    if not args.no_write:
        write(data)
    else:
        print(markdown(data))
    log(f"done in {data['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
