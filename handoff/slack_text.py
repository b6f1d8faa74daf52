"""Text crossing the Slack boundary: escape customer text in, convert agent mrkdwn out."""

from __future__ import annotations

import re


def escape(text: str) -> str:
    """Escape customer text for Slack so it cannot ping (<!channel>, <@U…>) or fake links.

    Slack treats only `&`, `<` and `>` as control characters; escaping them turns every
    special sequence into literal text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


_ANGLE = re.compile(r"<([^<>]+)>")


def _angle(match: re.Match[str], users: dict[str, str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        name = label or users.get(target[1:], "")
        return f"@{name}" if name else "@someone"
    if target.startswith("#"):
        return f"#{label}" if label else "#channel"
    if target.startswith("!"):
        special = target[1:].split("^")[0]
        if special in ("here", "channel", "everyone"):
            return f"@{special}"
        return label or ""
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    if label and label != target:
        return f"[{label}]({target})"
    return target


def to_customer_text(mrkdwn: str, users: dict[str, str] | None = None) -> str:
    """Convert an agent's Slack message (mrkdwn) to the Markdown-ish text the widget shows."""
    users = users or {}
    text = _ANGLE.sub(lambda m: _angle(m, users), mrkdwn)
    # *bold* -> **bold**, ~strike~ -> ~~strike~~ (underscore italics already match Markdown).
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"**\1**", text)
    text = re.sub(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])", r"~~\1~~", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
