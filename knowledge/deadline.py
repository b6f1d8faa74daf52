"""Calls to a remote model under a deadline, with a bounded backlog.

A call that misses its deadline cannot be killed: its thread runs on until the client's own
timeout ends it. With a plain thread pool the next questions would queue behind such calls
and each run later, for nobody, so a slow model would build an ever-growing backlog. Here at
most `slots` calls exist at any time, running or stuck, and none ever waits in a queue: when
every slot is taken the caller is told at once (`CallsBusy`) and uses its fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CallsBusy(RuntimeError):
    """Every slot holds a call still running past its deadline: answer without the model."""


class BoundedCalls:
    def __init__(self, slots: int = 2, name: str = "llm") -> None:
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=name)

    def run(self, fn: Callable[P, T], timeout: float, /, *args: P.args, **kwargs: P.kwargs) -> T:
        """fn(*args, **kwargs)'s result within `timeout` seconds. Raises TimeoutError when
        it takes longer, CallsBusy when no slot is free, or whatever fn raised."""
        if timeout <= 0:
            raise TimeoutError("no time left before the deadline")
        if not self._free.acquire(blocking=False):
            raise CallsBusy(f"all {self.slots} model calls are still running")

        def call() -> T:
            try:
                return fn(*args, **kwargs)
            finally:
                self._free.release()  # only when the call really ends, not at the deadline

        try:
            future = self._pool.submit(call)
        except RuntimeError:  # shut down
            self._free.release()
            raise
        return future.result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
