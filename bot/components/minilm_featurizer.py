"""Dense sentence features from all-MiniLM-L6-v2, loaded offline from the packaged weights.

The encoder is the plain-NumPy implementation in `parley_shared.encoder` (bot/shared/, the
package installed into both environments), shared with the knowledge answerer so both sides
embed text the same way.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from parley_shared import encoder
from parley_shared.encoder import MiniLMEncoder
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.fingerprint import source_fingerprint

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_encoders: dict[str | None, Any] = {}


def get_encoder(model_dir: str | None = None) -> Any:
    """One encoder per model folder and process (the weights take ~90 MB)."""
    with _lock:
        if model_dir not in _encoders:
            _encoders[model_dir] = MiniLMEncoder(Path(model_dir) if model_dir else None)
        return _encoders[model_dir]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a sentence embedding to each message: the 384-dim unit sentence vector, or with
    `layers` the unit mean-pooled states of those layers joined (384 each, final layer
    last), times `scale`."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Folder with model.safetensors + tokenizer.json; None: PARLEY_ENCODER_DIR (read
            # once, when the component is made), else the packaged model.
            "model_dir": None,
            # Multiplies the unit vectors so that they weigh in next to sparse count features.
            "scale": 1.0,
            "batch_size": 64,
            # 1-based encoder layers to pool, e.g. [4, 5, 6]; empty: the sentence vector.
            # Middle layers keep more wording detail, which helps to tell intents apart.
            "layers": [],
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["numpy", "tokenizers", "safetensors"]

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._model_dir: str | None = (
            config["model_dir"] or os.environ.get("PARLEY_ENCODER_DIR", "").strip() or None
        )
        self._scale = float(config["scale"])
        self._batch_size = int(config["batch_size"])
        self._layers = tuple(int(i) for i in config["layers"] or ())
        # Load the weights now (model load), not on the first customer message.
        get_encoder(self._model_dir)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MiniLMFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # Rasa caches featurizer outputs: recompute them when the encoder code changes.
        own = source_fingerprint(Path(__file__), Path(encoder.__file__))
        return own + str(config.get("model_dir"))

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get("scale", 1.0)) <= 0:
            raise InvalidConfigException("MiniLMFeaturizer: 'scale' must be positive")
        if int(config.get("batch_size", 64)) < 1:
            raise InvalidConfigException("MiniLMFeaturizer: 'batch_size' must be at least 1")
        layers = config.get("layers") or []
        if not isinstance(layers, list) or not all(
            isinstance(i, int) and 1 <= i <= 6 for i in layers
        ):
            raise InvalidConfigException(
                "MiniLMFeaturizer: 'layers' must be a list of layer numbers from 1 to 6"
            )

    def embed(self, texts: list[str]) -> np.ndarray:
        """(n, 384 * max(1, len(layers))) float32 sentence features, already scaled."""
        vectors = get_encoder(self._model_dir).encode(
            texts, batch_size=self._batch_size, layers=self._layers
        )
        return np.asarray(vectors, dtype=np.float32) * self._scale

    def process(self, messages: list[Message]) -> list[Message]:
        for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
            todo = [m for m in messages if isinstance(m.get(attribute), str) and m.get(attribute)]
            if not todo:
                continue
            vectors = self.embed([m.get(attribute) for m in todo])
            for message, vector in zip(todo, vectors, strict=False):
                self.add_features_to_message(
                    sequence=None, sentence=vector[None, :], attribute=attribute, message=message
                )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        logger.info("MiniLMFeaturizer: embedding %d examples", len(training_data.training_examples))
        self.process(training_data.training_examples)
        return training_data
