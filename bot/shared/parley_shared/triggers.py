"""Why (and whether) to hand a conversation to a person, from Rasa tracker events.

Pure Python (standard library + PyYAML) so that the action server (Python 3.11) and the
Rasa-side trigger policy (Rasa's Python 3.10) share one definition. Events are the JSON
dicts Rasa stores (`{"event": "user", "text": ..., "parse_data": {...}}`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).resolve().parent / "triggers.yml"

EXPLICIT = "explicit_request"
ABSTENTIONS = "abstentions"
FRUSTRATION = "frustration"
LOOP = "loop"
SENSITIVE = "sensitive_topic"
# The slot the Rasa-side policy sets when a trigger fires ({"kind", "confidence", "detail"});
# the handoff action reads it, so the trigger is decided once.
TRIGGER_SLOT = "handoff_trigger"


@dataclass(frozen=True)
class Trigger:
    kind: str
    confidence: float
    detail: str = ""


@dataclass
class TriggerConfig:
    explicit_intents: list[str] = field(default_factory=lambda: ["human_handoff"])
    explicit_min_confidence: float = 0.5
    max_abstentions: int = 2
    fallback_intents: list[str] = field(default_factory=lambda: ["nlu_fallback", "out_of_scope"])
    fallback_actions: list[str] = field(default_factory=lambda: ["action_default_fallback"])
    answer_actions: list[str] = field(
        default_factory=lambda: [
            "action_answer_from_knowledge",
            "action_answer_feedback",
            "action_default_fallback",
        ]
    )
    frustration_threshold: float = 0.6
    frustration_phrases: list[str] = field(default_factory=list)
    swear_words: list[str] = field(default_factory=list)
    caps_min_letters: int = 8
    loop_similarity: float = 0.75
    loop_window: int = 4
    loop_min_words: int = 3
    sensitive_intents: list[str] = field(default_factory=list)
    sensitive_topics: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], env: Mapping[str, str] | None = None) -> TriggerConfig:
        """The configuration in `data`; HANDOFF_MAX_ABSTENTIONS in `env` (by default the
        process's environment, read once) overrides the file's abstention limit."""
        env = environment() if env is None else env
        ex = data.get("explicit") or {}
        ab = data.get("abstentions") or {}
        fr = data.get("frustration") or {}
        lo = data.get("loop") or {}
        se = data.get("sensitive") or {}
        cfg = cls()
        cfg.explicit_intents = list(ex.get("intents", cfg.explicit_intents))
        cfg.explicit_min_confidence = float(ex.get("min_confidence", 0.5))
        cfg.max_abstentions = int(env.get("HANDOFF_MAX_ABSTENTIONS") or ab.get("consecutive", 2))
        cfg.fallback_intents = list(ab.get("fallback_intents", cfg.fallback_intents))
        cfg.fallback_actions = list(ab.get("fallback_actions", cfg.fallback_actions))
        cfg.answer_actions = list(ab.get("answer_actions", cfg.answer_actions))
        cfg.frustration_threshold = float(fr.get("threshold", 0.6))
        cfg.frustration_phrases = [str(p).lower() for p in fr.get("phrases") or []]
        cfg.swear_words = [str(p).lower() for p in fr.get("swear_words") or []]
        cfg.caps_min_letters = int(fr.get("caps_min_letters", 8))
        cfg.loop_similarity = float(lo.get("similarity", 0.75))
        cfg.loop_window = int(lo.get("window", 4))
        cfg.loop_min_words = int(lo.get("min_words", 3))
        cfg.sensitive_intents = list(se.get("intents") or [])
        cfg.sensitive_topics = {
            str(k): [str(w).lower() for w in v or []] for k, v in (se.get("topics") or {}).items()
        }
        return cfg


# The variables this module reads; the Rasa server (Rasa's own Python, no pydantic-settings
# here) takes them from its environment, once per process.
ENV_NAMES = ("HANDOFF_TRIGGERS_FILE", "HANDOFF_MAX_ABSTENTIONS")


@lru_cache(maxsize=1)
def environment() -> Mapping[str, str]:
    """HANDOFF_TRIGGERS_FILE and HANDOFF_MAX_ABSTENTIONS as this process started with them
    (read once; `environment.cache_clear()` reads them again)."""
    return {name: os.environ[name] for name in ENV_NAMES if name in os.environ}


_cache: dict[tuple[str, str], tuple[float, TriggerConfig]] = {}


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> TriggerConfig:
    """The trigger configuration, reread whenever the file changes: `path`, else
    HANDOFF_TRIGGERS_FILE, else the packaged triggers.yml. `env` holds HANDOFF_TRIGGERS_FILE
    and HANDOFF_MAX_ABSTENTIONS for a caller with settings of its own; by default they come
    from this process's environment (read once)."""
    env = environment() if env is None else env
    file = Path(path or env.get("HANDOFF_TRIGGERS_FILE") or DEFAULT_FILE)
    limit = env.get("HANDOFF_MAX_ABSTENTIONS", "")
    key = (str(file), limit)
    mtime = file.stat().st_mtime
    cached = _cache.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    with open(file, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    cfg = TriggerConfig.from_dict(data, env={"HANDOFF_MAX_ABSTENTIONS": limit})
    _cache[key] = (mtime, cfg)
    return cfg


# -- helpers -------------------------------------------------------------------------
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text) is not None


def _session(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events since the conversation (re)started or was handed back to the bot: what the
    customer said to a person is not held against the bot."""
    start = 0
    for i, e in enumerate(events):
        if e.get("event") in ("session_started", "restart", "resume"):
            start = i + 1
    return events[start:]


def _intent(event: dict[str, Any]) -> tuple[str, float]:
    intent = (event.get("parse_data") or {}).get("intent") or {}
    return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)


def _turns(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(user event, what followed it until the next user event)."""
    turns: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for e in events:
        if e.get("event") == "user":
            turns.append((e, []))
        elif turns:
            turns[-1][1].append(e)
    return turns


# -- the individual triggers -----------------------------------------------------------
def frustration_score(text: str, cfg: TriggerConfig) -> tuple[float, str]:
    lowered = text.lower()
    score = 0.0
    reasons = []
    phrases = [p for p in cfg.frustration_phrases if _has_phrase(lowered, p)]
    if phrases:
        score += 0.6 + 0.2 * (len(phrases) - 1)
        reasons.append("said " + ", ".join(repr(p) for p in phrases[:3]))
    words = set(_words(lowered))
    swears = [w for w in cfg.swear_words if w in words]
    if swears:
        score += 0.7
        reasons.append("swearing")
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= cfg.caps_min_letters and len(_words(text)) >= 2:
        upper = sum(1 for c in letters if c.isupper())
        if upper / len(letters) >= 0.8:
            score += 0.5
            reasons.append("all caps")
    if re.search(r"[!?]{3,}|!{2,}", text):
        score += 0.2
        reasons.append("repeated punctuation")
    return min(1.0, score), "; ".join(reasons)


def sensitive_match(event: dict[str, Any], cfg: TriggerConfig) -> Trigger | None:
    name, confidence = _intent(event)
    if name and name in cfg.sensitive_intents:
        return Trigger(SENSITIVE, confidence, f"intent {name}")
    lowered = str(event.get("text") or "").lower()
    for topic, keywords in cfg.sensitive_topics.items():
        for keyword in keywords:
            if _has_phrase(lowered, keyword):
                return Trigger(SENSITIVE, 0.9, f"{topic}: mentions {keyword!r}")
    return None


def _similarity(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return 0.0
    jaccard = len(set(wa) & set(wb)) / len(set(wa) | set(wb))
    return max(jaccard, SequenceMatcher(None, " ".join(wa), " ".join(wb)).ratio())


def loop_match(events: list[dict[str, Any]], cfg: TriggerConfig) -> Trigger | None:
    users = [e for e in _session(events) if e.get("event") == "user" and e.get("text")]
    if len(users) < 2:
        return None
    latest = str(users[-1]["text"])
    if len(_words(latest)) < cfg.loop_min_words:
        return None
    best = 0.0
    for earlier in users[-1 - cfg.loop_window : -1]:
        text = str(earlier["text"])
        if len(_words(text)) >= cfg.loop_min_words:
            best = max(best, _similarity(latest, text))
    if best >= cfg.loop_similarity:
        return Trigger(LOOP, round(best, 3), "repeated an earlier question")
    return None


def _turn_abstained(user: dict[str, Any], after: list[dict[str, Any]], cfg: TriggerConfig) -> bool:
    answered = False
    for e in after:
        kind = e.get("event")
        if kind == "slot" and e.get("name") == "kb_answer_type":
            # "declined": the customer said a suggestion did not help. A suggestion itself is
            # not a miss until the customer says so.
            if e.get("value") in ("abstain", "declined"):
                return True
            if e.get("value") in ("kb", "suggest"):
                answered = True
        elif kind == "bot":
            custom = (e.get("data") or {}).get("custom") or {}
            if isinstance(custom, dict) and custom.get("answer_type") == "abstain":
                return True
            if isinstance(custom, dict) and custom.get("answer_type") in ("kb", "suggest"):
                answered = True
        elif kind == "action" and e.get("name") in cfg.fallback_actions:
            return True
    return not answered and _intent(user)[0] in cfg.fallback_intents


def consecutive_abstentions(events: list[dict[str, Any]], cfg: TriggerConfig) -> int:
    count = 0
    for user, after in reversed(_turns(_session(events))):
        if not _turn_abstained(user, after, cfg):
            break
        count += 1
    return count


# -- decisions -------------------------------------------------------------------------
def on_user_message(events: list[dict[str, Any]], cfg: TriggerConfig) -> Trigger | None:
    """Checks right after a customer message: sensitive topic, frustration, loop."""
    users = [e for e in _session(events) if e.get("event") == "user"]
    if not users:
        return None
    latest = users[-1]
    found = sensitive_match(latest, cfg)
    if found:
        return found
    score, why = frustration_score(str(latest.get("text") or ""), cfg)
    if score >= cfg.frustration_threshold:
        return Trigger(FRUSTRATION, round(score, 3), why)
    return loop_match(events, cfg)


def after_answer(events: list[dict[str, Any]], cfg: TriggerConfig) -> Trigger | None:
    """Checks right after the bot answered: too many abstentions/fallbacks in a row."""
    count = consecutive_abstentions(events, cfg)
    if cfg.max_abstentions > 0 and count >= cfg.max_abstentions:
        return Trigger(ABSTENTIONS, 1.0, f"{count} answers in a row without help")
    return None


def explicit(events: list[dict[str, Any]], cfg: TriggerConfig) -> Trigger | None:
    users = [e for e in _session(events) if e.get("event") == "user"]
    if not users:
        return None
    name, confidence = _intent(users[-1])
    if name in cfg.explicit_intents and confidence >= cfg.explicit_min_confidence:
        return Trigger(EXPLICIT, confidence, f"intent {name}")
    if name == "affirm":
        return Trigger(EXPLICIT, confidence, "accepted the offer of a person")
    if name == "deny" and _answer_before(events, users[-1]) == "suggest":
        return Trigger(EXPLICIT, confidence, "said the suggested article did not answer it")
    return None


def _answer_before(events: list[dict[str, Any]], user: dict[str, Any]) -> str:
    """The knowledge answer type set before this customer message."""
    found = ""
    for e in events:
        if e is user:
            break
        if e.get("event") == "slot" and e.get("name") == "kb_answer_type":
            found = str(e.get("value") or "")
    return found


def explain(events: list[dict[str, Any]], cfg: TriggerConfig) -> Trigger:
    """Why the handoff action runs now. Falls back to an explicit request, since the
    dialogue rules only route here on the customer's request."""
    for check in (explicit, on_user_message, after_answer):
        found = check(events, cfg)
        if found:
            return found
    users = [e for e in events if e.get("event") == "user"]
    confidence = _intent(users[-1])[1] if users else 1.0
    return Trigger(EXPLICIT, confidence or 1.0, "")
