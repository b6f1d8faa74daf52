"""Intent classifier: multinomial logistic regression on all sentence features of a message.

Rasa's sparse sentence features (word and character n-gram counts) and dense sentence
features (e.g. MiniLMFeaturizer) are joined into one vector; sparse counts are damped with
log1p and scaled to unit length so that both kinds weigh in. Trains in a few minutes on
15,000 examples and 150 intents, where DIET needs over an hour.

Confidence = softmax probability x familiarity, where familiarity is the highest cosine
similarity between the message's sentence vector and a training example of a routine
intent. A message unlike anything in the training data then scores low even when the
softmax is sure, which is how out-of-scope messages look. FallbackClassifier after this
component turns low-confidence messages into `nlu_fallback`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import RANKING_LENGTH

from bot.components import softmax
from bot.components.fingerprint import source_fingerprint

logger = logging.getLogger(__name__)

_WEIGHTS = "weights.npz"
_LABELS = "labels.json"
_EXAMPLES = "examples.npy"


def _l2_rows(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return scipy.sparse.diags(1.0 / norms) @ matrix


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """Logistic regression over sparse + dense sentence features."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["scipy"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Inverse regularisation strength of the logistic regression.
            "C": 20.0,
            "max_iter": 300,
            # Weight of the (unit-length, log-damped) sparse part next to the dense part.
            "sparse_weight": 1.0,
            # Examples of this intent count `out_of_scope_weight` times: few examples stand
            # for everything the assistant does not handle.
            "out_of_scope_intent": "out_of_scope",
            "out_of_scope_weight": 1.0,
            # Multiply confidences by familiarity (see above), measured on the last
            # `similarity_dims` columns of the dense features (the final-layer sentence
            # vector of MiniLMFeaturizer, 384); 0: off.
            "similarity_dims": 0,
            RANKING_LENGTH: LABEL_RANKING_LENGTH,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        weights: list[np.ndarray] | None = None,
        bias: np.ndarray | None = None,
        labels: list[str] | None = None,
        examples: np.ndarray | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.weights = weights
        self.bias = bias
        self.labels = labels or []
        # Unit sentence vectors of the routine intents' training examples (float16).
        self.examples = examples

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # Retrain instead of reusing Rasa's training cache when this code changes.
        return source_fingerprint(Path(__file__), Path(softmax.__file__))

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get("C", 1.0)) <= 0:
            raise InvalidConfigException("LinearIntentClassifier: 'C' must be positive")
        if float(config.get("out_of_scope_weight", 1.0)) <= 0:
            raise InvalidConfigException(
                "LinearIntentClassifier: 'out_of_scope_weight' must be positive"
            )
        if int(config.get("similarity_dims", 0)) < 0:
            raise InvalidConfigException(
                "LinearIntentClassifier: 'similarity_dims' must be 0 or more"
            )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    def _blocks(self, messages: list[Message]) -> list[Any]:
        """[sparse block, dense block] (either may be missing) of sentence features."""
        sparse_rows, dense_rows = [], []
        for message in messages:
            _, sparse = message.get_sparse_features(TEXT)
            _, dense = message.get_dense_features(TEXT)
            sparse_rows.append(
                scipy.sparse.csr_matrix(sparse.features) if sparse is not None else None
            )
            dense_rows.append(np.asarray(dense.features).reshape(-1) if dense is not None else None)
        blocks: list[Any] = []
        if any(row is not None for row in sparse_rows):
            width = next(row.shape[1] for row in sparse_rows if row is not None)
            empty = scipy.sparse.csr_matrix((1, width))
            matrix = scipy.sparse.vstack(
                [row if row is not None else empty for row in sparse_rows]
            ).tocsr()
            matrix.data = np.log1p(np.abs(matrix.data))
            blocks.append(_l2_rows(matrix) * float(self.config["sparse_weight"]))
        if any(row is not None for row in dense_rows):
            width = next(row.shape[0] for row in dense_rows if row is not None)
            blocks.append(
                np.vstack([row if row is not None else np.zeros(width) for row in dense_rows])
            )
        if not blocks:
            raise InvalidConfigException(
                "LinearIntentClassifier needs sentence features: add a featurizer before it"
            )
        return blocks

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        labels = sorted({e.get(INTENT) for e in examples})
        if len(labels) < 2:
            logger.warning("LinearIntentClassifier: fewer than two intents, nothing to learn")
            return self._resource
        index = {label: i for i, label in enumerate(labels)}
        y = np.array([index[e.get(INTENT)] for e in examples])
        oos = self.config["out_of_scope_intent"]
        sample_weight = np.where(
            [e.get(INTENT) == oos for e in examples], float(self.config["out_of_scope_weight"]), 1.0
        )
        blocks = self._blocks(examples)
        weights, bias = softmax.fit(
            blocks,
            y,
            len(labels),
            c=float(self.config["C"]),
            max_iter=int(self.config["max_iter"]),
            sample_weight=sample_weight,
        )
        self.weights = [w.astype(np.float32) for w in weights]
        self.bias = bias.astype(np.float32)
        self.labels = labels
        vectors = self._sentence_vectors(blocks)
        if vectors is not None:
            routine = np.array([e.get(INTENT) != oos for e in examples])
            self.examples = vectors[routine].astype(np.float16)
        self.persist()
        return self._resource

    def _sentence_vectors(self, blocks: list[Any]) -> np.ndarray | None:
        """Unit vectors from the last `similarity_dims` dense columns, or None."""
        dims = int(self.config["similarity_dims"])
        dense = blocks[-1]
        if dims <= 0 or scipy.sparse.issparse(dense) or dense.shape[1] < dims:
            return None
        tail = np.asarray(dense[:, -dims:], dtype=np.float32)
        return tail / np.maximum(np.linalg.norm(tail, axis=1, keepdims=True), 1e-12)

    def familiarity(self, blocks: list[Any]) -> np.ndarray:
        """Per message, the highest cosine similarity to a routine training example, in
        [0, 1]; ones when there is nothing to compare with."""
        vectors = self._sentence_vectors(blocks)
        n = blocks[0].shape[0]
        if vectors is None or self.examples is None or not len(self.examples):
            return np.ones(n, dtype=np.float32)
        best = np.full(n, -1.0, dtype=np.float32)
        # Chunks keep the similarity matrix small however many examples were trained.
        for start in range(0, len(self.examples), 4096):
            chunk = self.examples[start : start + 4096].astype(np.float32)
            best = np.maximum(best, (vectors @ chunk.T).max(axis=1))
        return np.clip(best, 0.0, 1.0)

    def predict(self, messages: list[Message]) -> np.ndarray:
        """(n, n_intents) confidences: probabilities times familiarity."""
        assert self.weights is not None and self.bias is not None
        blocks = self._blocks(messages)
        probs = softmax.predict_proba(blocks, self.weights, self.bias)
        return probs * self.familiarity(blocks)[:, None]

    def process(self, messages: list[Message]) -> list[Message]:
        if self.weights is None or not messages:
            return messages
        probs = self.predict(messages)
        limit = int(self.config[RANKING_LENGTH])
        for message, row in zip(messages, probs, strict=False):
            order = np.argsort(-row)
            ranking = [{"name": self.labels[i], "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(
                "intent_ranking", ranking[:limit] if limit > 0 else ranking, add_to_output=True
            )
        return messages

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            assert self.weights is not None
            blocks = {f"block{i}": w for i, w in enumerate(self.weights)}
            np.savez(directory / _WEIGHTS, bias=self.bias, **blocks)
            (directory / _LABELS).write_text(json.dumps(self.labels), encoding="utf-8")
            if self.examples is not None:
                np.save(directory / _EXAMPLES, self.examples)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                arrays = np.load(directory / _WEIGHTS)
                labels = json.loads((directory / _LABELS).read_text(encoding="utf-8"))
                count = sum(1 for key in arrays.files if key.startswith("block"))
                weights = [arrays[f"block{i}"] for i in range(count)]
                examples_file = directory / _EXAMPLES
                examples = np.load(examples_file) if examples_file.exists() else None
                return cls(
                    config, model_storage, resource, weights, arrays["bias"], labels, examples
                )
        except (ValueError, KeyError, FileNotFoundError):
            logger.debug("LinearIntentClassifier: no trained weights in %s", resource.name)
            return cls.create(config, model_storage, resource, execution_context)
