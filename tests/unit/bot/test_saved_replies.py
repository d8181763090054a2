"""Saved replies: shared (admins) and personal, checked in plain words, offered in the person's
language first, and filled in for the person ({name}, {coach}, {opportunity:ID})."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Opportunity
from bot.services import saved_replies
from bot.services.catalogue_csv import import_catalogue
from bot.services.saved_replies import SavedReplyError
from tests.conftest import account, catalogue_csv, opportunity_row


def test_replies_are_offered_in_the_persons_language_first_and_filled_for_them(
    console_db: sessionmaker[Session],
) -> None:
    with console_db.begin() as session:
        assert import_catalogue(session, catalogue_csv(opportunity_row(
            title="Corso di pizzaiolo", provider="ENAIP", city="Napoli", country="IT",
            url="https://example.org/pizza",
        ))).ok  # fmt: skip
        item = session.scalar(select(Opportunity.id))
        marta, luca = account(session, "marta"), account(session, "luca")
        saved_replies.save(session, None, "en", "welcome", "Hi {name}, I'm {coach}.")
        saved_replies.save(session, None, "it", "benvenuto", "Ciao {name} , sono {coach}!")
        saved_replies.save(session, marta, "it", "corso", f"Guarda: {{opportunity:{item}}}")
        saved_replies.save(session, luca, "it", "mio", "solo di Luca")
        offered = saved_replies.for_reply(session, marta, "it", "Gennaro")
        assert [(reply.shortcut, reply.shared) for reply in offered] == [
            ("corso", False), ("benvenuto", True), ("welcome", True),
        ]  # fmt: skip
        assert offered[1].filled == f"Ciao Gennaro, sono {marta.display_name}!"
        assert offered[0].filled == (
            "Guarda: Corso di pizzaiolo — ENAIP (Napoli, IT): https://example.org/pizza"
        )
        # someone who gave no name: no stray space before the comma
        nameless = saved_replies.for_reply(session, marta, "en", None)
        assert nameless[0].filled == f"Hi, I'm {marta.display_name}."
        # the same shortcut and language again replaces the text
        saved_replies.save(session, marta, "it", "/Corso", "Nuovo testo")
        again = saved_replies.for_reply(session, marta, "it", None)
        assert [reply.text for reply in again if reply.shortcut == "corso"] == ["Nuovo testo"]


def test_saved_replies_are_checked_in_plain_words_and_kept_by_their_owner(
    console_db: sessionmaker[Session],
) -> None:
    with console_db.begin() as session:
        marta, luca, ana = (account(session, name) for name in ("marta", "luca", "ana"))
        for language, shortcut, text, message in (
            ("xx", "hi", "Hi", "one of the assistant's languages"),
            ("en", "two words", "Hi", "one word of letters"),
            ("en", "hi", "   ", "empty"),
            ("en", "hi", "x" * 2001, "at most 2,000 characters"),
            ("en", "hi", "Ciao {nome}", "Unknown placeholder {nome}"),
            ("en", "hi", "See {opportunity:999}", "no opportunity 999"),
        ):
            with pytest.raises(SavedReplyError, match=message):
                saved_replies.save(session, marta, language, shortcut, text)
        own = saved_replies.save(session, marta, "en", "hi", "Hi {name}")
        shared = saved_replies.save(session, None, "en", "bye", "Bye")
        with pytest.raises(SavedReplyError, match="Only its owner"):
            saved_replies.delete(session, own.id, luca)
        with pytest.raises(SavedReplyError, match="Only its owner"):
            saved_replies.delete(session, shared.id, marta)  # a coach; shared: admins
        saved_replies.delete(session, shared.id, ana)
        saved_replies.delete(session, own.id, marta)
        assert saved_replies.for_reply(session, marta, "en", None) == []
