"""Broadcasts: a message from admins (a text and up to 3 link buttons, in each language of its
audience) to a segment of the young people who agreed to be contacted later (the follow-up
consent asked at registration, changeable in /profile, withdrawn by /stop).

draft → scheduled (a time, or now) → sending (queued to each person in `bulk_messages`, sent
by the connector at Telegram's pace, outside quiet hours) → done; cancel stops what is still
queued. A test goes to the admin's own Telegram chat first (linked by a one-time link).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bot.db.models import Broadcast, Person, User
from bot.languages import mark_rtl
from bot.refusal import Number, Refusal
from bot.services import bulk
from bot.services.people import now
from bot.settings import SUPPORTED_LANGUAGES

KIND, TEST = "broadcast", "broadcast_test"
MAX_TEXT = 3500  # characters (Telegram allows 4096; room for the right-to-left marks)
MAX_BUTTONS = 3
MAX_LABEL = 40


class BroadcastError(Refusal):
    """A broadcast that cannot be saved or sent; the text says why, in plain words."""


@dataclass
class Segment:
    """Who a broadcast is for (empty lists: anyone)."""

    languages: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    interests: list[str] = field(default_factory=list)  # any of these topic keys
    registered: str = "any"  # any, yes, no
    campaign_id: int | None = None
    registered_since: dt.date | None = None

    def to_json(self) -> str:
        """As stored with the broadcast."""
        values = asdict(self)
        values["registered_since"] = (
            self.registered_since.isoformat() if self.registered_since else None
        )
        return json.dumps(values)

    @classmethod
    def from_json(cls, raw: str) -> Segment:
        """As stored with the broadcast."""
        values: dict[str, Any] = json.loads(raw or "{}")
        since = values.get("registered_since")
        values["registered_since"] = dt.date.fromisoformat(since) if since else None
        return cls(**values)


def _recipients(segment: Segment) -> Select[Any]:
    """The people a segment reaches: consent to be contacted, a chat, not blocked."""
    query = select(Person).where(
        Person.followup_consent.is_(True),
        Person.telegram_chat_id.is_not(None),
        Person.blocked_at.is_(None),
    )
    if segment.languages:
        query = query.where(Person.language.in_(segment.languages))
    if segment.countries:
        query = query.where(Person.country.in_(segment.countries))
    if segment.registered == "yes":
        query = query.where(Person.registered_at.is_not(None))
    elif segment.registered == "no":
        query = query.where(Person.registered_at.is_(None))
    if segment.campaign_id is not None:
        query = query.where(Person.campaign_id == segment.campaign_id)
    if segment.registered_since is not None:
        since = dt.datetime.combine(segment.registered_since, dt.time(), dt.UTC)
        query = query.where(Person.registered_at >= since)
    return query.order_by(Person.id)


def _matches_interests(person: Person, segment: Segment) -> bool:
    return not segment.interests or bool(set(person.interest_keys) & set(segment.interests))


def audience(session: Session, segment: Segment) -> Counter[str]:
    """How many people the segment reaches, per language (the total is the sum)."""
    counts: Counter[str] = Counter()
    for person in session.scalars(_recipients(segment)):
        if _matches_interests(person, segment):
            counts[person.language or "en"] += 1
    return counts


@dataclass(frozen=True)
class BroadcastView:
    """A broadcast as the pages read it."""

    id: int
    title: str
    texts: dict[str, str]
    buttons: list[dict[str, Any]]
    segment: Segment
    status: str
    scheduled_at: dt.datetime | None
    audience: int
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def _view(row: Broadcast) -> BroadcastView:
    return BroadcastView(
        row.id, row.title, json.loads(row.texts), json.loads(row.buttons),
        Segment.from_json(row.segment), row.status, row.scheduled_at, row.audience,
        row.created_by, row.created_at, row.started_at, row.finished_at,
    )  # fmt: skip


def _check_buttons(buttons: list[dict[str, Any]], languages: list[str]) -> None:
    if len(buttons) > MAX_BUTTONS:
        raise BroadcastError("At most %(max)d buttons.", max=MAX_BUTTONS)
    for number, item in enumerate(buttons, start=1):
        url = str(item.get("url") or "")
        if not url.startswith("https://") or len(url) > 500 or " " in url:
            raise BroadcastError(
                "Button %(number)d: the link must start with https://.", number=number
            )
        labels = item.get("labels") or {}
        missing = [code for code in languages if not str(labels.get(code) or "").strip()]
        if missing:
            raise BroadcastError(
                "Button %(number)d needs a label in every language of the audience; "
                "missing: %(missing)s.",
                number=number,
                missing=", ".join(missing),
            )
        if any(len(str(label)) > MAX_LABEL for label in labels.values()):
            raise BroadcastError(
                "Button %(number)d: a label has at most %(max)d characters.",
                number=number,
                max=MAX_LABEL,
            )


def create(
    session: Session,
    *,
    title: str,
    texts: dict[str, str],
    buttons: list[dict[str, Any]],
    segment: Segment,
    by: str,
) -> BroadcastView:
    """A draft: checked against its audience (a text, and each button's label, in every
    language the audience speaks)."""
    title = title.strip()
    if not title:
        raise BroadcastError("Give the broadcast a title (only admins see it).")
    texts = {code: value.strip() for code, value in texts.items() if value.strip()}
    unknown = [code for code in texts if code not in SUPPORTED_LANGUAGES]
    if unknown:
        raise BroadcastError("Unknown language: %(codes)s.", codes=", ".join(unknown))
    if any(len(value) > MAX_TEXT for value in texts.values()):
        raise BroadcastError("A message has at most %(max)s characters.", max=Number(MAX_TEXT))
    reached = audience(session, segment)
    if not reached:
        raise BroadcastError(
            "Nobody in this segment agreed to receive messages: widen the segment."
        )
    missing = sorted(code for code in reached if code not in texts)
    if missing:
        raise BroadcastError(
            "Write the message in every language of the audience; missing: %(missing)s.",
            missing=", ".join(f"{code} ({reached[code]} people)" for code in missing),
        )
    _check_buttons(buttons, sorted(reached))
    row = Broadcast(
        title=title[:120],
        texts=json.dumps(texts, ensure_ascii=False),
        buttons=json.dumps(buttons, ensure_ascii=False),
        segment=segment.to_json(),
        status="draft",
        audience=sum(reached.values()),
        created_by=by,
        created_at=now(),
    )
    session.add(row)
    session.flush()
    return _view(row)


def get(session: Session, broadcast_id: int) -> BroadcastView:
    """One broadcast (BroadcastError when there is none)."""
    row = session.get(Broadcast, broadcast_id)
    if row is None:
        raise BroadcastError("There is no such broadcast.")
    return _view(row)


def all_broadcasts(session: Session) -> list[BroadcastView]:
    """Every broadcast, newest first."""
    return [_view(row) for row in session.scalars(select(Broadcast).order_by(Broadcast.id.desc()))]


def _message(view: BroadcastView, language: str) -> tuple[str, list[dict[str, str]]]:
    code = language if language in view.texts else next(iter(view.texts))
    buttons = [
        {"title": str(item["labels"].get(code) or next(iter(item["labels"].values()))),
         "payload": str(item["url"])}
        for item in view.buttons
    ]  # fmt: skip
    return mark_rtl(view.texts[code]), buttons


def send_test(session: Session, broadcast_id: int, user_id: int, language: str) -> None:
    """Queue the broadcast, in `language`, to the admin's own linked Telegram chat."""
    view = get(session, broadcast_id)
    user = session.get(User, user_id)
    if user is None or user.telegram_chat_id is None:
        raise BroadcastError(
            "Link your Telegram account first (the link on this page), then send the test."
        )
    if language not in view.texts:
        raise BroadcastError("This broadcast has no text in %(language)s.", language=language)
    text, buttons = _message(view, language)
    bulk.queue_to(session, TEST, view.id, None, user.telegram_chat_id, text, buttons)


def schedule(session: Session, broadcast_id: int, at: dt.datetime | None) -> BroadcastView:
    """Send it at `at` (None: now). Only a draft (or a scheduled one, to move it)."""
    row = session.get(Broadcast, broadcast_id)
    if row is None:
        raise BroadcastError("There is no such broadcast.")
    if row.status not in ("draft", "scheduled"):
        if row.status == "sending":
            raise BroadcastError("This broadcast is sending: it cannot be scheduled again.")
        if row.status == "done":
            raise BroadcastError("This broadcast is done: it cannot be scheduled again.")
        if row.status == "cancelled":
            raise BroadcastError("This broadcast is cancelled: it cannot be scheduled again.")
        raise BroadcastError(
            "This broadcast is %(status)s: it cannot be scheduled again.", status=row.status
        )
    row.status, row.scheduled_at = "scheduled", at or now()
    session.flush()
    return _view(row)


def cancel(session: Session, broadcast_id: int) -> int:
    """Stop it: nothing more goes out. How many messages will not be sent."""
    row = session.get(Broadcast, broadcast_id)
    if row is None:
        raise BroadcastError("There is no such broadcast.")
    if row.status in ("done", "cancelled"):
        if row.status == "done":
            raise BroadcastError("This broadcast is already done.")
        raise BroadcastError("This broadcast is already cancelled.")
    row.status, row.finished_at = "cancelled", now()
    left = bulk.cancel(session, KIND, row.id)
    session.flush()
    return left


def start_due(session: Session, moment: dt.datetime) -> int:
    """Queue the broadcasts whose time has come, one message per person of their segment
    (as it is at that moment); mark sent-out ones done. How many messages were queued."""
    queued = 0
    for row in session.scalars(
        select(Broadcast).where(Broadcast.status == "scheduled", Broadcast.scheduled_at <= moment)
    ):
        view = _view(row)
        row.status, row.started_at = "sending", moment
        count = 0
        for person in session.scalars(_recipients(view.segment)):
            if not _matches_interests(person, view.segment):
                continue
            text, buttons = _message(view, person.language or "en")
            count += bulk.queue(session, KIND, row.id, person, text, buttons)
        row.audience = count
        queued += count
    finish_sent(session, moment)
    return queued


def finish_sent(session: Session, moment: dt.datetime) -> None:
    """Broadcasts with nothing left to send are done."""
    for row in session.scalars(select(Broadcast).where(Broadcast.status == "sending")):
        counts = bulk.progress(session, KIND, row.id)
        if not counts.get("queued") and not counts.get("sending"):
            row.status, row.finished_at = "done", moment


def progress(session: Session, broadcast_id: int) -> dict[str, Any]:
    """Where a broadcast stands: its status and how many messages are in each state."""
    view = get(session, broadcast_id)
    counts = bulk.progress(session, KIND, broadcast_id)
    handled = sum(counts.get(key, 0) for key in ("sent", "unsure", "blocked", "failed"))
    return {
        "status": view.status,
        "audience": view.audience,
        "sent": counts.get("sent", 0) + counts.get("unsure", 0),
        "failed": counts.get("failed", 0),
        "blocked": counts.get("blocked", 0),
        "queued": counts.get("queued", 0) + counts.get("sending", 0),
        "cancelled": counts.get("cancelled", 0),
        "done": handled,
    }


# --- linking an admin's or coach's own Telegram chat ----------------------------------------

LINK_PREFIX = "staff-"


def link_code(secret: str, user_id: int, day: dt.date) -> str:
    """The `/start` code that links account `user_id` to the Telegram chat it is opened in
    (valid the day it is made and the next; keyed, so it cannot be made up)."""
    mac = hmac.new(secret.encode(), f"{user_id}:{day.isoformat()}".encode(), hashlib.sha256)
    return f"{LINK_PREFIX}{user_id}-{mac.hexdigest()[:20]}"


def is_link_code(code: str | None) -> bool:
    """Whether a `/start` code is a staff link (the channel handles it, not Rasa)."""
    return bool(code) and str(code).startswith(LINK_PREFIX)


def link_chat(session: Session, secret: str, code: str, chat_id: int, today: dt.date) -> str | None:
    """Link the account of a valid code to `chat_id`; its display name, or None."""
    try:
        user_id = int(code[len(LINK_PREFIX) :].split("-")[0])
    except ValueError:
        return None
    valid = any(
        hmac.compare_digest(code, link_code(secret, user_id, day))
        for day in (today, today - dt.timedelta(days=1))
    )
    user = session.get(User, user_id) if valid else None
    if user is None or user.disabled_at is not None:
        return None
    user.telegram_chat_id = chat_id
    session.flush()
    return user.display_name


def linked_chat(session: Session, user_id: int) -> bool:
    """Whether the account has a linked Telegram chat."""
    user = session.get(User, user_id)
    return user is not None and user.telegram_chat_id is not None
