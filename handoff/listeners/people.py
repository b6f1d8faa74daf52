"""Agent names from users.info, cached: the customer sees "Ana from support (human)"."""

from __future__ import annotations

import logging
import re

from slack_sdk import WebClient

log = logging.getLogger(__name__)

_names: dict[str, str] = {}
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def display_name(client: WebClient, user_id: str) -> str:
    if user_id in _names:
        return _names[user_id]
    name = ""
    try:
        user = client.users_info(user=user_id).get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or ""
        )
    except Exception as exc:  # noqa: BLE001 - a name is nice to have, not required
        log.warning("users.info failed for %s: %s", user_id, exc)
    name = name.strip() or "A support agent"
    if name != "A support agent":
        _names[user_id] = name
    return name


def mentioned_names(client: WebClient, text: str) -> dict[str, str]:
    return {uid: display_name(client, uid) for uid in set(_MENTION.findall(text))}
