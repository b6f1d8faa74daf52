"""The answerer as one long-lived object: loads once, keeps the index fresh, answers questions.

Hot reload: a watcher thread follows the knowledge folder and re-indexes changed files
incrementally (debounced); the retriever re-reads the manifest's live-version map whenever its
generation moves, so a saved article is served within about a second, with no restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from parley_shared.language import detect as detect_language
from parley_shared.language import normalise as normalise_language
from parley_shared.language import warm as warm_language_detection

from knowledge.answer import (
    Answer,
    abstain,
    citation_line,
    extractive_answer,
    other_language_intro,
    suggest,
)
from knowledge.confidence import (
    DEFAULT_E5_MODEL,
    DEFAULT_MODEL,
    ConfidenceModel,
    answer_features,
)
from knowledge.deadline import BoundedCalls, CallsBusy
from knowledge.embeddings import LocalEmbeddings, language_gap, make_embeddings
from knowledge.evidence import Evidence, SentenceEvidence
from knowledge.indexer import Indexer, IndexReport, relative_to
from knowledge.retriever import ArticleHit, Retriever
from knowledge.settings import (
    DEFAULT_LLM_FLOOR,
    DEFAULT_MIN_SCORE,
    DEFAULT_SUGGEST_SCORE,
    KnowledgeSettings,
)
from knowledge.store import open_vectorstore
from knowledge.text import clean_question

log = logging.getLogger(__name__)
# Remote model calls (generation, and the query embedding with KNOWLEDGE_EMBEDDINGS=openai)
# that may be in flight at once, stuck ones included; beyond that the bot answers without.
MODEL_CALL_SLOTS = 4


class KnowledgeService:
    def __init__(self, settings: KnowledgeSettings, chat_model=None) -> None:
        self.settings = settings
        self.embeddings, name = make_embeddings(settings)
        self.store, self.manifest = open_vectorstore(settings, self.embeddings, name)
        self.indexer = Indexer(
            settings.knowledge_dir,
            self.store,
            self.manifest,
            settings.index_dir,
            database_url=settings.database_url or None,
            lock_wait=settings.lock_wait_seconds,
        )
        self.retriever = Retriever(
            self.store, self.manifest, self.embeddings, settings.title_weight
        )
        # The encoders a question can be read with: MiniLM for English, e5 for the other
        # languages ("dual"), or one of them (knowledge/embeddings.py).
        local = self.embeddings if isinstance(self.embeddings, LocalEmbeddings) else None
        self.kinds: tuple[str, ...] = local.kinds if local else ("openai",)
        # Sentence-level evidence needs the local encoder (one API call per sentence is not
        # worth it with OpenAI embeddings): the top passage and its score are then used as is.
        self.evidence = SentenceEvidence(local.encoder.passages) if local else None
        # The trained confidence reads the sentence evidence, so it needs the local encoder;
        # each encoder has its own (its similarities have their own scale). A configured
        # model that cannot load stops the start with a message that says why.
        # `confidence` scores answers read with the first encoder, `multilingual_confidence`
        # those read with e5 when it is the second.
        self.confidence: ConfidenceModel | None = None
        self.multilingual_confidence: ConfidenceModel | None = None
        if self.evidence is not None and settings.confidence_model.lower() != "off":
            first = DEFAULT_E5_MODEL if self.kinds[0] == "e5" else DEFAULT_MODEL
            self.confidence = ConfidenceModel.load(Path(settings.confidence_model or first))
            if "e5" in self.kinds[1:]:
                self.multilingual_confidence = ConfidenceModel.load(DEFAULT_E5_MODEL)
        self.chat = chat_model
        if self.chat is None and settings.llm_enabled:
            from knowledge.llm import make_chat_model

            self.chat = make_chat_model(settings)
        self._calls = BoundedCalls(MODEL_CALL_SLOTS, name="kb-llm")
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.ready = threading.Event()
        self.last_report: IndexReport | None = None

    # -- indexing -------------------------------------------------------------------------
    def sync(self, only: list[str] | None = None, progress: bool = False) -> IndexReport:
        report = self.indexer.sync(only=only, progress=progress)
        self.last_report = report
        self.ready.set()
        for e in report.errors:
            log.warning("knowledge: %s (last good version kept if any)", e)
        self.retriever.refresh()
        evidence = self.evidence
        if evidence is not None and self.retriever.passage_count <= evidence.cache_size:
            # The first questions about each article should not pay for its sentences. (A
            # larger index is not walked: a one-file re-index must not grow with its size.)
            evidence.warm(self.retriever.live_passages())
        # The first customer whose language is read from the message would wait for it.
        warm_language_detection()
        return report

    def start(self, watch: bool | None = None) -> None:
        """Initial sync, then (optionally) the folder watcher, both in a background thread."""
        if self.manifest.generation() > 0:
            self.ready.set()  # serve the last good index while catching up
        watch = self.settings.watch if watch is None else watch
        self._watcher = threading.Thread(
            target=self._run, args=(watch,), daemon=True, name="kb-watch"
        )
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher:
            self._watcher.join(timeout=5)
        self._calls.shutdown()
        self.indexer.close()

    def _run(self, watch: bool) -> None:
        try:
            if watch or not self.manifest.shared:
                self.sync()
            else:
                self.retriever.refresh()  # a reader of a shared index never writes it
        except Exception:  # the bot must keep serving the last good index
            log.exception("knowledge: initial indexing failed")
        finally:
            self.ready.set()
        if not watch:
            # Another process (python -m knowledge watch) keeps the index fresh: follow it.
            while not self._stop.wait(0.5):
                try:
                    self.retriever.refresh()
                except Exception:
                    log.exception("knowledge: could not read the index manifest")
            return
        from watchfiles import watch as watch_files

        folder = self.settings.knowledge_dir
        folder.mkdir(parents=True, exist_ok=True)
        tidied = time.monotonic()
        while not self._stop.is_set():
            caught_up = False
            try:
                for changes in watch_files(
                    folder,
                    stop_event=self._stop,
                    debounce=150,
                    step=50,
                    rust_timeout=1000,
                    yield_on_timeout=True,
                ):
                    self.retriever.refresh()  # another process may have re-indexed
                    if not caught_up:
                        # Edits made before the watcher was listening: one full scan.
                        self.sync()
                        caught_up = True
                    if not changes:
                        if time.monotonic() - tidied > 5:
                            tidied = time.monotonic()
                            try:
                                self.indexer.tidy()
                            except Exception:
                                log.exception("knowledge: could not reach the shared index")
                        continue
                    paths = [p for _, p in changes]
                    rel = relative_to(folder, paths)
                    # Folder renames/deletes arrive as directory events: rescan everything.
                    only = rel if all("." in r.rsplit("/", 1)[-1] for r in rel) and rel else None
                    try:
                        report = self.sync(only=only)
                        if report.changed:
                            log.info(
                                "knowledge: re-indexed %s, removed %s",
                                report.indexed,
                                report.removed,
                            )
                    except Exception:
                        log.exception("knowledge: re-indexing failed; serving the last good index")
            except Exception:
                log.exception("knowledge: watcher stopped; restarting it")
                time.sleep(1)

    # -- answering ------------------------------------------------------------------------
    def answer(self, raw_question: str, language: str | None = None) -> Answer:
        """The answer to a customer's message, in `language` (the conversation's, from the
        widget or detected by Rasa); detected from the message when not given.

        With a language model configured, the model reads the best passages of several
        articles and decides (an answer that passes the grounding check, or NO_ANSWER) for
        every question whose best article reaches the retrieval floor; the offline bands
        decide without a model, below the floor, and when the model fails, times out or is
        busy. An answer that fails the grounding check goes back to the offline decision,
        an answer there becoming a suggestion."""
        question = clean_question(raw_question)
        lang = normalise_language(language) or detect_language(question)
        if not question:
            return abstain([], lang)
        # Only a brand-new index is waited for; afterwards the last good one is always served.
        self.ready.wait(timeout=120)
        # OPENAI_TIMEOUT bounds the remote part of the answer, from its first remote call:
        # with OpenAI embeddings the query embedding and the generation share one deadline.
        deadline = time.monotonic() + self.settings.llm_timeout
        # One query embedding serves retrieval and the answer's sentence choice.
        if self.settings.openai_embeddings:
            try:
                vector = self._calls.run(
                    self.embeddings.embed_query, deadline - time.monotonic(), question
                )
            except (TimeoutError, CallsBusy) as exc:
                log.warning(
                    "knowledge: the query embedding missed the deadline (%s); not answering",
                    type(exc).__name__,
                )
                return abstain([], lang)
            hits, evidence = self.assess(question, vector, lang)
            answer_at, suggest_at = self.thresholds(lang, hits[0].language if hits else lang)
        else:
            hits, evidence, answer_at, suggest_at = self._read(question, lang)
            deadline = time.monotonic() + self.settings.llm_timeout  # nothing remote so far
        offline = self.offline_decision(hits, evidence, lang, answer_at, suggest_at)
        if self.chat is None or not hits:
            return offline
        if hits[0].score < self.llm_floor():
            return replace(offline, model_outcome="below_floor")
        return self._model_decision(question, hits, lang, offline, deadline)

    def llm_floor(self) -> float:
        """The retrieval score from which the language model is asked."""
        if self.settings.llm_floor is not None:
            return self.settings.llm_floor
        # The default is calibrated on the local encoders' scores; OpenAI's have their own.
        return 0.0 if self.settings.openai_embeddings else DEFAULT_LLM_FLOOR

    def offline_decision(
        self,
        hits: list[ArticleHit],
        evidence: list[Evidence],
        lang: str,
        answer_at: float,
        suggest_at: float,
    ) -> Answer:
        """The offline bands: answer, suggest, or abstain on the trained confidence."""
        if not hits or hits[0].answer_score < suggest_at:
            return abstain(hits, lang)
        quoted = self._extractive(hits, evidence, lang)
        if hits[0].answer_score < answer_at:
            return suggest(quoted)  # the passages may not hold the answer
        return quoted

    def _model_decision(
        self,
        question: str,
        hits: list[ArticleHit],
        lang: str,
        offline: Answer,
        deadline: float,
    ) -> Answer:
        from knowledge.llm import ask, select_passages, written_answer

        shown = select_passages(hits)
        try:
            reply = self._calls.run(
                ask, deadline - time.monotonic(), self.chat, question, shown, lang
            )
        except TimeoutError:
            log.warning("knowledge: the language model timed out; the offline answerer decides")
            return replace(offline, model_outcome="timeout")
        except CallsBusy:
            log.warning(
                "knowledge: earlier model calls are still running; the offline answerer decides"
            )
            return replace(offline, model_outcome="busy")
        except Exception as exc:
            log.warning(
                "knowledge: the language model failed (%s); the offline answerer decides",
                type(exc).__name__,
            )
            return replace(offline, model_outcome="error")

        def cost(answer: Answer, **changes: Any) -> Answer:
            return replace(
                answer,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                model_seconds=reply.seconds,
                **changes,
            )

        if reply.no_answer:
            # The model read the passages and found no answer: never guess, offer a person
            # (bench/knowledge_llm.py measures what this costs where the offline bands would
            # have answered).
            return cost(abstain(hits, lang), decided_by="model", model_outcome="no_answer")
        written = written_answer(reply, shown, hits, lang)
        if written.answer is None:
            log.warning(
                "knowledge: the model's answer failed the grounding check (%s); the offline "
                "answerer decides",
                "; ".join(written.grounding.problems),
            )
            fallback = suggest(offline) if offline.answer_type == "kb" else offline
            return cost(
                fallback,
                grounding="failed",
                model_outcome="ungrounded",
                problems=list(written.grounding.problems),
            )
        return cost(written.answer, model_outcome="answered")

    def reading(self, language: str) -> str:
        """The encoder a question in `language` is read with."""
        if language == "en" or "e5" not in self.kinds:
            return self.kinds[0]
        return "e5"

    def _read(
        self, question: str, lang: str
    ) -> tuple[list[ArticleHit], list[Evidence], float, float]:
        """Hits, evidence and the answer bands, read with the encoder for `lang`. An English
        question for which the English reading finds nothing it could even suggest is read
        again with e5, for articles that exist only in another language. (Reading again
        whenever MiniLM did not answer replaced three right or plausible suggestions on
        blind5 with wrong answers from the German-only article: English questions written
        with a German flavour, "Grüezi", "Munich".)"""
        assert isinstance(self.embeddings, LocalEmbeddings)
        kind = self.reading(lang)
        vector = self.embeddings.embed_query_with(question, kind)
        hits, evidence = self.assess(question, vector, lang, kind)
        top = hits[0].language if hits else lang
        answer_at, suggest_at = self.thresholds(lang, top, kind)
        plausible = bool(hits) and hits[0].answer_score >= suggest_at
        if (
            kind != "e5"
            and "e5" in self.kinds
            and not plausible
            and self.retriever.languages() - {lang}
        ):
            other = self.embeddings.embed_query_with(question, "e5")
            hits2, evidence2 = self.assess(question, other, lang, "e5")
            if hits2 and hits2[0].language != lang:
                at2, suggest2 = self.thresholds(lang, hits2[0].language, "e5")
                if hits2[0].answer_score >= at2:
                    return hits2, evidence2, at2, suggest2
        return hits, evidence, answer_at, suggest_at

    def _model(self, kind: str) -> ConfidenceModel | None:
        if kind == "e5" and self.kinds[0] != "e5":
            return self.multilingual_confidence
        return self.confidence

    def thresholds(
        self, question: str = "en", article: str = "en", kind: str | None = None
    ) -> tuple[float, float]:
        """(answer from, suggest from) on the scale of the answer confidence in use, for an
        answer from an article in language `article` to a question in `question`, read
        with encoder `kind` (by default the one for the question's language)."""
        found = self._model(kind or self.reading(question))
        if found is not None:
            model = found.for_languages(question, article)
            answer_at, suggest_at = model.answer_at, model.suggest_at
        else:
            answer_at, suggest_at = DEFAULT_MIN_SCORE, DEFAULT_SUGGEST_SCORE
        if self.settings.min_score is not None:
            answer_at = self.settings.min_score
        if self.settings.suggest_score is not None:
            suggest_at = self.settings.suggest_score
        return answer_at, min(suggest_at, answer_at)

    def assess(
        self,
        question: str,
        vector: list[float] | None = None,
        language: str = "en",
        kind: str | None = None,
    ) -> tuple[list[ArticleHit], list[Evidence]]:
        """The candidate articles and the top one's sentence evidence; the top hit's
        confidence is set (the trained model's when there is one). `vector` is the question
        read with encoder `kind` (by default the one for `language`)."""
        kind = kind or self.reading(language)
        if vector is None:
            if isinstance(self.embeddings, LocalEmbeddings):
                vector = self.embeddings.embed_query_with(question, kind)
            else:
                vector = self.embeddings.embed_query(question)
        gap = language_gap if kind == "e5" else None
        hits = self.retriever.search(question, vector=vector, language=language, gap=gap)
        evidence: list[Evidence] = []
        found = self._model(kind)
        if hits and self.evidence is not None:
            shift = gap(language, hits[0].language) if gap else 0.0
            evidence = self.evidence.assess(np.asarray(vector, dtype=np.float32), hits[0], shift)
            if evidence and found is not None:
                features = answer_features(question, hits, evidence)
                model = found.for_languages(language, hits[0].language)
                hits[0].confidence = model.score(features)
        return hits, evidence

    def _extractive(
        self, hits: list[ArticleHit], evidence: list[Evidence], language: str = "en"
    ) -> Answer:
        if self.evidence is None:  # OpenAI embeddings: the best passage, whole
            top = hits[0]
            src = [top.source()]
            intro = other_language_intro(top.language, language)
            body = " ".join(top.passages[0].text.split())
            text = f"{intro}\n{body}" if intro else body
            return Answer(
                "kb",
                f"{text}\n{citation_line(src, language)}",
                src,
                [h.source() for h in hits[:3]],
                language=language,
                quoted_language=top.language,
            )
        return extractive_answer(hits, evidence, language)


_SERVICE: KnowledgeService | None = None
_SERVICE_LOCK = threading.Lock()


def get_service(settings: KnowledgeSettings) -> KnowledgeService:
    """The process-wide service, created (from `settings`, the process's) and started on
    first use."""
    global _SERVICE
    with _SERVICE_LOCK:
        if _SERVICE is None:
            _SERVICE = KnowledgeService(settings)
            _SERVICE.start()
        return _SERVICE
