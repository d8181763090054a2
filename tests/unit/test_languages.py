"""Which language a person writes in, when the conversation switches, and right-to-left text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot import languages, render
from bot.messages import text
from bot.rasa_client import RasaUnavailable
from bot.services.vocabulary import vocabulary
from connectors.language import LanguageKeeper

SENTENCES = {
    "en": "are there any free coding courses for young people near me",
    "it": "ciao, vorrei fare un corso di cucina gratuito vicino a Palermo",
    "fr": "bonjour, je cherche une formation gratuite en informatique à Lyon",
    "es": "hola, estoy buscando un trabajo de camarero en Barcelona este verano",
    "de": "hallo, ich suche eine kostenlose Ausbildung als Elektriker in Berlin",
    "ro": "salut, caut un loc de muncă în construcții în Cluj, ce aveți?",
    "hr": "bok, tražim besplatni tečaj programiranja u Zagrebu za mlade",
    "sl": "živjo, iščem brezplačno izobraževanje za kuharje v Mariboru",
    "lt": "labas, ieškau nemokamų programavimo kursų Vilniuje jaunimui",
    "ar": "مرحبا، أبحث عن دورة مجانية في البرمجة في تونس",
}


@pytest.mark.parametrize("language", list(SENTENCES))
def test_a_sentence_in_each_language_is_detected_and_switches(language: str) -> None:
    detection = languages.detect(SENTENCES[language])
    assert detection is not None and detection.code == language and detection.confident
    other = "it" if language == "en" else "en"
    assert languages.follow(other, SENTENCES[language]) == language


@pytest.mark.parametrize(
    "message", ["ok", "hi", "ciao", "👍👍", "Zagreb", "Split?", "19", "/greet", "grazie", "merci!"]
)
def test_short_or_unclear_messages_never_switch(message: str) -> None:
    for current in ("en", "de", "ar"):
        assert languages.follow(current, message) == current


def test_a_new_conversation_starts_from_profile_then_telegram_then_the_default() -> None:
    assert languages.follow(None, "hi", stored="hr", telegram="it") == "hr"
    assert languages.follow(None, "hi", telegram="it-IT") == "it"
    assert languages.follow(None, "hi", telegram="pt-br") == "en"
    assert languages.follow(None, "hi", telegram="pt-br", fallback="fr") == "fr"
    # A clear sentence beats the Telegram app's language.
    assert languages.follow(None, SENTENCES["es"], telegram="en") == "es"


def test_a_mixed_message_goes_with_its_main_language() -> None:
    mixed = "hello, vorrei un corso di informatica a Milano per favore"
    assert languages.follow("en", mixed) == "it"


def test_arabic_is_told_by_its_script_even_when_short() -> None:
    assert languages.follow("en", "مرحبا") == "ar"
    assert languages.follow("ar", "ok") == "ar"


def test_languages_named_in_a_message() -> None:
    assert languages.named_in("parla italiano per favore") == "it"
    assert languages.named_in("can you speak German?") == "de"
    assert languages.named_in("العربية من فضلك") == "ar"
    assert languages.named_in("do you speak klingon") is None
    assert languages.typed_language("Slovenščina") == "sl"
    assert languages.typed_language("hr") == "hr"


def test_right_to_left_lines_start_with_a_mark() -> None:
    marked = languages.mark_rtl("🎓 دورة البرمجة\n1. تدريب · Split\n\nمرحبا")
    lines = marked.split("\n")
    assert all(line.startswith(languages.RLM) for line in lines if line)
    assert languages.mark_rtl(marked) == marked  # once only
    assert languages.mark_rtl("🎓 IT courses in Split") == "🎓 IT courses in Split"


def test_texts_fall_back_to_english_for_an_unknown_language() -> None:
    assert text("consent_accept_button", "xx") == text("consent_accept_button", "en")
    assert text("consent_accept_button", "it") != text("consent_accept_button", "en")


def test_country_names_and_dates_are_written_in_the_language() -> None:
    assert render.place_label("Croatia", vocabulary(), "it") == "Croazia"
    assert render.place_label("Hrvatska", vocabulary(), "de") == "Kroatien"
    assert render.place_label("Split", vocabulary(), "it") == "Split"
    assert "gen" in render._date(dt.date(2027, 1, 18), "it")


def test_topic_words_follow_the_conversation_language() -> None:
    vocab = vocabulary()
    # Romanian "care" means "which": no care topic in a Romanian conversation.
    assert vocab.find_topics("care cursuri sunt gratuite?", "ro") == []
    assert vocab.find_topics("elderly care jobs", "en") == ["care_health"]
    assert vocab.find_topics("corsi di informatica a Spalato", "it") == ["digital"]


class FakeRasa:
    """Rasa's tracker API: one slot store; counts the calls; can be down."""

    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}
        self.reads = 0
        self.writes: list[tuple[str, Any]] = []
        self.down = False

    async def slot(self, sender: str, name: str) -> Any:
        if self.down:
            raise RasaUnavailable("ConnectError")
        self.reads += 1
        return self.slots.get((sender, name)), (sender, name) not in self.slots

    async def set_slot(self, sender: str, name: str, value: Any, new: bool = False) -> None:
        if self.down:
            raise RasaUnavailable("ConnectError")
        self.writes.append((sender, value))
        self.slots[(sender, name)] = value


async def test_the_keeper_sets_the_slot_only_when_the_language_changes() -> None:
    rasa = FakeRasa()
    keeper = LanguageKeeper(rasa, "en", stored=lambda sender: None)  # type: ignore[arg-type]
    assert await keeper.before_turn("s1", "hi", telegram="it") == "it"
    assert rasa.writes == [("s1", "it")]
    assert await keeper.before_turn("s1", "ok") == "it"
    assert await keeper.before_turn("s1", SENTENCES["de"]) == "de"
    assert rasa.writes == [("s1", "it"), ("s1", "de")] and rasa.reads == 1
    keeper.after_turn("s1", {"language": "lt"})  # /language chose it in an action
    assert keeper.known("s1") == "lt" and await keeper.before_turn("s1", "ačiū") == "lt"
    keeper.after_turn("s1", {"erase_conversation": True})
    assert keeper.known("s1", telegram="fr") == "fr"


async def test_the_keeper_reads_a_known_conversation_and_the_profile() -> None:
    rasa = FakeRasa()
    rasa.slots[("s2", "language")] = "ro"
    keeper = LanguageKeeper(rasa, "en", stored=lambda sender: "sl")  # type: ignore[arg-type]
    assert await keeper.before_turn("s2", "hi", telegram="it") == "ro"
    assert rasa.writes == []
    assert await keeper.before_turn("s3", "hi", telegram="it") == "sl"


async def test_the_keeper_survives_rasa_being_down() -> None:
    rasa = FakeRasa()
    rasa.down = True
    keeper = LanguageKeeper(rasa, "en")  # type: ignore[arg-type]
    assert await keeper.before_turn("s4", SENTENCES["fr"]) == "fr"
    assert keeper.known("s4") == "en"  # not remembered: it was not set in Rasa
