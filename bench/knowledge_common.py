"""Helpers shared by the knowledge benchmarks."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

from bench.machine import cpu_model

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = cpu_model()
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}"
    )


def write_results(name: str, markdown: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header = f"Run {stamp} on {machine()}; load average at the end (1/5/15 min): {load}.\n\n"
    (RESULTS / f"{name}.md").write_text(markdown.replace("{HEADER}", header), encoding="utf-8")
    data = {"run": stamp, "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
