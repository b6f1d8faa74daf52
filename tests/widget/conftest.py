"""Browser fixtures: Debian's chromium driven by Playwright, against the real stack."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.stack import RunningStack, start_stack

CHROMIUM = Path(os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_JS = Path(__file__).resolve().parents[2] / "widget" / "dist" / "parley-widget.js"
# Settled within this time, or the test fails (not a speed target: a generous ceiling).
WAIT_MS = 30_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
    if not WIDGET_JS.exists():
        pytest.fail("The widget is not built: run `make widget` (make test does it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def widget_stack() -> Iterator[RunningStack]:
    env = {
        "HANDOFF_POLL_SECONDS": "0.05",
        # The answerer loads on first use: building the index inside the action server's
        # start-up can exceed Sanic's 30-second worker deadline on a busy machine.
        "KNOWLEDGE_PRELOAD": "0",
    }
    with start_stack(extra_env=env) as running:
        yield running


class Chat:
    """One browser page with the demo site and the widget, plus helpers for the tests."""

    def __init__(self, page: Any, stack: RunningStack) -> None:
        self.page = page
        self.stack = stack
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(WAIT_MS)

    def goto(self, query: str = "") -> Chat:
        self.page.goto(f"{self.stack.settings.web_url}/{query}")
        self.page.wait_for_function("() => window.Parley && document.querySelector('parley-chat')")
        return self

    def w(self, selector: str) -> Any:
        """A locator inside the widget's shadow root (Playwright's CSS pierces open roots)."""
        return self.page.locator(f"parley-chat {selector}")

    def open(self) -> Chat:
        if self.w(".panel").is_hidden():
            self.w(".launcher").click()
        self.w(".panel").wait_for(state="visible")
        return self

    def online(self) -> Chat:
        self.page.wait_for_function(
            "() => document.querySelector('parley-chat').dataset.connection === 'online'"
        )
        return self

    def say(self, text: str) -> None:
        self.w(".input").fill(text)
        self.w(".input").press("Enter")

    def messages(self, role: str = "") -> Any:
        return self.w(f".log .msg{'.' + role if role else ''}")

    def wait_text(self, role: str, text: str) -> Any:
        locator = self.messages(role).filter(has_text=text).first
        locator.wait_for()
        return locator

    def session_id(self) -> str:
        return str(
            self.page.evaluate("() => JSON.parse(localStorage.getItem('parley:default:session'))")
        )


@pytest.fixture
def new_chat(browser: Any, widget_stack: RunningStack) -> Iterator[Callable[..., Chat]]:
    contexts: list[Any] = []

    def make(**context_args: Any) -> Chat:
        context = browser.new_context(**context_args)
        contexts.append(context)
        return Chat(context.new_page(), widget_stack)

    yield make
    for context in contexts:
        context.close()


def handoff_cli(stack: RunningStack, *args: str) -> str:
    """The terminal agent console (`python -m handoff console …`): the handoff's own path."""
    result = subprocess.run(
        [".venv/bin/python", "-m", "handoff", "console", *args],
        cwd=Path(__file__).resolve().parents[2],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
