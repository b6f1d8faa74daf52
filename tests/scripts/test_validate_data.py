"""The test command's `rasa data validate` step fails when the training data is broken."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"


def validate(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "validate-data"), str(tmp_path / "domain.yml"),
         str(tmp_path / "data"), str(ROOT / "config.yml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.skipif(not RASA.exists(), reason="the Rasa environment is not set up")
def test_broken_training_data_fails_the_step(tmp_path: Path) -> None:
    shutil.copy(ROOT / "domain.yml", tmp_path / "domain.yml")
    shutil.copytree(ROOT / "bot" / "data", tmp_path / "data")
    assert validate(tmp_path).returncode == 0

    # A rule that uses an intent the domain does not declare: Rasa warns, and with
    # --fail-on-warnings that must fail the step (and so `make test`).
    (tmp_path / "data" / "broken.yml").write_text(
        'version: "3.1"\nrules:\n- rule: broken\n  steps:\n  - intent: no_such_intent\n'
        "  - action: utter_greet\n"
    )
    done = validate(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "no_such_intent" in done.stdout and "rasa data validate failed" in done.stdout


def test_the_test_command_uses_the_step() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    step = script.split('step "Rasa training data')[1].split("step ")[0]
    # The step's status is the script's own: nothing after it may swallow a failure.
    assert step.strip().splitlines()[1:] == ["scripts/validate-data"]
