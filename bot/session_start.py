"""Start of every conversation session, run inside Rasa: tell the customer they are talking
to an AI, in the widget's language; a chat a person owns stays paused and silent.

Why here and not on the action server, where custom actions usually live:

* The disclosure is owed to every conversation. On the action server, a conversation that
  started while it was down or restarting got an apology and no disclosure.
* Speed. A remote `action_session_start` sent every conversation's first message to the
  back of Rasa's event loop a second time, behind every other message in flight: at 32
  concurrent conversations its p50 was 1054 ms against 679 ms for the others
  (bench/results/scale.md, before this change).

Rasa 3.6 runs a custom `action_session_start` only remotely, and its built-in one only
starts the session. `install()` (called by the channels, bot/rest_channel.py and
bot/socketio_channel.py, when the Rasa server loads them) makes Rasa's list of built-in
actions hold `DisclosingSessionStart` in its place. domain.yml must therefore not list
`action_session_start` under `actions:`: Rasa would then call the action server for it.
"""

from __future__ import annotations

from typing import Any

from parley_shared import language
from parley_shared.phrases import phrase
from rasa.core.actions import action as rasa_actions
from rasa.core.actions.action import Action, ActionSessionStart, create_bot_utterance
from rasa.shared.core.constants import ACTION_LISTEN_NAME, SESSION_START_METADATA_SLOT
from rasa.shared.core.events import ActionExecuted, ConversationPaused, Event, SlotSet

from bot.language_policy import SLOT as LANGUAGE_SLOT
from bot.language_policy import widget_language

_INSTALLED = "_parley_session_start"


def session_language(tracker: Any) -> str | None:
    """The widget's language from the session's metadata, else the conversation's so far."""
    return widget_language(tracker.get_slot(SESSION_START_METADATA_SLOT)) or language.normalise(
        tracker.get_slot(LANGUAGE_SLOT)
    )


class DisclosingSessionStart(ActionSessionStart):
    """Rasa's session start (a new session, slots carried over as the domain says), then
    the language, then the disclosure or, while a person owns the chat, the pause."""

    async def run(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Event]:
        events = await super().run(output_channel, nlg, tracker, domain)
        # Rasa's list ends with the listen; ours goes before it (a new one: timestamps rise).
        listen = events.pop()
        assert isinstance(listen, ActionExecuted) and listen.action_name == ACTION_LISTEN_NAME
        metadata = tracker.get_slot(SESSION_START_METADATA_SLOT)
        if not domain.session_config.carry_over_slots and metadata is not None:
            # Rasa fills it just before this action: it belongs to the new session.
            events.append(SlotSet(SESSION_START_METADATA_SLOT, metadata))
        lang = session_language(tracker)
        if lang:
            events.append(SlotSet(LANGUAGE_SLOT, lang))
        if tracker.is_paused():
            # SessionStarted resets the tracker, pause included: pause again, say nothing.
            events.append(ConversationPaused())
        else:
            events.append(create_bot_utterance({"text": phrase("disclosure", lang)}))
        events.append(ActionExecuted(ACTION_LISTEN_NAME))
        return events


def install() -> None:
    """Put `DisclosingSessionStart` in Rasa's built-in actions, once per process."""
    if getattr(rasa_actions, _INSTALLED, False):
        return
    rasa_default_actions = rasa_actions.default_actions

    def default_actions(*args: Any, **kwargs: Any) -> list[Action]:
        return [
            DisclosingSessionStart() if type(found) is ActionSessionStart else found
            for found in rasa_default_actions(*args, **kwargs)
        ]

    rasa_actions.default_actions = default_actions
    setattr(rasa_actions, _INSTALLED, True)
