"""The chat widget in a real browser (Debian's chromium, headless) against the real stack:
Rasa over socket.io, the action server, the handoff service and the widget server."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from parley_shared.phrases import phrase

from handoff.db import Database
from handoff.ledger import ledger_rows
from handoff.models import QUEUED
from handoff.service import AI_BACK_NOTICE, QUEUED_NOTICE, HandoffService, joined_notice
from tests.integration.stack import RunningStack
from tests.widget.conftest import Chat, handoff_cli, wait_for

DISCLOSURE = phrase("disclosure")

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
GREETING = "What can I help you with today?"
AGENT_REPLY = "Hi Maria, I'm Ana. Your order **1234** left our warehouse yesterday."
XSS_AGENT = (
    'Hi Maria, Ana here. <img src=x onerror="window.__xss=1"> [click](javascript:window.__xss=2)'
)
XSS_CUSTOMER = ['<img src=x onerror="window.__xss=3">', "<script>window.__xss=4</script>"]


def no_injected_markup(chat: Chat) -> None:
    found = chat.page.evaluate(
        """() => {
          const root = document.querySelector('parley-chat').shadowRoot;
          return {
            xss: window.__xss === undefined ? null : window.__xss,
            imgs: root.querySelectorAll('img, script, iframe').length,
            jsLinks: [...root.querySelectorAll('a')]
              .filter(a => !/^https?:|^mailto:/.test(a.href)).length,
          };
        }"""
    )
    assert found == {"xss": None, "imgs": 0, "jsLinks": 0}


def bubbles(chat: Chat) -> list[str]:
    return [t.strip() for t in chat.w(".log .msg .bubble").all_inner_texts()]


def answerer_ready(stack: RunningStack, question: str, answer_type: str) -> None:
    """The answerer loads on first use: wait (over REST, as another customer) until it gives
    this question the expected kind of answer."""
    wait_for(
        lambda: any(
            (r.get("custom") or {}).get("answer_type") == answer_type
            for r in stack.send(f"warm-up-{time.time()}", question)
        ),
        timeout=120,
    )


def greet(chat: Chat) -> None:
    """Start a conversation. Rasa starts the session (and discloses) before it logs the first
    message, so once the widget has reconciled with the history the disclosure comes first."""
    chat.say("hi")
    chat.wait_text("bot", GREETING)
    wait_for(lambda: bubbles(chat)[:1] == [DISCLOSURE])


def handoff_of(stack: RunningStack, session_id: str) -> Any:
    db = Database(f"sqlite:///{stack.state_dir / 'handoff.db'}")
    try:
        return wait_for(
            lambda: next(
                (
                    h
                    for h in HandoffService(db).list_handoffs((QUEUED,))
                    if h.sender_id == session_id
                ),
                None,
            )
        )
    finally:
        db.dispose()


def save_screenshot(chat: Chat) -> None:
    """The README's screenshot, made here; copied into docs/ with PARLEY_UPDATE_SCREENSHOTS=1."""
    out = ROOT / "var" / "screenshots" / "widget.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    chat.page.evaluate("() => document.activeElement && document.activeElement.blur()")
    chat.w(".panel").screenshot(path=str(out), animations="disabled")
    if os.environ.get("PARLEY_UPDATE_SCREENSHOTS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(out, ROOT / "docs" / "widget.png")


def stored_csat(chat: Any, session: str) -> dict[str, Any]:
    """The conversation's ledger row once the survey answer has reached it."""
    db = Database(f"sqlite:///{chat.stack.state_dir / 'handoff.db'}")
    try:
        row: dict[str, Any] = wait_for(
            lambda: next(
                (r for r in ledger_rows(db) if r["conversation_id"] == session and r["csat"]),
                None,
            )
        )
        return row
    finally:
        db.dispose()


def test_demo_page_greets_with_the_ai_disclosure(new_chat: Any) -> None:
    chat = new_chat().goto()
    assert chat.w(".launcher").get_attribute("aria-expanded") == "false"
    chat.open().online()
    assert "AI assistant" in chat.w(".disclosure").inner_text()
    greet(chat)
    first_bot = chat.messages("bot").first
    assert first_bot.locator(".bubble").inner_text().strip() == DISCLOSURE
    assert first_bot.locator(".badge.ai").inner_text() == "AI"
    assert first_bot.locator("time").get_attribute("datetime")
    assert bubbles(chat)[:2] == [DISCLOSURE, "hi"]
    assert chat.errors == []


def test_history_survives_a_reload_and_a_second_tab(new_chat: Any) -> None:
    chat = new_chat().goto()
    chat.open().online()
    greet(chat)
    before = bubbles(chat)
    session = chat.session_id()

    chat.page.reload()
    chat.page.wait_for_function("() => window.Parley")
    chat.open()
    wait_for(lambda: bubbles(chat) == before)
    assert chat.session_id() == session

    tab = Chat(chat.page.context.new_page(), chat.stack).goto()
    tab.open().online()
    wait_for(lambda: bubbles(tab) == before)
    # A message from the second tab: its reply reaches both tabs, the message too.
    tab.say("thanks")
    tab.wait_text("bot", "welcome")
    chat.wait_text("bot", "welcome")
    chat.wait_text("user", "thanks")

    chat.w(".new").click()
    assert chat.session_id() != session
    wait_for(lambda: bubbles(chat) == [] and bubbles(tab) == [])
    assert chat.errors == [] and tab.errors == []


def test_talk_to_a_person_agent_badge_hand_back_and_csat(new_chat: Any) -> None:
    chat = new_chat(viewport={"width": 1100, "height": 820}).goto(
        "?name=Maria%20Silva&email=maria%40example.com&plan=gold"
    )
    chat.open().online()
    greet(chat)
    session = chat.session_id()

    chat.w(".person").click()
    chat.wait_text("user", "Talk to a person")
    # Handoff notices arrive marked (metadata.parley_handoff.kind): shown as system notices.
    queued = chat.wait_text("notice", QUEUED_NOTICE[:60])
    assert queued.get_attribute("data-kind") == "queued"
    chat.w(".status").filter(has_text="Waiting for a person").wait_for()

    # The customer's details reached the handoff packet.
    handoff = handoff_of(chat.stack, session)
    customer = handoff.packet["customer"]
    assert customer["name"] == "Maria Silva" and customer["email"] == "maria@example.com"
    assert customer["page_url"].startswith(chat.stack.settings.web_url)
    assert customer["locale"] and customer["metadata"].get("custom.plan") == "gold"

    handoff_cli(chat.stack, "claim", str(handoff.id), "--as", "Ana")
    assert chat.wait_text("notice", joined_notice("Ana")).get_attribute("data-kind") == "joined"
    # The live notice switches the status in the same step, before any history sync.
    assert "Ana (human) is in the chat" in chat.w(".status").inner_text()
    handoff_cli(chat.stack, "reply", str(handoff.id), "--as", "Ana", AGENT_REPLY)
    agent = chat.wait_text("agent", "I'm Ana")
    assert agent.locator(".who").inner_text() == "Ana"
    assert agent.locator(".badge.human").inner_text() == "Human"
    # The safe Markdown subset: bold is rendered, markup is not.
    assert agent.locator(".bubble strong").inner_text() == "1234"
    chat.w(".status").filter(has_text="Ana (human) is in the chat").wait_for()
    save_screenshot(chat)

    # Agent text is shown as written, never run.
    handoff_cli(chat.stack, "reply", str(handoff.id), "--as", "Ana", XSS_AGENT)
    xss = chat.wait_text("agent", "Hi Maria, Ana here.")
    assert '<img src=x onerror="window.__xss=1">' in xss.locator(".bubble").inner_text()

    # Customer text is shown as typed, never run; the bot stays quiet while Ana owns the chat.
    for text in XSS_CUSTOMER:
        chat.say(text)
        chat.wait_text("user", text)
    wait_for(lambda: chat.w(".msg.user.pending").count() == 0)
    no_injected_markup(chat)

    handoff_cli(chat.stack, "handback", str(handoff.id), "--as", "Ana")
    back = chat.wait_text("notice", AI_BACK_NOTICE[:40])
    assert back.get_attribute("data-kind") == "handback"
    assert back.locator(".badge").count() == 0  # no "AI" or "Human" badge on a notice
    chat.w(".survey").wait_for()
    assert chat.w(".status").is_hidden()
    chat.w("label[for=parley-csat-4]").click()
    chat.w(".survey .comment").fill("Ana was quick <b>thanks</b>")
    chat.w(".survey button[type=submit]").click()
    chat.w(".survey-thanks").wait_for()

    row = stored_csat(chat, session)
    assert row["csat"] == 4 and row["csat_comment"] == "Ana was quick <b>thanks</b>"
    no_injected_markup(chat)
    assert chat.errors == []


def test_citations_render_as_safe_links(new_chat: Any, widget_stack: RunningStack) -> None:
    """A knowledge answer's custom payload, injected through Rasa's API the way Rasa's
    socket.io channel can deliver it (`{"data": {...}}`)."""
    chat = new_chat().goto()
    chat.open().online()
    greet(chat)
    payload = {
        "answer_type": "kb",
        "sources": [
            {"path": "shipping.md", "title": "Shipping times", "url": "https://help.example/ship"},
            {"path": "x.md", "title": "Not a link", "url": "javascript:window.__xss=5"},
        ],
    }
    events = [
        {"event": "bot", "text": "Parcels to Germany take **3–5 working days**."},
        {"event": "bot", "data": {"custom": {"data": payload}}},
    ]
    inject(widget_stack, chat.session_id(), events)
    answer = chat.wait_text("bot", "Parcels to Germany")
    link = answer.locator(".sources a")
    link.wait_for()
    assert link.inner_text() == "Shipping times"
    assert link.get_attribute("href") == "https://help.example/ship"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"
    assert "Not a link" in answer.locator(".sources").inner_text()
    assert answer.locator("strong").inner_text() == "3–5 working days"
    # The same citations come back from the history after a reload.
    chat.page.reload()
    chat.page.wait_for_function("() => window.Parley")
    chat.open()
    chat.wait_text("bot", "Parcels to Germany").locator(".sources a").wait_for()
    no_injected_markup(chat)


def test_knowledge_answer_over_socketio_has_citation_links(
    new_chat: Any, widget_stack: RunningStack
) -> None:
    question = "How long does standard shipping to the UK take?"
    answerer_ready(widget_stack, question, "kb")
    chat = new_chat().goto()
    chat.open().online()
    chat.say(question)
    chat.w(".msg.bot .sources a").first.wait_for(timeout=60_000)


def test_messages_typed_offline_are_sent_on_reconnect(new_chat: Any) -> None:
    chat = new_chat().goto()
    chat.open().online()
    greet(chat)
    chat.page.context.set_offline(True)
    chat.page.wait_for_function(
        "() => document.querySelector('parley-chat').dataset.connection === 'offline'"
    )
    assert "offline" in chat.w(".status").inner_text()
    chat.say("thanks")
    chat.w(".msg.user.pending").filter(has_text="thanks").wait_for()
    assert chat.w(".msg.user.pending .pending-note").inner_text() == "Waiting to send"
    chat.page.context.set_offline(False)
    chat.online()
    chat.wait_text("bot", "welcome")
    assert chat.w(".msg.user.pending").count() == 0
    assert bubbles(chat).count("thanks") == 1


def test_input_limit_is_visible_and_enforced(new_chat: Any) -> None:
    chat = new_chat().goto()
    chat.open().online()
    chat.w(".input").fill("x" * 1001)
    assert "too long" in chat.w(".limit").inner_text()
    assert chat.w(".send").is_disabled()
    assert chat.w(".input").get_attribute("aria-invalid") == "true"
    chat.w(".input").press("Enter")
    assert chat.messages().count() == 0
    chat.w(".input").fill("x" * 1000)
    assert chat.w(".limit").is_hidden() and chat.w(".send").is_enabled()


@pytest.mark.parametrize(
    ("lang", "person", "disclosure_word"),
    [
        ("en", "Talk to a person", "AI assistant"),
        ("de", "Mit einem Menschen sprechen", "KI-Assistenten"),
        ("es", "Hablar con una persona", "asistente de IA"),
        ("fr", "Parler à une personne", "assistant IA"),
        ("zh", "转人工客服", "AI 助手"),
        ("ja", "担当者と話す", "AIアシスタント"),
    ],
)
def test_languages(new_chat: Any, lang: str, person: str, disclosure_word: str) -> None:
    chat = new_chat().goto(f"?lang={lang}")
    chat.open()
    assert chat.w(".person").inner_text() == person
    assert disclosure_word in chat.w(".disclosure").inner_text()


def test_keyboard_only_on_a_phone_screen(new_chat: Any) -> None:
    chat = new_chat(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    chat.goto()
    active = "() => document.querySelector('parley-chat').shadowRoot.activeElement?.className"
    chat.w(".launcher").focus()
    chat.page.keyboard.press("Enter")
    chat.w(".panel").wait_for(state="visible")
    assert chat.page.evaluate(active) == "input"
    box = chat.w(".panel").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert chat.w(".input").bounding_box()["y"] + 40 <= 667  # type: ignore[index]
    chat.online()
    chat.page.keyboard.type("hi")
    chat.page.keyboard.press("Enter")
    chat.wait_text("bot", GREETING)
    chat.page.keyboard.press("Escape")
    chat.w(".panel").wait_for(state="hidden")
    assert chat.page.evaluate(active) == "launcher"
    assert chat.w(".log").get_attribute("aria-live") == "polite"


def test_page_css_and_widget_css_stay_apart(new_chat: Any) -> None:
    chat = new_chat().goto()
    chat.open()
    send_bg = chat.w(".send").evaluate("b => getComputedStyle(b).backgroundColor")
    assert send_bg != "rgb(255, 105, 180)"  # the demo page's `button { hotpink !important }`
    page_font = chat.page.evaluate(
        "() => getComputedStyle(document.querySelector('h1')).fontFamily"
    )
    assert "Georgia" in page_font


def test_history_endpoint_serves_only_long_random_ids(widget_stack: RunningStack) -> None:
    web = widget_stack.settings.web_url
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{web}/api/history/customer-1", timeout=10)
    assert refused.value.code == 404
    # A page on another site (browsers send its Origin) may read it: the widget runs there.
    request = urllib.request.Request(
        f"{web}/api/history/{'c' * 32}", headers={"Origin": "https://shop.example"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        history = json.loads(response.read())
        assert [m for m in history["messages"] if m["role"] == "user"] == []
        assert history["handoff"] == {"state": "bot", "agent": ""}
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def inject(stack: RunningStack, session_id: str, events: list[dict[str, Any]]) -> None:
    query = urllib.parse.urlencode(
        {"token": stack.token, "output_channel": "latest", "execute_side_effects": "true"}
    )
    request = urllib.request.Request(
        f"{stack.rasa_url}/conversations/{session_id}/tracker/events?{query}",
        data=json.dumps([{**e, "timestamp": time.time()} for e in events]).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_customer_ends_the_chat_and_rates_it(new_chat: Any) -> None:
    chat = new_chat().goto()
    chat.open().online()
    greet(chat)
    session = chat.session_id()
    chat.w(".end").click()
    chat.w(".survey legend").wait_for()
    # Keyboard: focus is on the question; Tab reaches the scale, arrows pick a score.
    chat.page.keyboard.press("Tab")
    chat.page.keyboard.press("Space")
    chat.page.keyboard.press("ArrowRight")
    chat.w(".survey button[type=submit]").click()
    chat.w(".survey-thanks").wait_for()
    row = stored_csat(chat, session)
    assert row["csat"] == 2
    # The customer closed it: the next message starts a new conversation.
    wait_for(lambda: chat.session_id() != session and bubbles(chat) == [])


def test_quick_replies_send_their_payload(new_chat: Any, widget_stack: RunningStack) -> None:
    chat = new_chat().goto()
    chat.open().online()
    greet(chat)
    buttons = [
        {"title": "Start over", "payload": "/start_over"},
        {"title": "No", "payload": "/deny"},
    ]
    inject(
        widget_stack,
        chat.session_id(),
        [{"event": "bot", "text": "Shall we start over?", "data": {"buttons": buttons}}],
    )
    chat.w(".chip").filter(has_text="Start over").click()
    chat.wait_text("user", "Start over")
    chat.wait_text("bot", "start over")
    assert chat.w(".chip").count() == 0
    # The history shows the button's label, not the command behind it.
    wait_for(lambda: "Start over" in bubbles(chat) and "/start_over" not in bubbles(chat))


def test_yes_on_a_suggestion_is_stored_beside_the_ledger(
    new_chat: Any, widget_stack: RunningStack
) -> None:
    from sqlalchemy import select

    from handoff.models import AnswerFeedback

    question = "How long is the warranty?"  # the middle band: a suggestion
    answerer_ready(widget_stack, question, "suggest")
    chat = new_chat().goto()
    chat.open().online()
    greet(chat)
    session = chat.session_id()
    chat.say(question)
    chat.wait_text("bot", "Did that answer your question?").locator(".sources a").wait_for()
    assert chat.w(".chip").filter(has_text="No, talk to a person").count() == 1

    chat.w(".chip").filter(has_text="Yes").first.click()

    chat.wait_text("user", "Yes")
    chat.wait_text("bot", "Glad I could help")
    assert chat.w(".chip").count() == 0
    db = Database(f"sqlite:///{widget_stack.state_dir / 'handoff.db'}")
    try:

        def verdicts() -> list[tuple[str, str, str]]:
            with db.session() as s:
                rows = s.scalars(select(AnswerFeedback).where(AnswerFeedback.sender_id == session))
                return [(r.answer_type, r.verdict, r.article_path) for r in rows]

        assert wait_for(verdicts) == [("suggest", "yes", "warranty.md")]
    finally:
        db.dispose()
    assert chat.errors == []


def test_history_is_fetched_on_open_and_when_a_chat_ends_not_per_message(new_chat: Any) -> None:
    """Live messages carry what the widget shows; it fetches the history when it opens, after
    the first turn (Rasa logs the AI disclosure first) and when the conversation may have
    ended, for the survey a goodbye brings; answered, the survey stays answered on reload."""
    chat = new_chat().goto()
    fetches: list[str] = []
    chat.page.on("request", lambda r: fetches.append(r.url) if "/api/history/" in r.url else None)
    chat.open().online()
    greet(chat)
    wait_for(lambda: len(fetches) >= 1)
    time.sleep(1.0)  # a fetch the widget would schedule has gone by now
    after_first_turn = len(fetches)
    chat.say("thanks")
    chat.wait_text("bot", "welcome")
    chat.say("are you a bot?")
    wait_for(lambda: len(chat.messages("bot").all()) >= 4)
    time.sleep(1.0)
    assert len(fetches) == after_first_turn
    assert chat.w(".survey").count() == 0

    chat.say("goodbye")
    chat.w(".survey legend").wait_for()
    assert len(fetches) == after_first_turn + 1
    chat.w("label[for=parley-csat-5]").click()
    chat.w(".survey button[type=submit]").click()
    chat.w(".survey-thanks").wait_for()

    chat.page.reload()
    chat.page.wait_for_function("() => window.Parley")
    chat.open()
    wait_for(lambda: "goodbye" in bubbles(chat))
    time.sleep(1.0)
    assert chat.w(".survey legend").count() == 0
    assert chat.errors == []
