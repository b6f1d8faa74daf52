"""Questions outside the routine intents: answered from the knowledge base.

The answerer (`knowledge.service.KnowledgeService`) is created once per action-server worker,
on the first question (or at import with KNOWLEDGE_PRELOAD=1). It watches the knowledge folder
itself, so edited articles are served without a restart.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley_shared import language
from parley_shared.phrases import phrase
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from handoff.notices import QUESTION_META
from knowledge.answer import Answer, abstain
from knowledge.text import clean_question

log = logging.getLogger(__name__)

_service: Any = None
_lock = threading.Lock()


def get_service() -> Any:
    global _service
    with _lock:
        if _service is None:
            from actions.settings import get_settings
            from knowledge.service import get_service as create

            _service = create(get_settings().knowledge)
        return _service


def set_service(service: Any) -> None:
    """Use this answerer instead of the one built from env vars (tests, embedding apps)."""
    global _service
    _service = service


def _preload_wanted() -> bool:
    # KNOWLEDGE_PRELOAD, off by default: the SDK imports this module in its supervising
    # process, which does not serve requests. The service is then created on the first
    # question in the worker.
    from actions.settings import get_settings

    return get_settings().knowledge_preload


def _preload() -> None:
    try:
        get_service()
        log.info("knowledge: answerer loaded in process %s", os.getpid())
    except Exception:  # answer() retries on first use
        log.exception("knowledge: could not load the answerer at start-up")


if _preload_wanted():
    # In the background: Sanic kills a worker that does not report ready within 30 s, and a
    # first index of a large folder can take longer. Questions asked meanwhile wait for it.
    threading.Thread(target=_preload, name="kb-preload", daemon=True).start()


def _find_blas_thread_setter() -> Callable[[int], int] | None:
    """OpenBLAS's per-thread thread count (OpenBLAS >= 0.3.27, as bundled with numpy 2)."""
    try:
        import numpy

        libs = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
        for lib in sorted(libs.glob("*openblas*.so*")):
            setter = getattr(ctypes.CDLL(str(lib)), "openblas_set_num_threads_local", None)
            if setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
                return setter
    except (ImportError, OSError):
        pass
    return None


_blas_threads = _find_blas_thread_setter()


def answer_question(service: Any, question: str, lang: str | None = None) -> Answer:
    """service.answer on one BLAS thread.

    A question is a few dozen tokens: splitting its small matrix products across cores costs
    more in hand-offs than it saves, and on a busy 2-core machine the second BLAS thread often
    waits for a core (p95 of the query embedding ~10x worse). Only this worker thread is
    affected; indexing keeps every core.
    """
    if _blas_threads is not None:
        _blas_threads(1)
    return service.answer(question, lang)


def slot_sources(answer: Answer) -> list[dict[str, Any]]:
    """What the handoff gets: articles cited, or the ones tried when the bot abstained."""
    used = {str(s["path"]) for s in answer.sources}
    rows = answer.sources or answer.tried
    return [
        {
            "path": s["path"],
            "title": s["title"],
            "url": s["url"],
            "score": s["score"],
            "version": s.get("version", ""),
            "used": s["path"] in used,
        }
        for s in rows
    ]


# Quick replies under an answer or a suggestion: the customer's verdict, recorded by
# action_answer_feedback (bot/data/rules.yml). Typed "yes" / "no" work the same.
FEEDBACK_BUTTONS = {
    "kb": [("button_helped", "/affirm"), ("button_not_helped", "/deny")],
    "suggest": [("button_yes", "/affirm"), ("button_no_person", "/deny")],
}


def feedback_buttons(answer_type: str, lang: str) -> list[dict[str, str]]:
    return [
        {"title": phrase(key, lang), "payload": payload}
        for key, payload in FEEDBACK_BUTTONS.get(answer_type, [])
    ]


def answer_payload(answer: Answer) -> dict[str, Any]:
    """The custom payload: what the widget shows, plus the answer's confidence, which the
    handoff service's ledger records from Rasa's event stream."""
    payload: dict[str, Any] = dict(answer.payload())
    best = (answer.sources or answer.tried or [{}])[0]
    payload["confidence"] = best.get("score")
    return payload


class ActionAnswerFromKnowledge(Action):
    def name(self) -> str:
        return "action_answer_from_knowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        question = (tracker.latest_message or {}).get("text") or ""
        lang = tracker.get_slot("language")
        try:
            service = get_service()
            # Retrieval and the optional LLM call block: keep them off the event loop.
            answer = await asyncio.to_thread(answer_question, service, question, lang)
        except Exception:
            log.exception("knowledge: answering failed; offering a person instead")
            answer = abstain([], language.normalise(lang) or language.DEFAULT)
        dispatcher.utter_message(
            text=answer.text,
            buttons=feedback_buttons(answer.answer_type, answer.language),
            json_message=answer_payload(answer),
            **{QUESTION_META: clean_question(question)},
        )
        return [
            SlotSet("kb_answer_type", answer.answer_type),
            SlotSet("kb_sources", slot_sources(answer)),
        ]
