"""Run a probe script in Rasa's own venv (Python 3.10) and read the JSON it prints last."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

needs_rasa = pytest.mark.skipif(not RASA_PYTHON.exists(), reason="Rasa venv not set up")


def run_probe(script: Path, *args: str, timeout: float = 600) -> Any:
    # The project's root on the path, as Rasa has it when run from there (custom components).
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [str(RASA_PYTHON), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
