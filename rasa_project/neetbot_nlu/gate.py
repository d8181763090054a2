"""A message without a single letter asks for nothing: `out_of_scope`, whatever the classifier
guessed.

Numbers, symbols and emoji say nothing a classifier trained on words can read: "12345" used
to come out as a form answer at 0.95, "🐸🤡" as anything. A few symbols do have a settled
meaning (👍 yes, 👎 no, 🙏 thanks, 👋 hi, ? help) and are left to the classifier, which has
examples of them. Inside a form the answer is still read from the text ("19" as an age): the
slots are filled from the text, not from the intent.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

INTENT_RANKING = "intent_ranking"
# Invisible joiners and variation selectors that are part of emoji sequences.
_GLUE = {"\u200d", "\ufe0f", "\ufe0e", "\u20e3"}


def has_letter(text: str) -> bool:
    """Whether a text holds at least one letter of any script."""
    return any(unicodedata.category(char)[0] == "L" for char in text)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class WordlessGate(GraphComponent):
    """Sets `intent` to `out_of_scope` (confidence 1) for messages without letters."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "intent": "out_of_scope",
            # symbols with a settled meaning, left to the classifier
            "meaningful": "👍👎👌🙏👋✅❌?؟",
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.intent = str(config["intent"])
        self.meaningful = set(str(config["meaningful"])) | _GLUE | {" "}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> WordlessGate:
        return cls(config)

    def wordless(self, text: str) -> bool:
        """No letter, and not only symbols with a settled meaning."""
        stripped = text.strip()
        if not stripped or has_letter(stripped):
            return False
        return not set(stripped) <= self.meaningful

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text or str(text).startswith("/") or not self.wordless(str(text)):
                continue
            verdict = {INTENT_NAME_KEY: self.intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, verdict, add_to_output=True)
            message.set(INTENT_RANKING, [verdict], add_to_output=True)
        return messages
