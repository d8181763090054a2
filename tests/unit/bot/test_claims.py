"""Claims (decision 26): a chat is worked on by one connector replica at a time, the scheduled
rounds by one; a claim outlives a dead replica only for its lease; work is read in order."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Claim
from bot.services import claims, inbox, outbox
from bot.services.claims import NO_CHAT, UPKEEP, Taken
from bot.services.inbox import Incoming

LEASE = dt.timedelta(seconds=15)
BOT = 42


def update(update_id: int, chat_id: int | None, text: str = "hi") -> Incoming:
    return Incoming(update_id, chat_id, {"update_id": update_id, "text": text})


def take(sessions: sessionmaker[Session], key: int, owner: str) -> Taken | None:
    with sessions.begin() as session:
        return claims.take(session, key, owner, LEASE)


def test_one_owner_at_a_time_until_its_lease_runs_out(sessions) -> None:
    assert take(sessions, 7001, "a") is Taken.NEW
    assert take(sessions, 7001, "a") is Taken.HELD
    assert take(sessions, 7001, "b") is None, "held by a live replica"
    assert take(sessions, -1007001, "b") is Taken.NEW, "a group chat (negative id) is a chat"
    with sessions.begin() as session:
        claims.expire(session, "a", 7001)  # a replica stopping mid-turn, or one that died
    assert take(sessions, 7001, "b") is Taken.TAKEN_OVER
    assert take(sessions, 7001, "a") is None
    with sessions.begin() as session:
        owners = {key: owner for key, owner in session.execute(select(Claim.key, Claim.owner))}
    assert owners == {7001: "b", -1007001: "b"}


def test_the_scheduled_rounds_have_one_owner(sessions) -> None:
    assert take(sessions, UPKEEP, "a") is Taken.NEW
    assert take(sessions, UPKEEP, "b") is None
    with sessions.begin() as session:
        assert claims.renew(session, "a", LEASE) == 1
    assert take(sessions, UPKEEP, "b") is None, "renewed: still a's"
    with sessions.begin() as session:
        claims.expire(session, "a")
    assert take(sessions, UPKEEP, "b") is Taken.TAKEN_OVER


def test_work_comes_in_order_and_the_claim_goes_when_there_is_none(sessions) -> None:
    with sessions.begin() as session:
        inbox.store(session, BOT, [update(11, 7002, "one"), update(12, 7003), update(13, 7002)])
        outbox.enqueue(session, 7002, [{"chat_id": 7002, "text": "a coach's message"}], None)
    assert take(sessions, 7002, "a") is Taken.NEW
    seen: list[tuple[list[str], int | None]] = []
    while True:
        with sessions.begin() as session:
            work = claims.next_work(session, 7002, "a", BOT, LEASE)
            if work is None:
                break
            seen.append(
                ([m.params["text"] for m in work.queued], work.update and work.update.update_id)
            )
            for message in work.queued:
                outbox.sent(session, message.id)
            if work.update is not None:
                assert inbox.finish(session, BOT, work.update.update_id)
    assert seen == [(["a coach's message"], 11), ([], 13)], "the outbox first, then in order"
    assert take(sessions, 7002, "b") is Taken.NEW, "an idle chat's claim was dropped"
    with sessions.begin() as session:
        assert not inbox.finish(session, BOT, 11), "handled once: a second finish does nothing"


def test_a_replica_whose_claim_was_taken_over_gets_no_more_work(sessions) -> None:
    with sessions.begin() as session:
        inbox.store(session, BOT, [update(21, 7004)])
    assert take(sessions, 7004, "a") is Taken.NEW
    with sessions.begin() as session:
        claims.expire(session, "a")
    assert take(sessions, 7004, "b") is Taken.TAKEN_OVER
    with sessions.begin() as session:
        assert claims.next_work(session, 7004, "a", BOT, LEASE) is None
        work = claims.next_work(session, 7004, "b", BOT, LEASE)
    assert work is not None and work.update is not None and work.update.update_id == 21


def test_unclaimed_work_is_found_for_any_replica(sessions) -> None:
    with sessions.begin() as session:
        inbox.store(session, BOT, [update(31, 7005), update(32, 7006), update(33, None)])
        inbox.store(session, 99, [update(34, 7009)])  # another bot's: not ours to answer
        outbox.enqueue(session, 7007, [{"chat_id": 7007, "text": "from the dashboard"}], None)
    assert take(sessions, 7006, "a") is Taken.NEW
    with sessions.begin() as session:
        found = claims.unclaimed(session, BOT)
    assert found == [7005, 7007, NO_CHAT + 33]
    with sessions.begin() as session:
        inbox.finish(session, BOT, 31)
        claims.expire(session, "a")
        found = claims.unclaimed(session, BOT)
        work = claims.next_work(session, NO_CHAT + 33, "a", BOT, LEASE)
    assert found == [7006, 7007, NO_CHAT + 33], "a dead replica's chat is free again"
    assert work is None, "a's claim of it was never taken: no work for a"
    assert take(sessions, NO_CHAT + 33, "b") is Taken.NEW
    with sessions.begin() as session:
        work = claims.next_work(session, NO_CHAT + 33, "b", BOT, LEASE)
    assert work is not None and work.update is not None and work.update.update_id == 33
