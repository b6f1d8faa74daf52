"""Resolve modal submitted: record the outcome, update Slack, hand back or close."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from handoff.listeners.actions.resolve_button import RESOLVE_MODAL
from handoff.listeners.people import display_name
from handoff.service import HandoffError, HandoffService


def register(app: App, service: HandoffService) -> None:
    @app.view(RESOLVE_MODAL)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        values = view["state"]["values"]
        outcome = values["outcome"]["value"]["selected_option"]["value"]
        after = (values.get("after", {}).get("value", {}).get("selected_option") or {}).get(
            "value", "hand_back"
        )
        note = (values.get("note", {}).get("value", {}).get("value") or "").strip()
        user_id = body["user"]["id"]
        try:
            service.resolve(
                int(view["private_metadata"]),
                user_id,
                outcome,
                note=note,
                hand_back=after != "close",
                agent_name=display_name(client, user_id),
            )
        except HandoffError as exc:
            ack(response_action="errors", errors={"outcome": str(exc)})
            return
        ack()
