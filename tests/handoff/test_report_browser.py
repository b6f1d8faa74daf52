"""The report page in a real browser (Debian's chromium, headless, via Playwright): opened
from disk and from the handoff service's /report, it shows its figures and demo banner,
draws every chart, logs no console error and requests nothing but the page itself.

It also makes the README's screenshot of a month of made-up conversations (written through
the service's own methods with a simulated clock); PARLEY_UPDATE_SCREENSHOTS=1 copies it
to docs/report.png."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from handoff.db import Database
from handoff.models import OutboxItem, utcnow
from handoff.report import build_report, resolve_period
from handoff.report_html import render_html
from handoff.service import HandoffService
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.samples import sample_packet
from tests.handoff.slack_helpers import running, settings_for
from tests.widget.conftest import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "report-test-token"
WAIT_MS = 30_000

ANSWERED = [
    ("How do I return an item?", "returns.md", "Returns and refunds"),
    ("When will my order arrive?", "shipping.md", "Shipping times"),
    ("How long is the warranty?", "warranty.md", "Warranty"),
    ("Can I change my delivery address?", "delivery-address.md", "Changing the address"),
    ("Which payment methods do you accept?", "payment-methods.md", "Payment methods"),
]
UNANSWERED = [
    "Do you ship to Mars?",
    "Can I pay with bitcoin?",
    "do you have a store in Lisbon",
    "Can you gift wrap my order?",
    "Is there a student discount?",
    "Why was my card 4111 1111 1111 1111 charged twice?",
]
TRIGGERS = ["explicit_request"] * 5 + ["abstentions"] * 3 + ["frustration"] * 2 + ["loop"]
AGENTS = ["Ana", "Bo", "Chen", "Dana"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fill_month(db: Database, now: datetime, seed: int = 3) -> int:
    """About 200 demo conversations over the 30 days before `now`, through the service."""
    rng = random.Random(seed)
    clock = Clock(now)
    service = HandoffService(db, clock=clock)
    count = 0

    def event(kind: str, sender: str, when: datetime, **data: Any) -> None:
        clock.now = when
        ts = when.replace(tzinfo=UTC).timestamp()
        service.note_rasa_event({"event": kind, "sender_id": sender, "timestamp": ts, **data})

    for day in range(29, -1, -1):
        midnight = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        weekend = midnight.weekday() >= 5
        for _ in range(rng.randint(2, 4) if weekend else rng.randint(5, 9)):
            count += 1
            sender = f"demo-{count:04d}"
            start = midnight + timedelta(hours=rng.uniform(8, 20))
            if start > now - timedelta(minutes=40):
                continue
            t = start
            event("user", sender, t, text="hi")
            t += timedelta(seconds=rng.lognormvariate(0.3, 0.5))
            event("bot", sender, t, text="Hello! What can I help you with?")
            roll = rng.random()
            if roll < 0.55:  # the bot answers
                question, path, title = rng.choice(ANSWERED)
                t += timedelta(seconds=rng.uniform(10, 60))
                event("user", sender, t, text=question)
                t += timedelta(seconds=rng.uniform(0.5, 2))
                custom = {
                    "answer_type": "kb" if rng.random() < 0.8 else "suggest",
                    "question": question,
                    "confidence": 0.7,
                    "sources": [{"path": path, "title": title}],
                }
                event("bot", sender, t, text="Here is how…", data={"custom": custom})
                if rng.random() < 0.5:
                    clock.now = t + timedelta(seconds=20)
                    verdict = "yes" if rng.random() < 0.75 else "no"
                    service.record_feedback(
                        sender, verdict, question, path, "v1", custom["answer_type"], 0.7
                    )
                event("slot", sender, t, name="kb_answer_type", value=custom["answer_type"])
            else:  # it cannot answer; sometimes the customer asks for a person
                question = rng.choice(UNANSWERED)
                t += timedelta(seconds=rng.uniform(10, 60))
                event("user", sender, t, text=question)
                t += timedelta(seconds=rng.uniform(0.5, 2))
                custom = {"answer_type": "abstain", "question": question, "sources": []}
                event("bot", sender, t, text="Sorry, I don't know.", data={"custom": custom})
                event("slot", sender, t, name="kb_answer_type", value="abstain")
                if roll < 0.9:
                    clock.now = t + timedelta(seconds=rng.uniform(5, 40))
                    trigger = rng.choice(TRIGGERS)
                    hid = service.open_handoff(sender, sample_packet(trigger)).handoff_id
                    if rng.random() < 0.9:
                        agent = rng.choice(AGENTS)
                        clock.now += timedelta(seconds=rng.lognormvariate(4.0, 0.7))
                        service.claim(hid, f"U-{agent}", agent)
                        clock.now += timedelta(seconds=rng.lognormvariate(3.5, 0.6))
                        service.agent_reply(hid, f"U-{agent}", "Hi, let me check that.")
                        clock.now += timedelta(seconds=rng.lognormvariate(6.0, 0.6))
                        outcome = "resolved" if rng.random() < 0.8 else "not_resolved"
                        service.resolve(hid, f"U-{agent}", outcome, hand_back=rng.random() < 0.5)
            if rng.random() < 0.4:
                good = rng.random() < 0.75
                score = rng.choice([4, 5, 5]) if good else rng.choice([1, 2, 3])
                service.record_csat(sender, score)
        service.sweep_idle(timedelta(minutes=30), now=min(now, midnight + timedelta(days=1)))
    with db.session() as session:  # made-up chats: nothing is ever to be delivered
        session.execute(delete(OutboxItem))
    return count


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    state = tmp_path_factory.mktemp("report-browser")
    db = Database(f"sqlite:///{state / 'handoff.db'}")
    now = utcnow().replace(microsecond=0)
    fill_month(db, now)
    db.dispose()
    return state, now


class Visit:
    """A page with everything it requested and every console error it logged."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str) -> Visit:
        self.page.goto(url, wait_until="load")
        return self

    def check(self, url: str, conversations: int) -> None:
        page = self.page
        assert page.locator("#card-conversations .value").inner_text() == f"{conversations:,}"
        assert page.locator("#demo-banner").is_visible()
        assert "This report shows demo data" in page.locator("#demo-banner").inner_text()
        for section in ("#outcomes", "#handoffs", "#times", "#csat", "#knowledge", "#trends"):
            assert page.locator(section).is_visible(), section
        # Every chart is drawn (an SVG blocked or broken would have no natural width).
        charts = page.evaluate(
            "() => [...document.images].map(i => i.complete && i.naturalWidth > 0)"
        )
        assert len(charts) >= 6 and all(charts)
        assert page.locator(".def").count() >= 15  # each figure's definition under it
        assert self.errors == []
        # Nothing from the network: the page itself, and at most its own data: images.
        assert [u for u in self.requests if u != url and not u.startswith("data:")] == []

    def close(self) -> None:
        self.context.close()


def test_report_file_opens_from_disk_without_network(
    browser: Any, month: tuple[Path, datetime]
) -> None:
    state, now = month
    db = Database(f"sqlite:///{state / 'handoff.db'}")
    try:
        report = build_report(db, resolve_period("30d"))
    finally:
        db.dispose()
    total = report["figures"]["conversations"]["total"]
    assert total > 150 and report["figures"]["handoff_rate"]["handoffs"] > 20
    path = state / "report.html"
    path.write_text(render_html(report), encoding="utf-8")

    visit = Visit(browser).open(path.as_uri())
    try:
        visit.check(path.as_uri(), total)
        # The unanswered question's card number never reaches the page.
        text = visit.page.locator("#knowledge").inner_text()
        assert "4111" not in text and "[card number removed]" in text
        save_screenshot(visit.page)
    finally:
        visit.close()


def test_report_page_from_the_handoff_service(browser: Any, month: tuple[Path, datetime]) -> None:
    state, _now = month
    rasa = FakeRasa()
    settings = settings_for(state, None, rasa, HANDOFF_INTERNAL_TOKEN=TOKEN)
    try:
        with running(settings) as server:
            report = build_report(server.db, resolve_period("30d"))
            url = f"http://127.0.0.1:{server.port}/report?since=30d&token={TOKEN}"
            visit = Visit(browser).open(url)
            try:
                visit.check(url, report["figures"]["conversations"]["total"])
            finally:
                visit.close()
            refused = Visit(browser).open(f"http://127.0.0.1:{server.port}/report?since=30d")
            try:
                assert "Wrong or missing token" in refused.page.inner_text("body")
            finally:
                refused.close()
    finally:
        rasa.stop()


def save_screenshot(page: Any) -> None:
    """The README's screenshot; copied into docs/ with PARLEY_UPDATE_SCREENSHOTS=1."""
    out = ROOT / "var" / "screenshots" / "report.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True, animations="disabled")
    if os.environ.get("PARLEY_UPDATE_SCREENSHOTS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(out, ROOT / "docs" / "report.png")
