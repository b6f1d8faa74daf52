"""A trained answer confidence: how likely the quoted answer is right, learnt across brands.

The evidence score (knowledge/evidence.py) is a similarity: it cannot tell "this passage
answers you" from "this passage is about the same thing", and a threshold tuned on the sample
articles does not carry to another brand's. This model reads the signals the answerer already
has for its top article — the evidence score, title and best-passage similarity, topic-word
coverage, the margin over the runner-up article, the best and second-best sentence, the length
of the message — and gives the probability that the quoted answer is right. It is a logistic
regression fitted by `bench/train_confidence.py` on labelled questions over several invented
brands' knowledge bases (leave-brand-out evaluation in bench/results/knowledge_brands.md), and
runs here in NumPy from a small JSON file: no scikit-learn or torch at run time.

Why a linear model: trained on whole other brands, it generalised better than gradient-boosted
trees, and it keeps the confidence explainable (one weight per signal, in the file).

Across languages (a French question, an English article) topic words cannot match, so the
lexical signals say nothing: a second model in the same file, fitted on the same questions
without them (CROSS_LANGUAGE_FEATURES), scores those answers, with its own thresholds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from knowledge.evidence import Evidence
from knowledge.retriever import ArticleHit
from knowledge.text import message_words

DEFAULT_MODEL = Path(__file__).with_name("confidence_model.json")  # for MiniLM's readings
# For e5's (questions in other languages than English; bench/train_confidence.py --encoder e5).
DEFAULT_E5_MODEL = Path(__file__).with_name("confidence_model_e5.json")
FEATURES = (
    "evidence",  # the evidence confidence of the top article
    "title",  # similarity of the question to its title and tags
    "passage",  # best passage similarity
    "coverage",  # topic-word coverage of the quoted passage with its title and tags
    "margin",  # the top article's retrieval score minus the runner-up's
    "best_sentence",  # the best sentence similarity in the top article
    "second_sentence",  # the best sentence of another passage (a near tie means doubt)
    "passage_coverage",  # topic-word coverage of the quoted passage alone
    "log_words",  # log(1 + words in the message): long messages score lower when right
    "question_marks",  # how many questions the message asks
)
# Without the signals that compare words: the evidence score and the retrieval margin contain
# coverage too, so the margin is taken on the dense scores alone.
CROSS_LANGUAGE_FEATURES = (
    "title",
    "passage",
    "dense_margin",  # the top article's dense score minus the runner-up's
    "best_sentence",
    "second_sentence",
    "log_words",
    "question_marks",
)
SIGNALS = (*FEATURES, "dense_margin")  # what answer_features computes


class ConfidenceModelError(RuntimeError):
    """The confidence model file is missing or broken; the message says what to do."""


def answer_features(
    question: str, hits: Sequence[ArticleHit], evidence: Sequence[Evidence]
) -> dict[str, float]:
    """The signals of the top article's answer (after `SentenceEvidence.assess` on it)."""
    top = hits[0]
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    dense_runner_up = hits[1].dense_score if len(hits) > 1 else 0.0
    bests = sorted((e.best for e in evidence), reverse=True)
    return {
        "evidence": top.answer_score,
        "title": top.title_similarity,
        "passage": top.passage_similarity,
        "coverage": top.coverage,
        "margin": top.score - runner_up,
        "dense_margin": top.dense_score - dense_runner_up,
        "best_sentence": bests[0] if bests else 0.0,
        "second_sentence": bests[1] if len(bests) > 1 else 0.0,
        "passage_coverage": top.passages[0].coverage if top.passages else 0.0,
        "log_words": math.log1p(message_words(question)),
        "question_marks": float(question.count("?") + question.count("？")),
    }


@dataclass(frozen=True)
class ConfidenceModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    answer_at: float  # calibrated answer threshold on this model's probability
    suggest_at: float  # calibrated suggestion threshold
    about: dict[str, Any]
    # Scores answers quoted from an article in another language than the question's.
    cross_language: ConfidenceModel | None = None

    def for_languages(self, question: str, article: str) -> ConfidenceModel:
        """The model for an answer in `article`'s language to a question in `question`'s."""
        if question != article and self.cross_language is not None:
            return self.cross_language
        return self

    def score(self, features: dict[str, float]) -> float:
        z = self.intercept
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += w * (features[name] - mu) / sd
        return 1.0 / (1.0 + math.exp(-z))

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> ConfidenceModel:
        hint = (
            "Restore it from the repository (git checkout knowledge/confidence_model.json), "
            "retrain it with `.venv/bin/python bench/train_confidence.py`, or set "
            "KNOWLEDGE_CONFIDENCE_MODEL=off to answer on the evidence score alone."
        )
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfidenceModelError(f"The confidence model {path} is missing. {hint}") from exc
        except (OSError, ValueError) as exc:
            raise ConfidenceModelError(
                f"The confidence model {path} cannot be read ({exc}). {hint}"
            ) from exc
        model = cls._parse(data, path, hint, FEATURES)
        cross = data.get("cross_language") if isinstance(data, dict) else None
        if cross is not None:
            sub = cls._parse(cross, path, hint, CROSS_LANGUAGE_FEATURES, "cross_language: ")
            model = replace(model, cross_language=sub)
        return model

    @classmethod
    def _parse(
        cls, data: Any, path: Path, hint: str, expected: tuple[str, ...], where: str = ""
    ) -> ConfidenceModel:
        try:
            model = cls(
                features=tuple(str(f) for f in data["features"]),
                mean=tuple(float(x) for x in data["mean"]),
                scale=tuple(float(x) for x in data["scale"]),
                coef=tuple(float(x) for x in data["coef"]),
                intercept=float(data["intercept"]),
                answer_at=float(data["answer_at"]),
                suggest_at=float(data["suggest_at"]),
                about=dict(data.get("about") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfidenceModelError(
                f"The confidence model {path} is incomplete ({where}{exc!r}). {hint}"
            ) from exc
        sizes = {len(model.features), len(model.mean), len(model.scale), len(model.coef)}
        if model.features != expected or sizes != {len(expected)}:
            raise ConfidenceModelError(
                f"The confidence model {path} was trained on other signals "
                f"({where}{', '.join(model.features)}) than this version computes "
                f"({', '.join(expected)}). {hint}"
            )
        if any(s <= 0 for s in model.scale):
            raise ConfidenceModelError(
                f"The confidence model {path} has a zero scale ({where.rstrip(': ')}). {hint}"
            )
        return model
