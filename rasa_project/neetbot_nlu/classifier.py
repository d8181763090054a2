"""Intents by a logistic regression over features of bounded length.

Rasa's own `LogisticRegressionClassifier` stacks the featurizers' raw sentence features: word
and character-n-gram *counts*, which grow with every repetition. "blah " × 400 then scored
`request_coach` at 0.99999. Here each featurizer's sentence features form a block that is
scaled to a fixed length (sparse counts: L2-normalised, times the block's weight; dense
features: as standardised by their featurizer, times the weight), so a flood of one word
reads exactly like the word once, and a long message cannot outweigh a short one.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import (
    LogisticRegressionClassifier,
)
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.preprocessing import normalize

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(LogisticRegressionClassifier):
    """A logistic regression on per-featurizer blocks of fixed length (`weights`)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            # featurizer alias → weight of its block; featurizers not named are not used
            "weights": {},
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        weights = config.get("weights")
        if not isinstance(weights, dict) or not weights:
            raise InvalidConfigException(
                "IntentClassifier needs `weights`: featurizer alias → weight"
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LogisticRegressionClassifier:
        """The trained classifier, its weights laid out for serving: scikit-learn scores a
        message as `X @ coef_.T`, and scipy copies a weight matrix that is not contiguous in
        that order (all of it: ~20 MB) for every message, 6 ms of CPU each. Kept column-major,
        `coef_.T` is contiguous; the scores are the same numbers."""
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        weights = getattr(getattr(component, "clf", None), "coef_", None)
        if weights is not None:
            component.clf.coef_ = np.asfortranarray(weights)
        return component

    def _block(self, messages: list[Message], alias: str, weight: float) -> csr_matrix:
        """One featurizer's sentence features of every message, each row scaled to a fixed
        length (stacked once: 18,000 small matrices one by one cost a minute of training)."""
        sparse = [message.get_sparse_features(TEXT, [alias])[1] for message in messages]
        if all(item is not None for item in sparse):
            rows = vstack([csr_matrix(item.features, dtype=np.float64) for item in sparse])
            return normalize(rows.tocsr()) * weight
        dense = [message.get_dense_features(TEXT, [alias])[1] for message in messages]
        if all(item is not None for item in dense):
            rows = np.vstack([np.asarray(item.features, dtype=np.float64) for item in dense])
            return csr_matrix(rows * weight)
        raise InvalidConfigException(
            f"IntentClassifier: no sentence features from a featurizer called '{alias}'"
        )

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        weights = self.config["weights"]
        blocks = [self._block(messages, alias, float(w)) for alias, w in weights.items()]
        return hstack(blocks).tocsr()
