"""The customer gets a person: open a handoff with the full packet and keep the bot quiet."""

from __future__ import annotations

import asyncio
import logging
import math
import os
from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from handoff.llm_summary import llm_summary
from handoff.notices import (
    HANDOFF_META,
    QUEUED,
    QUEUED_NOTICE,
    notice_marker,
    outside_hours_notice,
)
from handoff.packet import collect_packet
from handoff.rate_limit import hourly_limiter
from handoff.settings import Settings, SettingsError
from handoff.triggers import ABSTENTIONS, FRUSTRATION, LOOP, SENSITIVE, explain, load_config

log = logging.getLogger(__name__)

OPENERS = {
    ABSTENTIONS: "I'm sorry I couldn't help with that. ",
    FRUSTRATION: "I'm sorry this has been frustrating. ",
    LOOP: "It looks like I'm not getting this right. ",
    SENSITIVE: "This is something a person from our team should handle. ",
}
TOO_MANY_HANDOFFS = (
    "You've asked for a person several times in a short while. Our team has your earlier "
    "conversations; please try again in about {minutes} minutes. Until then I'm here for "
    "anything I can answer."
)


def _handoffs_per_hour() -> int:
    raw = os.environ.get("HANDOFF_RATE_PER_HOUR", "").strip()
    try:
        return int(raw) if raw else 6
    except ValueError:
        log.error("HANDOFF_RATE_PER_HOUR must be a whole number, got %r; using 6", raw)
        return 6


# New handoffs per conversation and hour: a script that keeps asking for a person must not
# flood the agents' queue. (Messages per client address are limited at the channels.)
HANDOFF_LIMIT = hourly_limiter(_handoffs_per_hour())

UNAVAILABLE = (
    "I'm sorry, I couldn't reach our support team just now. Please try again in a few "
    "minutes; I'm still here for anything I can answer."
)


class ActionHumanHandoff(Action):
    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        wait = HANDOFF_LIMIT.hit(tracker.sender_id)
        if wait:
            log.warning("handoff rate limit reached for %s", tracker.sender_id)
            minutes = max(1, math.ceil(wait / 60))
            dispatcher.utter_message(text=TOO_MANY_HANDOFFS.format(minutes=minutes))
            return []
        events = list(tracker.events)
        trigger = explain(events, load_config())
        try:
            settings: Settings | None = Settings.from_env()
        except SettingsError as exc:  # the handoff service refuses to start with it too
            log.error("handoff settings: %s", exc)
            settings = None
        packet = collect_packet(
            events,
            tracker.slots,
            trigger.kind,
            trigger.confidence,
            trigger.detail,
            identity_secret=settings.identity_secret if settings else "",
        )
        hours = settings.support_hours if settings else None
        now = datetime.now(UTC)
        if hours is not None and not hours.is_open(now):
            packet["outside_hours"] = hours.describe_return(now)
        summary = await asyncio.to_thread(llm_summary, packet["transcript"])
        if summary:
            packet["summary"], packet["summary_by"] = summary, "llm"
        try:
            # Imported on first use: the database layer is heavy and the action server
            # must start quickly.
            from handoff.client import get_client

            await asyncio.to_thread(get_client().open_handoff, tracker.sender_id, packet, events)
        except Exception:  # noqa: BLE001 - the customer must never see an exception
            log.exception("could not open a handoff for %s", tracker.sender_id)
            dispatcher.utter_message(text=UNAVAILABLE)
            return []
        # Extra keyword arguments become the bot event's metadata: the widget shows the
        # message as a system notice.
        notice = (
            outside_hours_notice(packet["outside_hours"])
            if packet.get("outside_hours")
            else QUEUED_NOTICE
        )
        dispatcher.utter_message(
            text=OPENERS.get(trigger.kind, "") + notice,
            **{HANDOFF_META: notice_marker(QUEUED)},
        )
        return [ConversationPaused()]
