"""The Slack app end to end against the local mock Web API, with signed requests."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from handoff.ledger import ledger_rows
from handoff.service import AI_BACK_NOTICE
from tests.handoff.fake_rasa import FakeRasa
from tests.handoff.mock_web_api_server import Failure, MockSlack
from tests.handoff.samples import sample_packet
from tests.handoff.slack_helpers import (
    CHANNEL,
    action_ids,
    broker_event,
    button,
    event,
    interaction,
    resolve_submission,
    running,
    settings_for,
)


def test_claim_reply_relay_resolve(tmp_path: Path, slack: MockSlack, rasa: FakeRasa) -> None:
    settings = settings_for(tmp_path, slack, rasa)
    with running(settings) as server:
        hid = server.service.open_handoff("cust-1", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        assert action_ids(packet) == ["handoff_claim"]
        assert "Maria" in packet["text"]
        assert "My parcel to Germany is late" in json.dumps(packet["blocks"])

        # Claim (signed block_actions)
        r = interaction(server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]))
        assert r.status_code == 200
        slack.wait_for(lambda: action_ids(slack.top_level(CHANNEL)[0]) == ["handoff_resolve"])
        rasa_joined = slack.wait_for(lambda: rasa.bot_texts("cust-1"))
        assert rasa_joined == ["Ana from support (human) joined the chat."]
        assert rasa.posts[0]["params"]["execute_side_effects"] == ["true"]
        assert rasa.posts[0]["params"]["output_channel"] == ["latest"]

        # A second agent is refused politely; ownership does not change.
        interaction(server, button("U_BO", "handoff_claim", str(hid), packet["ts"]))
        refusal = slack.wait_for(lambda: slack.ephemeral)[0]
        assert refusal["user"] == "U_BO" and "already claimed by Ana" in refusal["text"]
        assert server.service.get(hid).agent_id == "U_ANA"

        # A customer message logged by Rasa while paused reaches the thread, escaped.
        broker_event(
            tmp_path / "rasa_events.db",
            "cust-1",
            {"event": "user", "text": "<!channel> still waiting <@U_BO>", "timestamp": time.time()},
        )
        thread = slack.wait_for(
            lambda: [m for m in slack.thread(CHANNEL, packet["ts"]) if "Customer" in m["text"]]
        )
        assert thread[0]["text"] == "*Customer:* &lt;!channel&gt; still waiting &lt;@U_BO&gt;"

        # The owner's thread reply reaches the customer, converted from mrkdwn.
        r = event(
            server,
            {
                "type": "message",
                "channel": CHANNEL,
                "user": "U_ANA",
                "text": "*Sorry!* see <https://help.example/t|tracking>",
                "ts": "1700000100.000001",
                "thread_ts": packet["ts"],
                "channel_type": "channel",
            },
        )
        assert r.status_code == 200
        slack.wait_for(lambda: len(rasa.bot_texts("cust-1")) == 2)
        assert rasa.bot_texts("cust-1")[1] == "**Sorry!** see [tracking](https://help.example/t)"
        # Slack retries an event it thinks was lost: the customer still gets it once.
        event(
            server,
            {
                "type": "message",
                "channel": CHANNEL,
                "user": "U_ANA",
                "text": "*Sorry!* see <https://help.example/t|tracking>",
                "ts": "1700000100.000001",
                "thread_ts": packet["ts"],
            },
        )
        # Another agent's thread message stays internal.
        event(
            server,
            {
                "type": "message",
                "channel": CHANNEL,
                "user": "U_BO",
                "text": "internal: VIP customer",
                "ts": "1700000101.000001",
                "thread_ts": packet["ts"],
            },
        )
        slack.wait_for(lambda: len(slack.ephemeral) == 2)
        time.sleep(0.2)
        assert len(rasa.bot_texts("cust-1")) == 2

        # Resolve: the button opens the modal, the submission hands back to the AI.
        interaction(server, button("U_ANA", "handoff_resolve", str(hid), packet["ts"]))
        view = slack.wait_for(lambda: slack.views)[0]
        assert view["callback_id"] == "handoff_resolve_modal"
        assert view["private_metadata"] == str(hid)
        r = interaction(server, resolve_submission("U_ANA", hid, "resolved", note="relabelled"))
        assert r.status_code == 200 and r.text == ""
        slack.wait_for(lambda: AI_BACK_NOTICE in rasa.bot_texts("cust-1"))
        resume_post = [p for p in rasa.posts if p["events"][0]["event"] == "resume"]
        assert resume_post and resume_post[0]["events"][1]["text"] == AI_BACK_NOTICE
        final = slack.wait_for(
            lambda: (m := slack.top_level(CHANNEL)[0]) and not action_ids(m) and m
        )
        assert "resolved" in json.dumps(final["blocks"])

        row = next(r for r in ledger_rows(server.db) if r["conversation_id"] == "cust-1")
        assert row["outcome"] == "resolved_by_human" and row["agent"] == "Ana"
        assert row["resolution_note"] == "relabelled"
        for field in ("handoff_at", "claimed_at", "first_agent_reply_at", "resolved_at"):
            assert row[field], field
        # Exactly one packet, never duplicated.
        assert len(slack.top_level(CHANNEL)) == 1


def test_bad_signature_is_rejected(tmp_path: Path, slack: MockSlack, rasa: FakeRasa) -> None:
    with running(settings_for(tmp_path, slack, rasa)) as server:
        hid = server.service.open_handoff("cust-2", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        r = interaction(
            server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]), secret="wrong-secret"
        )
        assert r.status_code == 401
        assert server.service.get(hid).state == "queued"


def test_resolve_by_non_owner_refused(tmp_path: Path, slack: MockSlack, rasa: FakeRasa) -> None:
    with running(settings_for(tmp_path, slack, rasa)) as server:
        hid = server.service.open_handoff("cust-3", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        interaction(server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]))
        interaction(server, button("U_BO", "handoff_resolve", str(hid), packet["ts"]))
        refusal = slack.wait_for(lambda: slack.ephemeral)[0]
        assert "only Ana" in refusal["text"] and not slack.views
        r = interaction(server, resolve_submission("U_BO", hid, "spam", after="close"))
        assert r.json()["response_action"] == "errors"
        assert server.service.get(hid).state == "agent"


def test_outage_503_then_429_delivered_once(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa
) -> None:
    slack.fail_next(
        "chat.postMessage",
        Failure(503),
        Failure(429, {"Retry-After": "1"}, '{"ok": false, "error": "ratelimited"}'),
    )
    with running(settings_for(tmp_path, slack, rasa)) as server:
        server.service.open_handoff("cust-4", sample_packet())
        slack.wait_for(lambda: slack.top_level(CHANNEL), timeout=15)
        time.sleep(0.3)
        posts = slack.calls("chat.postMessage")
        assert len(posts) == 3  # 503, 429, success
        assert len(slack.top_level(CHANNEL)) == 1
        # After the ambiguous 503 the outbox looked before posting again.
        assert slack.calls("conversations.history")


def test_restart_mid_handoff_loses_nothing(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa
) -> None:
    settings = settings_for(tmp_path, slack, rasa)
    slack.fail_next("chat.postMessage", *[Failure(503) for _ in range(3)])
    with running(settings) as server:
        server.service.open_handoff("cust-5", sample_packet())
        slack.wait_for(lambda: len(slack.calls("chat.postMessage")) >= 1)
    # Down while Slack was failing; meanwhile the customer wrote (Rasa logged it).
    broker_event(
        tmp_path / "rasa_events.db",
        "cust-5",
        {"event": "user", "text": "hello?", "timestamp": time.time()},
    )
    slack.failures.clear()
    with running(settings):
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL), timeout=15)[0]
        slack.wait_for(lambda: slack.thread(CHANNEL, packet["ts"]))
        assert [m["text"] for m in slack.thread(CHANNEL, packet["ts"])] == ["*Customer:* hello?"]
    assert len(slack.top_level(CHANNEL)) == 1


def test_slow_slack_does_not_hold_up_the_customer(
    tmp_path: Path, slack: MockSlack, rasa: FakeRasa
) -> None:
    """Slack posts and customer messages are delivered by separate workers: while Slack
    takes seconds to update the packet, the joined notice and the reply still go out."""
    settings = settings_for(tmp_path, slack, rasa)
    with running(settings) as server:
        hid = server.service.open_handoff("cust-slow", sample_packet()).handoff_id
        packet = slack.wait_for(lambda: slack.top_level(CHANNEL))[0]
        slow = threading.Event()

        def hang_on_update(method: str, _args: dict) -> None:
            if method == "chat.update":
                slow.set()
                time.sleep(3)

        slack.on_request = hang_on_update
        interaction(server, button("U_ANA", "handoff_claim", str(hid), packet["ts"]))
        assert slow.wait(5)
        started = time.monotonic()
        server.service.agent_reply(hid, "U_ANA", "Hi, Ana here.")
        slack.wait_for(lambda: len(rasa.bot_texts("cust-slow")) == 2, timeout=2)
        assert time.monotonic() - started < 1.5
        assert rasa.bot_texts("cust-slow") == [
            "Ana from support (human) joined the chat.",
            "Hi, Ana here.",
        ]
