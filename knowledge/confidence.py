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
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.evidence import Evidence
from knowledge.retriever import ArticleHit

DEFAULT_MODEL = Path(__file__).with_name("confidence_model.json")
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
_WORD = re.compile(r"\w+")


class ConfidenceModelError(RuntimeError):
    """The confidence model file is missing or broken; the message says what to do."""


def answer_features(
    question: str, hits: Sequence[ArticleHit], evidence: Sequence[Evidence]
) -> dict[str, float]:
    """The signals of the top article's answer (after `SentenceEvidence.assess` on it)."""
    top = hits[0]
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    bests = sorted((e.best for e in evidence), reverse=True)
    return {
        "evidence": top.answer_score,
        "title": top.title_similarity,
        "passage": top.passage_similarity,
        "coverage": top.coverage,
        "margin": top.score - runner_up,
        "best_sentence": bests[0] if bests else 0.0,
        "second_sentence": bests[1] if len(bests) > 1 else 0.0,
        "passage_coverage": top.passages[0].coverage if top.passages else 0.0,
        "log_words": math.log1p(len(_WORD.findall(question))),
        "question_marks": float(question.count("?")),
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
                f"The confidence model {path} is incomplete ({exc!r}). {hint}"
            ) from exc
        sizes = {len(model.features), len(model.mean), len(model.scale), len(model.coef)}
        if model.features != FEATURES or sizes != {len(FEATURES)}:
            raise ConfidenceModelError(
                f"The confidence model {path} was trained on other signals "
                f"({', '.join(model.features)}) than this version computes "
                f"({', '.join(FEATURES)}). {hint}"
            )
        if any(s <= 0 for s in model.scale):
            raise ConfidenceModelError(f"The confidence model {path} has a zero scale. {hint}")
        return model
