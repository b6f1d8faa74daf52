"""Stopping the stack stops every process it started, whatever they are doing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from scripts.stack import launch, stop_processes

# A busy server: ignores SIGTERM and keeps a worker of its own, like a flooded action server.
STUBBORN = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    print(worker.pid, flush=True)
    while True:
        time.sleep(0.1)
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    state = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return state != "Z"


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_busy_child_and_its_workers_are_stopped(tmp_path: Path) -> None:
    child = launch([sys.executable, "-c", STUBBORN], dict(os.environ))
    assert child.stdout is not None
    worker = int(child.stdout.readline())
    started = time.monotonic()
    stop_processes([child], grace=1.0)
    assert child.poll() is not None
    assert wait_dead(worker), "the child's worker outlived the stack"
    assert time.monotonic() - started < 8


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    """`kill -9` of the supervisor (no chance to clean up) still ends its children."""
    pid_file = tmp_path / "child.pid"
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, sys, time
                from scripts.stack import launch
                child = launch([sys.executable, "-c", "import time; time.sleep(600)"],
                               dict(os.environ))
                open({str(pid_file)!r}, "w").write(str(child.pid))
                time.sleep(600)
                """
            ),
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the supervisor did not start its child"
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    assert alive(child_pid)
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    assert wait_dead(child_pid), "the child outlived its killed supervisor"
