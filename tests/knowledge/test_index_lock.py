"""The index lock names its holder and gives up with a message instead of waiting forever."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from knowledge.indexer import IndexBusyError, index_lock

ROOT = Path(__file__).resolve().parents[2]


def hold_lock(index_dir: Path) -> subprocess.Popen[str]:
    """Another process (a left-over action server, say) holding the index."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from knowledge.indexer import index_lock
        with index_lock(Path({str(index_dir)!r})):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_names_its_holder_and_gives_up(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path)
    told: list[str] = []
    try:
        started = time.monotonic()
        with pytest.raises(IndexBusyError) as caught, index_lock(tmp_path, 0.5, told.append):
            pass
        assert 0.4 < time.monotonic() - started < 5
        assert f"process {holder.pid}" in str(caught.value) and "kill" in str(caught.value)
        assert told and f"process {holder.pid}" in told[0]
    finally:
        holder.kill()
        holder.wait()
    # Once the holder is gone (even killed), the lock is free again at once.
    with index_lock(tmp_path, 0.5):
        assert "process" in (tmp_path / "index.lock").read_text()
    assert (tmp_path / "index.lock").read_text() == ""


def test_the_index_command_says_who_holds_the_index(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = hold_lock(state / "index")
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "PARLEY_STATE_DIR": str(state),
            "KNOWLEDGE_DIR": str(ROOT / "knowledge" / "articles"),
            "KNOWLEDGE_LOCK_WAIT_SECONDS": "1",
        }
        done = subprocess.run(
            [sys.executable, "-m", "knowledge", "index"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"held by process {holder.pid}" in done.stderr
