"""The handoff packet: everything an agent needs, collected from the Rasa tracker and
rendered as Slack Block Kit (customer text always escaped) or as plain console text."""

from __future__ import annotations

from typing import Any

from handoff.slack_text import escape, truncate
from handoff.summary import extractive_summary

CLAIM_ACTION = "handoff_claim"
RESOLVE_ACTION = "handoff_resolve"

# Transcripts longer than this go to the thread instead of the packet message.
INLINE_TRANSCRIPT_LINES = 12
INLINE_TRANSCRIPT_CHARS = 2400
THREAD_CHUNK_CHARS = 3500

_NAME_KEYS = ("display_name", "name", "customer_name", "user_name")
_EMAIL_KEYS = ("email", "customer_email")
_URL_KEYS = ("page_url", "url", "page", "href")
_LOCALE_KEYS = ("locale", "language", "lang")


def _first(meta: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _flat_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """Widget metadata reduced to short scalar strings (nested dicts are flattened one level)."""
    flat: dict[str, str] = {}
    for key, value in meta.items():
        if isinstance(value, dict):
            for sub, subval in value.items():
                if isinstance(subval, str | int | float | bool):
                    flat[f"{key}.{sub}"] = truncate(str(subval), 200)
        elif isinstance(value, str | int | float | bool):
            flat[str(key)] = truncate(str(value), 200)
    return dict(list(flat.items())[:20])


def collect_packet(
    events: list[dict[str, Any]],
    slots: dict[str, Any] | None = None,
    trigger: str = "explicit_request",
    confidence: float = 1.0,
    trigger_detail: str = "",
) -> dict[str, Any]:
    """Build the packet from raw Rasa tracker events (as the action server receives them)."""
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
            if event.get("text"):
                transcript.append({"role": "bot", "text": event["text"], "ts": ts})
    if pending_sources:
        add_sources(pending_sources, answer_type)
    if not sources:
        add_sources(slots.get("kb_sources"), str(slots.get("kb_answer_type") or ""))

    customer_lines = [t["text"] for t in transcript if t["role"] == "customer" and t["text"]]
    locale = _first(metadata, _LOCALE_KEYS)
    return {
        "customer": {
            "name": _first(metadata, _NAME_KEYS),
            "email": _first(metadata, _EMAIL_KEYS),
            "page_url": _first(metadata, _URL_KEYS),
            "locale": locale,
            "metadata": _flat_metadata(metadata),
        },
        "language": (locale.split("-")[0].split("_")[0].lower() if locale else "unknown"),
        "trigger": trigger,
        "confidence": round(float(confidence), 3),
        "trigger_detail": trigger_detail,
        "summary": extractive_summary(customer_lines),
        "transcript": transcript,
        "intents": [{"name": n, "confidence": round(c, 3)} for n, c in intents.items()],
        "sources": list(sources.values()),
        "transcript_until": last_ts,
    }


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
        lines.append(f"*{who}:* {escape(turn['text'])}")
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


def _customer_block(packet: dict[str, Any]) -> str:
    c = packet.get("customer", {})
    parts = [f"*Customer:* {escape(c.get('name') or 'anonymous visitor')}"]
    if c.get("email"):
        parts.append(f"*Email:* {escape(c['email'])}")
    if c.get("page_url"):
        parts.append(f"*Page:* {escape(c['page_url'])}")
    parts.append(f"*Language:* {escape(packet.get('language') or 'unknown')}")
    if c.get("locale"):
        parts.append(f"*Locale:* {escape(c['locale'])}")
    return "\n".join(parts)


def headline(handoff_id: int, packet: dict[str, Any]) -> str:
    name = packet.get("customer", {}).get("name") or "a visitor"
    label = TRIGGER_LABELS.get(packet.get("trigger", ""), packet.get("trigger", "handoff"))
    return f"Handoff #{handoff_id} from {escape(name)}: {label}"


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
    trigger_text = f"*Trigger:* {escape(label)} (confidence {packet.get('confidence', 1.0):.2f})"
    if packet.get("trigger_detail"):
        trigger_text += f"\n_{escape(truncate(packet['trigger_detail'], 300))}_"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"Handoff #{handoff_id}", 150)},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _customer_block(packet)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": trigger_text}},
    ]
    if packet.get("summary"):
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(
                        f"*Summary{' (AI-written)' if packet.get('summary_by') == 'llm' else ''}:* "
                        f"{escape(packet['summary'])}",
                        2900,
                    ),
                },
            }
        )
    intents = ", ".join(
        f"{escape(i['name'])} ({i['confidence']:.2f})" for i in packet.get("intents", [])
    )
    if intents:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Intents: {intents}"}]}
        )
    sources = packet.get("sources", [])
    if sources:
        lines = []
        for s in sources[:10]:
            title = escape(s.get("title") or s["path"])
            status = "used" if s.get("used") else "tried"
            version = f", version {escape(s['version'][:12])}" if s.get("version") else ""
            score = f", score {s['score']:.2f}" if isinstance(s.get("score"), int | float) else ""
            link = f" {escape(s['url'])}" if s.get("url") else ""
            lines.append(f"• {title} (`{escape(s['path'])}`{version}{score}, {status}){link}")
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate("*Knowledge articles:*\n" + "\n".join(lines), 2900),
                },
            }
        )
    meta = packet.get("customer", {}).get("metadata") or {}
    if meta:
        meta_text = ", ".join(f"{escape(k)}={escape(v)}" for k, v in meta.items())
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(f"Widget: {meta_text}", 2900)}],
            }
        )
    if transcript_is_long(packet):
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Full transcript in the thread."}],
            }
        )
    elif packet.get("transcript"):
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Transcript:*\n" + "\n".join(transcript_lines(packet)),
                },
            }
        )
    blocks.append({"type": "divider"})
    value = str(handoff_id)
    if state == "queued":
        blocks.append(
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
        )
    elif state == "agent":
        who = f"<@{agent_id}>" if agent_id else escape(agent_name or "an agent")
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f":raising_hand: Claimed by {who}"},
            }
        )
        blocks.append(
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
            }
        )
    else:
        who = f"<@{agent_id}>" if agent_id else escape(agent_name or "nobody")
        text = f":white_check_mark: Closed by {who}: *{escape(resolution or state)}*"
        if note:
            text += f"\n>{escape(truncate(note, 1000))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return blocks


def console_text(handoff_id: int, packet: dict[str, Any]) -> str:
    """The same packet as plain text for the terminal console."""
    c = packet.get("customer", {})
    out = [
        f"Handoff #{handoff_id}",
        f"  Customer: {c.get('name') or 'anonymous visitor'}"
        + (f" <{c['email']}>" if c.get("email") else ""),
    ]
    if c.get("page_url"):
        out.append(f"  Page:     {c['page_url']}")
    out.append(f"  Language: {packet.get('language')}  Locale: {c.get('locale') or '-'}")
    label = TRIGGER_LABELS.get(packet.get("trigger", ""), packet.get("trigger", ""))
    out.append(f"  Trigger:  {label} (confidence {packet.get('confidence', 1.0):.2f})")
    if packet.get("trigger_detail"):
        out.append(f"            {packet['trigger_detail']}")
    if packet.get("summary"):
        out.append(f"  Summary:  {packet['summary']}")
    if packet.get("intents"):
        out.append(
            "  Intents:  "
            + ", ".join(f"{i['name']} ({i['confidence']:.2f})" for i in packet["intents"])
        )
    for s in packet.get("sources", []):
        out.append(
            f"  Article:  {s.get('title') or s['path']} [{s['path']}]"
            f"{' v' + s['version'][:12] if s.get('version') else ''}"
            f" ({'used' if s.get('used') else 'tried'}) {s.get('url') or ''}"
        )
    out.append("  Transcript:")
    for turn in packet.get("transcript", []):
        who = "customer" if turn["role"] == "customer" else "bot"
        out.append(f"    {who:>8}: {turn['text']}")
    return "\n".join(out)
