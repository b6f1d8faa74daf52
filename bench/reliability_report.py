"""bench/results/reliability.{md,json}: every figure next to its target, the machine, the
sizes, and what the campaign does not cover."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import git_revision, machine
from bench.reliability_checks import Check

ROOT = Path(__file__).resolve().parents[1]

# The sizes; a run below them is marked as a trial in the results.
CAMPAIGN_SIZES = {"hostile": 1500, "load_clients": 200, "load_seconds": 300}

NOT_COVERED = [
    "Slack is a local mock of its Web API (tests/handoff/mock_web_api_server): real Slack's "
    "rate limits, its event redelivery schedule (at once, after 1 and 5 minutes; the bench "
    "redelivers every 2 s within the retry window) and Socket Mode are not exercised.",
    "The language model is a local fake that parrots the customer's words back (the worst "
    "case for what leaves the bot); whether a real model obeys an injection is not measured.",
    "Markup is checked in what the server sends the widget (REST replies, socket.io events), "
    "not in a browser's DOM (the widget's own tests cover rendering).",
    "Not fuzzed: the widget server's /api, the handoff service's /internal API and Slack "
    "endpoints, Rasa's token-protected HTTP API.",
    "Faults are one at a time and only kill -9 of the action server, Rasa and the handoff "
    "service; not covered: the widget server, SIGTERM during a request, a full disk, a "
    "machine reboot, clock jumps, a locked Rasa tracker store (only the handoff database is "
    "locked), network partitions other than a process being gone.",
    "Personal data: only card numbers and IBANs are looked for (emails, phone numbers and "
    "names are not), in Slack requests, LLM requests, log files, Rasa's tracker store and the "
    "handoff database; not in the knowledge index, process memory or core dumps.",
    "Agent replies go through signed Slack events only; the terminal console "
    "(`python -m handoff console reply`) is not exercised under faults.",
    "Load is REST only (no socket.io under load), with the load generator on the same "
    "machine as the stack, and LLM calls answered at once by the fake.",
]


@dataclass
class PartResult:
    name: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the part itself failed (the stack did not start, ...)


def is_trial(sizes: dict[str, Any], parts: list[str]) -> list[str]:
    """Which sizes are below the campaign's (empty for a full run)."""
    below = []
    if "hostile" in parts and sizes["hostile"] < CAMPAIGN_SIZES["hostile"]:
        below.append(f"{sizes['hostile']} hostile inputs (campaign: ≥ 1,500)")
    if "load" in parts and sizes["load_clients"] < CAMPAIGN_SIZES["load_clients"]:
        below.append(f"{sizes['load_clients']} concurrent customers (campaign: 200)")
    if "load" in parts and sizes["load_seconds"] < CAMPAIGN_SIZES["load_seconds"]:
        below.append(f"{sizes['load_seconds']:g} s of load (campaign: 300 s)")
    return below


def _mark(check: Check) -> str:
    return "—" if check.passed is None else ("✅" if check.passed else "❌")


def _value(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else f"{v:,}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(
    out_dir: Path,
    name: str,
    command: str,
    parts: list[PartResult],
    sizes: dict[str, Any],
    env: dict[str, str],
    started: dt.datetime,
    seconds: float,
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    part_names = [p.name for p in parts]
    below = is_trial(sizes, part_names)
    data = {
        "benchmark": "reliability campaign (hostile inputs, faults, load) on loopback",
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "command": command,
        "git": git_revision(),
        "machine": machine(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sizes": sizes,
        "trial": bool(below),
        "below_campaign_sizes": below,
        "stack_env": {k: v for k, v in env.items() if "TOKEN" not in k and "KEY" not in k},
        "parts": {
            p.name: {
                "error": p.error,
                "checks": [c.as_dict() for c in p.checks],
                "figures": p.figures,
            }
            for p in parts
        },
        "not_covered": NOT_COVERED,
    }
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = out_dir / f"{name}.md"
    md_path.write_text(_markdown(data, parts), encoding="utf-8")
    return md_path, json_path


def _markdown(data: dict[str, Any], parts: list[PartResult]) -> str:
    m = data["machine"]
    load = ", ".join(f"{x:.2f}" for x in data["load_average_at_end"])
    lines = [
        "# Reliability campaign",
        "",
        "Hostile inputs, faults and load through the real stack (Rasa, action server, handoff "
        "service, widget server) on loopback, with Slack and the language model faked locally.",
        "",
        f"Run {data['date']} ({data['duration_s']:g} s), git {data['git']}, command "
        f"`{data['command']}`.",
        "",
        f"Machine: {m['platform']}, {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}; load average at the end (1/5/15 min): {load} (shared machine: "
        "latency figures measure it too).",
        "",
    ]
    if data["below_campaign_sizes"]:
        lines += [
            "> **Trial run, below the campaign's sizes** ("
            + "; ".join(data["below_campaign_sizes"])
            + "). Run `.venv/bin/python bench/reliability.py --part all` on an idle machine "
            "for the figures to commit.",
            "",
        ]
    lines += ["## Summary", "", "| part | figure | value | target | |", "|---|---|---|---|---|"]
    for p in parts:
        if p.error:
            lines.append(f"| {p.name} | **the part failed to run** | {_cell(p.error)} | | ❌ |")
        for c in p.checks:
            lines.append(
                f"| {p.name} | {_cell(c.name)} | {_value(c.value)} | {c.target} | {_mark(c)} |"
            )
    lines.append("")
    for p in parts:
        lines += _part_section(p)
    env = data["stack_env"]
    lines += [
        "## Set-up",
        "",
        "Each part runs against one stack started by `tests/integration/stack.py` "
        "(`start_stack`) with its own state folder, these settings on top of the defaults "
        "(tokens and keys left out):",
        "",
        *[f"- `{k}={v}`" for k, v in sorted(env.items())],
        "",
        f"Sizes: `{json.dumps(data['sizes'])}`.",
        "",
        "## Not covered",
        "",
        *[f"- {item}" for item in data["not_covered"]],
        "",
    ]
    return "\n".join(lines)


def _part_section(p: PartResult) -> list[str]:
    if not (p.error or p.figures or any(c.examples or c.note for c in p.checks)):
        return []  # its figures are all in the summary
    lines = [f"## {p.name.capitalize()}", ""]
    if p.error:
        lines += [f"The part failed to run: `{p.error}`", ""]
    if p.name == "hostile" and p.figures:
        lines += _hostile_figures(p.figures)
    if p.name == "faults" and p.figures:
        lines += _fault_figures(p.figures)
    if p.name == "load" and p.figures:
        lines += _load_figures(p.figures)
    failing = [c for c in p.checks if c.examples or c.note]
    if failing:
        lines += ["Examples and notes:", ""]
        for c in failing:
            lines.append(f"- **{c.name}** ({_value(c.value)}){': ' + c.note if c.note else ''}")
            lines += [f"  - `{_cell(e)}`" for e in c.examples]
        lines.append("")
    return lines


def _hostile_figures(f: dict[str, Any]) -> list[str]:
    lines = [
        f"{f['inputs']:,} distinct inputs (generated by `bench/hostile_inputs.py`, seeded), "
        f"{f['messages_sent']:,} sent: every input over REST in its own conversation, "
        f"{f['over_socketio']:,} of them also over socket.io; modes {f['modes']} (packet: a "
        "handoff right after, so the text is in the packet; thread: sent during a handoff, "
        f"relayed to the Slack thread). {f['silent_by_design']} replies were rightly silent "
        f"(a person owned the chat). Planted: {f['planted_cards']} card numbers and "
        f"{f['planted_ibans']} IBANs, {f['planted_recognised_by_redact']} of them in a format "
        f"parley_shared.redact recognises. Sending took {f['sending_seconds']:g} s.",
        "",
        "| family | inputs | REST | socket.io | to Slack | errors | empty | refused politely "
        "| median s | max s | longest (chars) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, r in f["by_family"].items():
        lines.append(
            f"| {family} | {r['inputs']} | {r['rest']} | {r['socketio']} | {r['to_slack']} | "
            f"{r['errors']} | {r['empty']} | {r.get('refused', 0)} | {r['median_s']} | "
            f"{r['max_s']} | "
            f"{r['max_chars']:,} |"
        )
    return [*lines, ""]


def _fault_figures(f: dict[str, Any]) -> list[str]:
    lines = [
        f"{f['steady_customers']} customers write all the time (the next message "
        f"{f['steady_interval_s']:g} s after each reply, in conversations of greeting, question, "
        "thanks, each customer from its own address; resent on connection errors and 5xx for "
        f"{f['retry_window_s']:g} s, as a widget would); a killed service is restarted "
        f"{f['downtime_before_restart_s']:g} s after the kill. In every episode a new customer "
        "asks for a person during the fault and Ana (signed Slack requests) claims it and "
        "answers every chat she owns; half of her messages are delivered twice, as Slack does "
        "when an acknowledgement is late. Times are from the start of the fault.",
        "",
        "| fault | fault lasted s | service ready s | first customer answered s "
        "| packet posted s | all delivered s | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    deleted = f.get("slack_messages_deleted", 0)
    for e in f["episodes"]:
        lines.append(
            f"| {e['fault']} | {e['fault_seconds']} | {_dash(e['service_ready_s'])} | "
            f"{_dash(e['first_answer_s'])} | {_dash(e['packet_posted_s'])} | "
            f"{_dash(e['all_delivered_s'])} | {_cell('; '.join(e['notes']))} |"
        )
    lines += ["", f"Slack messages the handoff service deleted (duplicates cleaned up): {deleted}."]
    return [*lines, ""]


def _load_figures(f: dict[str, Any]) -> list[str]:
    lat = f["latency_ms"]
    lines = [
        f"{f['clients']} concurrent customers for {f['seconds']:g} s (think time "
        f"{f['think_seconds']:g} s ± 50 % between messages; conversations of greeting, "
        "question, thanks), REST on loopback.",
        "",
        "| messages sent | answered | messages/s | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
        f"| {f['messages_sent']:,} | {f['messages_answered']:,} | {f['messages_per_s']} | "
        f"{f['errors']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | {lat['max']} |",
        "",
        f"Errors by kind: {f['errors_by_kind'] or 'none'}. Conversations a trigger handed to a "
        f"person (the customer then starts another): {f['conversations_handed_to_a_person']}.",
        "",
        "| process group | RSS at start MiB | at end MiB | peak MiB |",
        "|---|---|---|---|",
    ]
    for name, mem in f["memory"].items():
        lines.append(f"| {name} | {mem['start_mib']} | {mem['end_mib']} | {mem['peak_mib']} |")
    lines.append(f"| **all** | {f['memory_total_start_mib']} | {f['memory_total_end_mib']} | |")
    return [*lines, ""]


def _dash(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def started_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
