"""Which programme answer, chosen only for a message that may be a programme question.

Rasa's ResponseSelector runs its TensorFlow model on every message, 4.8 ms of CPU each, though
its choice is read only when the message's intent is the retrieval intent (`ask_programme`):
by the rule that answers it, or after the two-stage fallback offered it among the likeliest
intents and the person tapped it. Here the selector runs when the retrieval intent is among
the classifier's 3 likeliest intents (the fallback offers 2), and otherwise
adds nothing, as for a tapped button, which skips the NLU altogether.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message

INTENT_RANKING = "intent_ranking"
CANDIDATES = 3  # the two-stage fallback offers the 2 likeliest intents


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class ProgrammeSelector(ResponseSelector):
    """A ResponseSelector that only works on messages that may ask for its intent."""

    def _may_ask(self, message: Message) -> bool:
        if not self.retrieval_intent:  # one selector for every retrieval intent: always
            return True
        ranking = message.get(INTENT_RANKING) or []
        likeliest = [item.get(INTENT_NAME_KEY) for item in ranking[:CANDIDATES]]
        return self.retrieval_intent in likeliest

    def process(self, messages: list[Message]) -> list[Message]:
        wanted = [message for message in messages if self._may_ask(message)]
        if wanted:
            super().process(wanted)
        return messages
