"""Slack listeners, one module per callback; `register_listeners` wires them to the app."""

from __future__ import annotations

from slack_bolt import App

from handoff.listeners.actions import claim_button, resolve_button
from handoff.listeners.events import thread_message
from handoff.listeners.views import resolve_modal
from handoff.service import HandoffService


def register_listeners(app: App, service: HandoffService) -> None:
    claim_button.register(app, service)
    resolve_button.register(app, service)
    resolve_modal.register(app, service)
    thread_message.register(app, service)
