"""Responses that end a conversation: the widget offers its satisfaction survey after them.

Shared because both sides need the same list: Rasa's socket.io channel marks these messages
live (bot/socketio_channel.py) and the widget server finds them in the history
(widget/server.py)."""

GOODBYE_RESPONSES = frozenset({"utter_goodbye"})
# The mark a live bot message carries under `metadata` when it ends the conversation.
END_METADATA = "parley_end"
