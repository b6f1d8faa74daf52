"""Run by tests/bot/test_nlu_components.py inside the Rasa venv (Python 3.10).

Featurizes and trains the custom NLU components on a tiny data set, persists and reloads the
classifier, and prints what the test checks as one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (  # noqa: E402
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.components.linear_intent_classifier import LinearIntentClassifier  # noqa: E402
from bot.components.minilm_featurizer import MiniLMFeaturizer  # noqa: E402

TRAIN = {
    "greet": ["hello", "hi there", "good morning", "hey, how are you"],
    "refund": [
        "i want my money back",
        "how do i get a refund",
        "refund my order please",
        "can you return the payment for this purchase",
    ],
    "weather": [
        "will it rain tomorrow",
        "what is the weather like",
        "is it sunny outside",
        "how cold will it be tonight",
    ],
    "out_of_scope": ["play some jazz", "book me a table for two"],
}
PROBES = [
    "hey hello",
    "please give me a refund for the shoes",
    "is it going to snow today",
    "who painted the mona lisa",
]


def context(name: str) -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name=name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalModelStorage(Path(tmp))
        tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
        counts = CountVectorsFeaturizer.create(
            CountVectorsFeaturizer.get_default_config(), storage, Resource("cvf"), context("cvf")
        )
        dense = MiniLMFeaturizer.create(
            {**MiniLMFeaturizer.get_default_config(), "scale": 2.0, "layers": [4, 5, 6]},
            storage,
            Resource("mini"),
            context("mini"),
        )
        examples = [
            Message(data={"text": text, "intent": intent})
            for intent, texts in TRAIN.items()
            for text in texts
        ]
        data = TrainingData(examples)
        tokenizer.process_training_data(data)
        counts.train(data)
        counts.process_training_data(data)
        dense.process_training_data(data)
        resource = Resource("clf")
        config = {
            **LinearIntentClassifier.get_default_config(),
            "out_of_scope_weight": 5.0,
            "similarity_dims": 384,
        }
        clf = LinearIntentClassifier.create(config, storage, resource, context("clf"))
        clf.train(data)

        probes = [Message(data={"text": text}) for text in PROBES]
        tokenizer.process(probes)
        counts.process(probes)
        dense.process(probes)
        _, sentence = probes[0].get_dense_features("text")
        blocks = clf._blocks(probes)
        probs = clf.probabilities(blocks)
        clf.process(probes)
        reloaded = LinearIntentClassifier.load(config, storage, resource, context("clf"))
        with storage.read_from(resource) as directory:
            stored = sorted(path.name for path in directory.iterdir())
            with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
                stored_arrays = {key: list(arrays[key].shape) for key in arrays.files}

        # Two intents: scikit-learn keeps a single row of coefficients for them.
        pair = TrainingData([m for m in examples if m.get("intent") in ("greet", "refund")])
        pair_resource = Resource("pair")
        pair_clf = LinearIntentClassifier.create(config, storage, pair_resource, context("pair"))
        pair_clf.train(pair)
        pair_reloaded = LinearIntentClassifier.load(config, storage, pair_resource, context("pair"))
        print(
            json.dumps(
                {
                    "dense_shape": list(sentence.features.shape),
                    "dense_norm": float(np.linalg.norm(sentence.features)),
                    "intents": [m.get("intent") for m in probes],
                    "rankings": [m.get("intent_ranking") for m in probes],
                    "reloaded_probs": reloaded.predict(probes).tolist(),
                    "probs": probs.tolist(),
                    "model": type(clf.model).__module__ + "." + type(clf.model).__name__,
                    "stored_files": stored,
                    "stored_arrays": stored_arrays,
                    "n_features": int(clf._blocks(probes[:1])[0].shape[1])
                    + int(clf._blocks(probes[:1])[1].shape[1]),
                    "pair_labels": pair_clf.labels,
                    "pair_probs": pair_clf.predict(probes).tolist(),
                    "pair_reloaded_probs": pair_reloaded.predict(probes).tolist(),
                    "familiarity": clf.familiarity(blocks).tolist(),
                    "stored_examples": len(clf.examples) if clf.examples is not None else 0,
                    "reloaded_examples": len(reloaded.examples)
                    if reloaded.examples is not None
                    else 0,
                }
            )
        )


if __name__ == "__main__":
    main()
