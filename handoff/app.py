"""The Slack (Bolt) app: packet buttons, the resolve modal and thread replies."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from handoff.listeners import register_listeners
from handoff.service import HandoffService
from handoff.settings import Settings


def build_app(settings: Settings, service: HandoffService, client: WebClient) -> App:
    app = App(
        client=client,
        # HTTP requests are always verified against the signing secret (Bolt skips the
        # check only for Socket Mode, whose websocket is authenticated by the app token).
        signing_secret=settings.slack_signing_secret,
        # Listeners are quick (a database write); finishing before the HTTP response
        # means nothing is lost if the process stops right after acknowledging.
        process_before_response=True,
    )
    register_listeners(app, service)
    return app
