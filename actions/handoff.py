"""The customer gets a person: open a handoff with the full packet and keep the bot quiet."""

from __future__ import annotations

import asyncio
import logging
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
from handoff.settings import Settings, SettingsError
from handoff.triggers import ABSTENTIONS, FRUSTRATION, LOOP, SENSITIVE, explain, load_config

log = logging.getLogger(__name__)

OPENERS = {
    ABSTENTIONS: "I'm sorry I couldn't help with that. ",
    FRUSTRATION: "I'm sorry this has been frustrating. ",
    LOOP: "It looks like I'm not getting this right. ",
    SENSITIVE: "This is something a person from our team should handle. ",
}
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
