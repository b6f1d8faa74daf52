"""What the chat channels do to a customer's message before the bot stores it: refuse it when
it is too long or comes too fast, keep Rasa's command syntax out of typed text, remove
personal data and trim page addresses.

No Rasa imports (Rasa's channels run it in Python 3.10; see bot/channel_guard.py), so the
widget server and the handoff service can apply the same rules. The refusals are in the
customer's language, as the bot's own replies (parley_shared/phrases.yml).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from parley_shared import language
from parley_shared.phrases import phrase
from parley_shared.rate_limit import RateLimiter, limiter_for
from parley_shared.redact import redact

logger = logging.getLogger(__name__)

# The start of a refused message that language detection reads: plenty to tell the
# language, and a megabyte is refused as fast as a short message.
DETECT_CHARS = 1000

# Metadata is context the widget adds (page, locale, the customer's declared name); more than
# this is not a widget's, and is dropped rather than stored with every message.
MAX_METADATA_CHARS = 10_000
PAGE_URL_KEYS = ("page_url", "url", "page", "href", "referrer")

# Rasa reads a message starting with "/" as a command: "/intent@confidence{entities}" picks
# the intent without NLU. The intent part is everything before "{" or "@" (stripped); Rasa
# only honours it when it names an intent, so a name with spaces or "/" is ordinary text.
_PAYLOAD = re.compile(r"/(?P<intent>[^{@]+)")
# Rasa's built-in intents that act on the conversation itself; "restart" even runs while a
# person owns the (paused) chat. No widget control sends these.
RASA_COMMAND_INTENTS = frozenset({"restart", "back", "session_start"})


class GuardSettingsError(ValueError):
    """A setting is malformed; the message says which and how to fix it."""


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise GuardSettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < 0:
        raise GuardSettingsError(f"{name} must be 0 (off) or more, got {value}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class GuardSettings:
    max_message_chars: int = 5000
    # Messages per minute; a burst up to the limit, then a steady rate. 0 switches one off.
    per_conversation_per_minute: int = 20
    per_address_per_minute: int = 60
    redact_emails: bool = False
    redact_phones: bool = False
    # REDIS_URL: the limits count across every Rasa server (replicas); empty: in this process.
    redis_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GuardSettings:
        env = os.environ if environ is None else environ
        max_chars = _whole_number(env, "PARLEY_MAX_MESSAGE_CHARS", cls.max_message_chars)
        if max_chars < 1:
            raise GuardSettingsError("PARLEY_MAX_MESSAGE_CHARS must be 1 or more")
        return cls(
            max_message_chars=max_chars,
            per_conversation_per_minute=_whole_number(
                env, "PARLEY_RATE_PER_CONVERSATION", cls.per_conversation_per_minute
            ),
            per_address_per_minute=_whole_number(
                env, "PARLEY_RATE_PER_ADDRESS", cls.per_address_per_minute
            ),
            redact_emails=_switch(env, "PARLEY_REDACT_EMAILS"),
            redact_phones=_switch(env, "PARLEY_REDACT_PHONES"),
            redis_url=env.get("REDIS_URL", "").strip(),
        )


@dataclass(frozen=True)
class Admitted:
    """The message as the bot may store it."""

    text: str
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class Refused:
    """Not passed on; `reply` tells the customer why. `reason` is for logs and metrics."""

    reply: str
    reason: str


def reply_language(text: object, metadata: object) -> str:
    """The language to refuse a message in: the widget's (metadata), unless the text is
    clearly in another one, as the bot's language policy decides (bot/language_policy.py);
    the text's own without a widget language; English when neither says."""
    sample = text[:DETECT_CHARS] if isinstance(text, str) else ""
    return language.detect(sample, hint=language.widget_language(metadata))


def too_long_reply(limit: int, lang: str | None = None) -> str:
    """The refusal of a message over `limit` characters, in `lang` (English when None)."""
    return phrase("message_too_long", lang, count=limit)


def too_fast_reply(seconds: int, lang: str | None = None) -> str:
    """The refusal of a message that came too fast: wait `seconds`, in `lang`."""
    return phrase("messages_too_fast", lang, count=seconds)


def from_widget_control(metadata: Mapping[str, Any] | None) -> bool:
    """The widget marks a message sent by a button or quick reply with the label it showed
    (`shown_as`); typed messages have none."""
    shown = (metadata or {}).get("shown_as")
    return isinstance(shown, str) and bool(shown.strip())


def neutralise_payload(text: str, from_control: bool) -> str:
    """Text Rasa would run as a command, turned into the words it contains ("/restart" ->
    "restart"), unless a widget control sent it.

    Always, not only while a person owns the chat: whether the chat is paused is only
    certain inside Rasa's conversation lock, after the channel has handed the message on (a
    "/restart" right behind "I want a person" would slip through a check here), and a
    customer has no use for the syntax. Button payloads keep working, except Rasa's built-in
    commands, which no button of ours sends.
    """
    stripped = text.strip()  # what Rasa matches against (str.strip, Unicode whitespace)
    match = _PAYLOAD.match(stripped)
    if not match:
        return text
    intent = match.group("intent").strip()
    if not intent or "/" in intent or any(ch.isspace() for ch in intent):
        return text  # Rasa reads this as words already
    if from_control and intent not in RASA_COMMAND_INTENTS:
        return text
    return stripped[1:].lstrip()


def page_address(url: str) -> str:
    """A page URL without its query string, fragment and user:password (they carry search
    terms, tokens, order ids and tracking parameters); anything that is not an http(s) URL is
    left alone."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 host: still cut what could carry data
        return re.split(r"[?#]", url, maxsplit=1)[0]
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _without_numbers(value: Any) -> Any:
    """Card numbers and IBANs out of every string in a metadata value, however nested."""
    if isinstance(value, str):
        return redact(value, emails=False, phones=False)
    if isinstance(value, dict):
        return {k: _without_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_numbers(v) for v in value]
    return value


def clean_metadata(metadata: Any) -> dict[str, Any] | None:
    """The widget's metadata with page URLs trimmed and card numbers and IBANs removed
    wherever a page put them (a name field, custom data). Names and emails stay: they are the
    customer's own declared details, shown to the agent who takes the chat."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return {}
    if len(json.dumps(metadata, default=str)) > MAX_METADATA_CHARS:
        logger.warning("Dropped message metadata over %s characters", MAX_METADATA_CHARS)
        return {}
    cleaned = _without_numbers(dict(metadata))
    for key in PAGE_URL_KEYS:
        if isinstance(cleaned.get(key), str):
            cleaned[key] = page_address(cleaned[key])
    return cleaned


class MessageGuard:
    """One per process: the rate limits count across every channel it guards."""

    def __init__(
        self,
        settings: GuardSettings,
        per_conversation: RateLimiter | None = None,
        per_address: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        redis = settings.redis_url or None
        self.per_conversation = (
            limiter_for(settings.per_conversation_per_minute, redis, name="guard-conversation")
            if per_conversation is None
            else per_conversation
        )
        self.per_address = (
            limiter_for(settings.per_address_per_minute, redis, name="guard-address")
            if per_address is None
            else per_address
        )

    def too_long(self, lang: str | None = None) -> Refused:
        """The refusal for a message over the size limit (also, in English, for a request
        too big to read at all)."""
        return Refused(too_long_reply(self.settings.max_message_chars, lang), "too_long")

    def admit(
        self, conversation: str, address: str, text: Any, metadata: Any
    ) -> Admitted | Refused:
        """Check and clean one customer message. `address` is the client's IP ("" if
        unknown: then only the conversation's limit applies)."""
        # The address is checked first, so a client cannot dodge its limit by opening new
        # conversations; a message its conversation's limit refuses still uses up one of
        # the address's (flooding one conversation is flooding).
        wait = self.per_address.hit(address) if address else 0.0
        reason = "too_fast_address"
        if not wait:
            wait = self.per_conversation.hit(conversation)
            reason = "too_fast_conversation"
        if wait:
            logger.info("Refused a message in %s: %s", conversation, reason)
            seconds = max(1, math.ceil(wait))
            return Refused(too_fast_reply(seconds, reply_language(text, metadata)), reason)

        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if len(text) > self.settings.max_message_chars:
            logger.info("Refused a message of %s characters in %s", len(text), conversation)
            return self.too_long(reply_language(text, metadata))

        cleaned_metadata = clean_metadata(metadata)
        text = neutralise_payload(text, from_widget_control(cleaned_metadata))
        text = redact(text, emails=self.settings.redact_emails, phones=self.settings.redact_phones)
        return Admitted(text, cleaned_metadata)
