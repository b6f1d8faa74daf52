"""The customer gets a person: open a handoff with the full packet and keep the bot quiet."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from parley_shared.phrases import phrase
from parley_shared.rate_limit import hourly_limiter
from parley_shared.triggers import (
    ABSTENTIONS,
    EXPLICIT,
    FRUSTRATION,
    LOOP,
    SENSITIVE,
    TRIGGER_SLOT,
    Trigger,
)
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.settings import get_settings
from handoff.llm_summary import llm_summary
from handoff.notices import HANDOFF_META, QUEUED, notice_marker
from handoff.packet import collect_packet

log = logging.getLogger(__name__)

# What the bot says before the queued notice, by trigger (keys in parley_shared/phrases.yml).
OPENERS = {
    ABSTENTIONS: "opener_abstentions",
    FRUSTRATION: "opener_frustration",
    LOOP: "opener_loop",
    SENSITIVE: "opener_sensitive",
}


# New handoffs per conversation and hour (HANDOFF_RATE_PER_HOUR): a script that keeps asking
# for a person must not flood the agents' queue. (Messages per client address are limited at
# the channels.) The server's settings are read here, at start: a bad value stops it with a
# message naming the variable.
HANDOFF_LIMIT = hourly_limiter(
    get_settings().handoff_rate_per_hour, get_settings().redis_url or None, name="handoff"
)

UNAVAILABLE = phrase("unavailable")
# The request, also on Rasa's event broker (handoff/event_broker.py reads it there).
REQUEST_SLOT = "handoff_request"


class ActionHumanHandoff(Action):
    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang = tracker.get_slot("language")
        wait = HANDOFF_LIMIT.hit(tracker.sender_id)
        if wait:
            log.warning("handoff rate limit reached for %s", tracker.sender_id)
            minutes = max(1, math.ceil(wait / 60))
            dispatcher.utter_message(text=phrase("too_many_handoffs", lang, count=minutes))
            return []
        events = list(tracker.events)
        trigger = decided_trigger(tracker)
        settings = get_settings()
        packet = collect_packet(
            events,
            tracker.slots,
            trigger.kind,
            trigger.confidence,
            trigger.detail,
            identity_secret=settings.identity_secret,
        )
        hours = settings.support_hours
        now = datetime.now(UTC)
        if hours is not None and not hours.is_open(now):
            packet["outside_hours"] = hours.describe_return(now)
        summary = await asyncio.to_thread(llm_summary, packet["transcript"], settings.summary_model)
        if summary:
            packet["summary"], packet["summary_by"] = summary, "llm"
        # Imported on first use: the action server must start quickly.
        from handoff.client import HandoffUnavailable, get_client, handoff_request

        request = handoff_request(uuid.uuid4().hex, packet, events)
        try:
            client = get_client(settings.handoff_url, settings.handoff_token)
            await asyncio.to_thread(client.open_handoff, tracker.sender_id, request)
        except HandoffUnavailable as exc:
            # The request also travels in the slot below, on Rasa's event broker: the
            # handoff service opens it when it is back.
            log.warning("handoff for %s goes by the event broker: %s", tracker.sender_id, exc)
        except Exception:  # noqa: BLE001 - the customer must never see an exception
            log.exception("could not open a handoff for %s", tracker.sender_id)
            dispatcher.utter_message(text=phrase("unavailable", lang))
            return [SlotSet(TRIGGER_SLOT, None)]
        # Extra keyword arguments become the bot event's metadata: the widget shows the
        # message as a system notice.
        notice = (
            phrase("outside_hours", lang, back=packet["outside_hours"])
            if packet.get("outside_hours")
            else phrase("queued", lang)
        )
        opener = phrase(OPENERS[trigger.kind], lang) if trigger.kind in OPENERS else ""
        dispatcher.utter_message(
            text=opener + notice,
            **{HANDOFF_META: notice_marker(QUEUED)},
        )
        return [
            SlotSet(TRIGGER_SLOT, None),
            SlotSet(REQUEST_SLOT, request),
            ConversationPaused(),
        ]


def decided_trigger(tracker: Tracker) -> Trigger:
    """Why the handoff runs, as the Rasa-side policy decided it (bot/handoff_bridge.py sets
    the slot in its prediction); no slot means the rules routed an explicit request here."""
    value = tracker.get_slot(TRIGGER_SLOT)
    if isinstance(value, dict) and value.get("kind"):
        try:
            confidence = float(value.get("confidence") or 1.0)
        except (TypeError, ValueError):
            confidence = 1.0
        return Trigger(str(value["kind"]), confidence, str(value.get("detail") or ""))
    intent = (tracker.latest_message or {}).get("intent") or {}
    try:
        confidence = float(intent.get("confidence") or 1.0)
    except (TypeError, ValueError):
        confidence = 1.0
    return Trigger(EXPLICIT, confidence, "")
