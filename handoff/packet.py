"""The handoff packet: everything an agent needs, collected from the Rasa tracker and
rendered as Slack Block Kit (customer text always escaped) or as plain console text."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from parley_shared import language

from handoff.identity import is_verified
from handoff.plain_text import one_line, terminal_safe
from handoff.slack_text import escape, truncate
from handoff.summary import extractive_summary

CLAIM_ACTION = "handoff_claim"
RESOLVE_ACTION = "handoff_resolve"

# Transcripts longer than this go to the thread instead of the packet message.
INLINE_TRANSCRIPT_LINES = 12
INLINE_TRANSCRIPT_CHARS = 2400
THREAD_CHUNK_CHARS = 3500

# Slack's limits (api.slack.com/reference/block-kit/blocks): a longer field gets the whole
# message rejected with invalid_blocks, and then no agent ever sees the chat.
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
CONTEXT_TEXT_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75
MAX_BLOCKS = 50
MESSAGE_TEXT_LIMIT = 3900  # chat.postMessage `text`: Slack advises under 4,000 characters
# Per customer field, so one long value cannot crowd out the others.
NAME_LIMIT = 100
EMAIL_LIMIT = 254  # the longest valid address
URL_LIMIT = 500
SHORT_FIELD_LIMIT = 64

_NAME_KEYS = ("display_name", "name", "customer_name", "user_name")
_EMAIL_KEYS = ("email", "customer_email")
_URL_KEYS = ("page_url", "url", "page", "href")
_LOCALE_KEYS = ("locale", "language", "lang")
# Signed identity (handoff/identity.py), as the widget forwards it.
_ID_KEYS = ("customer_id",)
_SIGNATURE_KEYS = ("customer_signature",)
# Shown in the customer block with their verification status, never again as raw metadata.
_SHOWN_KEYS = {*_NAME_KEYS, *_EMAIL_KEYS, *_URL_KEYS, *_ID_KEYS, *_SIGNATURE_KEYS}


def strip_query(url: str) -> str:
    """A page address without query string, fragment or credentials: those carry tokens,
    order numbers and emails that agents do not need."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    if not parts.scheme or not netloc:
        return url.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _looks_like_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _first(meta: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _flat_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """Widget metadata reduced to short scalar strings (nested dicts are flattened one level)."""
    flat: dict[str, str] = {}

    def put(key: str, value: object) -> None:
        text = str(value)
        flat[key] = truncate(strip_query(text) if _looks_like_url(text) else text, 200)

    for key, value in meta.items():
        if key in _SHOWN_KEYS:
            continue
        if isinstance(value, dict):
            for sub, subval in value.items():
                if isinstance(subval, str | int | float | bool):
                    put(f"{key}.{sub}", subval)
        elif isinstance(value, str | int | float | bool):
            put(str(key), value)
    return dict(list(flat.items())[:20])


def collect_packet(
    events: list[dict[str, Any]],
    slots: dict[str, Any] | None = None,
    trigger: str = "explicit_request",
    confidence: float = 1.0,
    trigger_detail: str = "",
    identity_secret: str = "",
) -> dict[str, Any]:
    """Build the packet from raw Rasa tracker events (as the action server receives them).

    The customer's name and email count as verified only when the site signed their id
    with `identity_secret` (PARLEY_IDENTITY_SECRET); see handoff/identity.py."""
    slots = slots or {}
    metadata: dict[str, Any] = {}
    if isinstance(slots.get("session_started_metadata"), dict):
        metadata.update(slots["session_started_metadata"])
    transcript: list[dict[str, Any]] = []
    intents: dict[str, float] = {}
    sources: dict[str, dict[str, Any]] = {}
    last_ts = 0.0
    answer_type = ""
    pending_sources: list[dict[str, Any]] = []
    decisions: list[dict[str, str]] = []

    def add_sources(items: Any, kind: str) -> None:
        if not isinstance(items, list):
            return
        for item in items:
            if not isinstance(item, dict) or not item.get("path"):
                continue
            key = str(item["path"])
            entry = sources.setdefault(
                key,
                {
                    "path": key,
                    "title": str(item.get("title") or ""),
                    "url": str(item.get("url") or ""),
                    "version": str(item.get("version") or item.get("content_hash") or ""),
                    "score": item.get("score"),
                    "used": False,
                },
            )
            if kind == "kb":
                entry["used"] = True
            score = item.get("score")
            if isinstance(score, int | float) and (
                entry["score"] is None or score > entry["score"]
            ):
                entry["score"] = float(score)

    for event in events:
        kind = event.get("event")
        ts = float(event.get("timestamp") or 0.0)
        last_ts = max(last_ts, ts)
        if kind == "slot":
            if event.get("name") == "kb_answer_type" and event.get("value"):
                answer_type = str(event["value"])
            elif event.get("name") == "kb_sources":
                pending_sources = event.get("value") or []
            continue
        if pending_sources:
            add_sources(pending_sources, answer_type)
            pending_sources = []
        if kind == "session_started" and isinstance(event.get("metadata"), dict):
            metadata.update(event["metadata"])
        elif kind == "user":
            if isinstance(event.get("metadata"), dict):
                metadata.update(event["metadata"])
            intent = (event.get("parse_data") or {}).get("intent") or {}
            name = intent.get("name")
            if name:
                intents[name] = max(intents.get(name, 0.0), float(intent.get("confidence") or 0))
            transcript.append({"role": "customer", "text": event.get("text") or "", "ts": ts})
        elif kind == "bot":
            custom = (event.get("data") or {}).get("custom") or {}
            if isinstance(custom, dict) and "sources" in custom:
                add_sources(custom.get("sources"), str(custom.get("answer_type") or ""))
                decisions.append(_decision(custom))
            if event.get("text"):
                transcript.append({"role": "bot", "text": event["text"], "ts": ts})
    if pending_sources:
        add_sources(pending_sources, answer_type)
    if not sources:
        add_sources(slots.get("kb_sources"), str(slots.get("kb_answer_type") or ""))

    customer_lines = [t["text"] for t in transcript if t["role"] == "customer" and t["text"]]
    locale = _first(metadata, _LOCALE_KEYS)
    customer_id = _first(metadata, _ID_KEYS)
    verified = is_verified(identity_secret, customer_id, _first(metadata, _SIGNATURE_KEYS))
    return {
        "customer": {
            "name": _first(metadata, _NAME_KEYS),
            "email": _first(metadata, _EMAIL_KEYS),
            "page_url": strip_query(_first(metadata, _URL_KEYS)),
            "locale": locale,
            "id": customer_id if verified else "",
            "verified": verified,
            "metadata": _flat_metadata(metadata),
        },
        # The language the customer wrote in (Rasa's `language` slot: the widget's language
        # unless their messages were clearly in another one); the locale stays above.
        "language": (
            language.normalise(slots.get("language"))
            or (language.majority(customer_lines) if customer_lines else None)
            or language.normalise(locale)
            or "unknown"
        ),
        "trigger": trigger,
        "confidence": round(float(confidence), 3),
        "trigger_detail": trigger_detail,
        "summary": extractive_summary(customer_lines),
        "transcript": transcript,
        "intents": [{"name": n, "confidence": round(c, 3)} for n, c in intents.items()],
        "sources": list(sources.values()),
        # Per knowledge answer in the conversation: what was done, who decided, and the
        # grounding check of the model's answer (knowledge/grounding.py).
        "knowledge_decisions": decisions,
        "transcript_until": last_ts,
    }


def _decision(custom: dict[str, Any]) -> dict[str, str]:
    def label(key: str) -> str:
        value = custom.get(key)
        return value[:16] if isinstance(value, str) else ""

    return {
        "answer_type": label("answer_type"),
        "decided_by": label("decided_by") or "offline",
        "grounding": label("grounding"),
    }


DECIDERS = {"model": "the language model", "offline": "the offline answerer"}


def decisions_line(packet: dict[str, Any]) -> str:
    """One line on who decided the knowledge answers, e.g. "2 by the language model
    (grounding passed), 1 by the offline answerer (after a failed grounding check)"."""
    counts: dict[tuple[str, str], int] = {}
    for d in packet.get("knowledge_decisions") or []:
        if isinstance(d, dict):
            key = (str(d.get("decided_by") or "offline"), str(d.get("grounding") or ""))
            counts[key] = counts.get(key, 0) + 1
    parts = []
    for (by, grounding), n in sorted(counts.items()):
        note = ""
        if grounding == "passed":
            note = " (grounding check passed)"
        elif grounding == "failed":
            note = " (after the model's answer failed the grounding check)"
        parts.append(f"{n} by {DECIDERS.get(by, 'the offline answerer')}{note}")
    return ", ".join(parts)


TRIGGER_LABELS = {
    "explicit_request": "Customer asked for a person",
    "abstentions": "Bot could not help",
    "frustration": "Customer frustrated",
    "loop": "Customer repeating the question",
    "sensitive_topic": "Sensitive topic",
}


def transcript_lines(packet: dict[str, Any]) -> list[str]:
    lines = []
    for turn in packet.get("transcript", []):
        who = "Customer" if turn["role"] == "customer" else "Bot"
        # One line per turn: a newline in the customer's text cannot start a "*Bot:*" line.
        lines.append(f"*{who}:* {escape(one_line(turn['text']))}")
    return lines


def transcript_is_long(packet: dict[str, Any]) -> bool:
    lines = transcript_lines(packet)
    return len(lines) > INLINE_TRANSCRIPT_LINES or sum(map(len, lines)) > INLINE_TRANSCRIPT_CHARS


def transcript_chunks(packet: dict[str, Any]) -> list[str]:
    """The transcript split into thread messages under Slack's size limits."""
    chunks: list[str] = []
    current = ""
    for line in transcript_lines(packet):
        line = truncate(line, THREAD_CHUNK_CHARS)
        if current and len(current) + len(line) + 1 > THREAD_CHUNK_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _field(value: Any, limit: int) -> str:
    """Customer-supplied text for mrkdwn: one line, cut to `limit`, then escaped."""
    return escape(truncate(one_line(str(value)), limit))


def _customer_name(customer: dict[str, Any]) -> str:
    """The name as agents should read it: marked unverified unless the site signed the id."""
    name = _field(customer.get("name") or "", NAME_LIMIT)
    if customer.get("verified"):
        who = name or "signed-in customer"
        return f"{who} (signed in as `{_field(customer.get('id') or '', SHORT_FIELD_LIMIT)}`)"
    if not name:
        return "anonymous visitor"
    return f"{name} (unverified)"


def language_label(code: object) -> str:
    """ "German (de)" for agents; the code as given when it is not one we know."""
    if isinstance(code, str) and code in language.NAMES:
        return f"{language.NAMES[code]} ({code})"
    return str(code or "unknown")


def _customer_block(packet: dict[str, Any]) -> str:
    c = packet.get("customer", {})
    unverified = "" if c.get("verified") else " (unverified)"
    parts = [f"*Customer:* {_customer_name(c)}"]
    if c.get("verified"):
        parts[0] += " :white_check_mark: verified by the site's signature"
    if c.get("email"):
        parts.append(f"*Email:* {_field(c['email'], EMAIL_LIMIT)}{unverified}")
    if c.get("page_url"):
        parts.append(f"*Page:* {_field(strip_query(c['page_url']), URL_LIMIT)}")
    parts.append(f"*Language:* {_field(language_label(packet.get('language')), SHORT_FIELD_LIMIT)}")
    if c.get("locale"):
        parts.append(f"*Locale:* {_field(c['locale'], SHORT_FIELD_LIMIT)}")
    if packet.get("outside_hours"):
        parts.append(
            ":crescent_moon: Arrived outside support hours; the customer was told a person is "
            f"back {_field(packet['outside_hours'], 120)}."
        )
    return "\n".join(parts)


def headline(handoff_id: int, packet: dict[str, Any]) -> str:
    """The message's plain `text`: notifications and screen readers show it."""
    label = TRIGGER_LABELS.get(packet.get("trigger", ""), packet.get("trigger", "handoff"))
    who = _customer_name(packet.get("customer", {}))
    if who == "anonymous visitor":
        who = "a visitor"
    return truncate(f"Handoff #{handoff_id} from {who}: {escape(str(label))}", 300)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _state_blocks(
    handoff_id: int,
    state: str,
    agent_id: str | None,
    agent_name: str | None,
    resolution: str | None,
    note: str | None,
) -> list[dict[str, Any]]:
    """The part that changes with ownership: Claim, then Resolve, then the outcome."""
    value = str(handoff_id)
    if state == "queued":
        return [
            {
                "type": "actions",
                "block_id": "handoff_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": CLAIM_ACTION,
                        "text": {"type": "plain_text", "text": "Claim"},
                        "style": "primary",
                        "value": value,
                    }
                ],
            }
        ]
    if state == "agent":
        who = f"<@{agent_id}>" if agent_id else _field(agent_name or "an agent", NAME_LIMIT)
        return [
            _section(f":raising_hand: Claimed by {who}"),
            {
                "type": "actions",
                "block_id": "handoff_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": RESOLVE_ACTION,
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "value": value,
                    }
                ],
            },
        ]
    who = f"<@{agent_id}>" if agent_id else _field(agent_name or "nobody", NAME_LIMIT)
    text = f":white_check_mark: Closed by {who}: *{escape(resolution or state)}*"
    if note:
        text += f"\n>{escape(truncate(one_line(note), 1000))}"
    return [_section(text)]


def fit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every text cut to Slack's limit for its place, at most MAX_BLOCKS blocks (the last
    one, with the buttons, kept): a packet is never rejected for its size."""
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1] + blocks[-1:]
    fitted = []
    for block in blocks:
        block = dict(block)
        kind = block.get("type")
        if kind in ("header", "section") and isinstance(block.get("text"), dict):
            limit = HEADER_TEXT_LIMIT if kind == "header" else SECTION_TEXT_LIMIT
            block["text"] = {**block["text"], "text": truncate(block["text"]["text"], limit)}
        if kind == "context":
            block["elements"] = [
                {**e, "text": truncate(e["text"], CONTEXT_TEXT_LIMIT)} if "text" in e else e
                for e in block.get("elements", [])[:10]
            ]
        fitted.append(block)
    return fitted


def build_blocks(
    handoff_id: int,
    packet: dict[str, Any],
    state: str,
    agent_id: str | None = None,
    agent_name: str | None = None,
    resolution: str | None = None,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """Block Kit for the packet message in its current state (queued, agent or closed)."""
    label = TRIGGER_LABELS.get(packet.get("trigger", ""), packet.get("trigger", ""))
    trigger_text = (
        f"*Trigger:* {_field(label, 200)} (confidence {packet.get('confidence', 1.0):.2f})"
    )
    if packet.get("trigger_detail"):
        trigger_text += f"\n_{_field(packet['trigger_detail'], 300)}_"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Handoff #{handoff_id}"},
        },
        _section(_customer_block(packet)),
        _section(trigger_text),
    ]
    if packet.get("summary"):
        by_llm = " (AI-written)" if packet.get("summary_by") == "llm" else ""
        blocks.append(_section(f"*Summary{by_llm}:* {_field(packet['summary'], 2800)}"))
    intents = ", ".join(
        f"{escape(i['name'])} ({i['confidence']:.2f})" for i in packet.get("intents", [])
    )
    if intents:
        blocks.append(_context(f"Intents: {intents}"))
    sources = packet.get("sources", [])
    if sources:
        lines = []
        for s in sources[:10]:
            title = _field(s.get("title") or s["path"], 150)
            status = "used" if s.get("used") else "tried"
            version = f", version {escape(s['version'][:12])}" if s.get("version") else ""
            score = f", score {s['score']:.2f}" if isinstance(s.get("score"), int | float) else ""
            link = f" {_field(s['url'], URL_LIMIT)}" if s.get("url") else ""
            lines.append(f"• {title} (`{_field(s['path'], 150)}`{version}{score}, {status}){link}")
        blocks.append(_section("*Knowledge articles:*\n" + "\n".join(lines)))
    decided = decisions_line(packet)
    if decided:
        blocks.append(_context(f"Knowledge answers decided: {escape(decided)}"))
    meta = packet.get("customer", {}).get("metadata") or {}
    if meta:
        meta_text = ", ".join(f"{_field(k, 64)}={_field(v, 200)}" for k, v in meta.items())
        blocks.append(_context(f"Widget: {meta_text}"))
    if transcript_is_long(packet):
        blocks.append(_context("Full transcript in the thread."))
    elif packet.get("transcript"):
        blocks.append(_section("*Transcript:*\n" + "\n".join(transcript_lines(packet))))
    blocks.append({"type": "divider"})
    blocks.extend(_state_blocks(handoff_id, state, agent_id, agent_name, resolution, note))
    return fit_blocks(blocks)


def minimal_blocks(
    handoff_id: int,
    packet: dict[str, Any],
    state: str,
    reason: str,
    agent_id: str | None = None,
    agent_name: str | None = None,
    resolution: str | None = None,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """The packet cut to what an agent needs to act, for when Slack refused the full one."""
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Handoff #{handoff_id}"}},
        _section(headline(handoff_id, packet)),
        _context(
            f":warning: Slack refused the full packet ({escape(reason)}); it is shown in "
            f"`python -m handoff console show {handoff_id}`. Replies in this thread still go "
            "to the customer once you claim the chat."
        ),
        {"type": "divider"},
        *_state_blocks(handoff_id, state, agent_id, agent_name, resolution, note),
    ]
    return fit_blocks(blocks)


def console_text(handoff_id: int, packet: dict[str, Any]) -> str:
    """The same packet as plain text for the terminal console: one line per field and no
    control characters, so customer text cannot forge lines or drive the terminal."""

    def t(value: Any) -> str:
        return terminal_safe(one_line(str(value)))

    c = packet.get("customer", {})
    if c.get("verified"):
        identity = f" [signed in as {t(c.get('id') or '')}, verified]"
    else:
        identity = " (unverified)" if c.get("name") or c.get("email") else ""
    out = [
        f"Handoff #{handoff_id}",
        f"  Customer: {t(c.get('name') or 'anonymous visitor')}"
        + (f" <{t(c['email'])}>" if c.get("email") else "")
        + identity,
    ]
    if c.get("page_url"):
        out.append(f"  Page:     {t(strip_query(c['page_url']))}")
    out.append(f"  Language: {t(packet.get('language'))}  Locale: {t(c.get('locale') or '-')}")
    if packet.get("outside_hours"):
        out.append(f"  Hours:    arrived outside support hours; back {t(packet['outside_hours'])}")
    label = TRIGGER_LABELS.get(packet.get("trigger", ""), packet.get("trigger", ""))
    out.append(f"  Trigger:  {t(label)} (confidence {packet.get('confidence', 1.0):.2f})")
    if packet.get("trigger_detail"):
        out.append(f"            {t(packet['trigger_detail'])}")
    if packet.get("summary"):
        out.append(f"  Summary:  {t(packet['summary'])}")
    if packet.get("intents"):
        out.append(
            "  Intents:  "
            + ", ".join(f"{t(i['name'])} ({i['confidence']:.2f})" for i in packet["intents"])
        )
    for s in packet.get("sources", []):
        out.append(
            f"  Article:  {t(s.get('title') or s['path'])} [{t(s['path'])}]"
            f"{' v' + t(s['version'][:12]) if s.get('version') else ''}"
            f" ({'used' if s.get('used') else 'tried'}) {t(s.get('url') or '')}"
        )
    decided = decisions_line(packet)
    if decided:
        out.append(f"  Decided:  {t(decided)}")
    out.append("  Transcript:")
    for turn in packet.get("transcript", []):
        who = "customer" if turn["role"] == "customer" else "bot"
        out.append(f"    {who:>8}: {t(turn['text'])}")
    return "\n".join(out)
