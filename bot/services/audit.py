"""The audit log: every change made in the dashboard, with who, when, before and after."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry
from bot.services.people import now


def record(
    session: Session,
    user_id: int | None,
    username: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Write one entry (values are stored as JSON)."""
    entry = AuditEntry(
        at=now(),
        user_id=user_id,
        username=username,
        action=action,
        target=target[:200],
        before=None if before is None else json.dumps(before, ensure_ascii=False),
        after=None if after is None else json.dumps(after, ensure_ascii=False),
    )
    session.add(entry)
    session.flush()
    return entry


def recent(
    session: Session,
    limit: int = 200,
    action: str | None = None,
    username: str | None = None,
    words: str | None = None,
) -> list[AuditEntry]:
    """The newest entries first: of one kind of action (`intent` matches every `intent.…`),
    by one account, or whose target holds `words`."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(
            or_(AuditEntry.action == action, AuditEntry.action.startswith(f"{action}."))
        )
    if username:
        query = query.where(AuditEntry.username == username)
    if words:
        query = query.where(AuditEntry.target.contains(words, autoescape=True))
    return list(session.scalars(query))


def known(session: Session) -> tuple[list[str], list[str]]:
    """The kinds of action and the accounts in the log, for the page's filters."""
    actions = session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    names = session.scalars(select(AuditEntry.username).distinct().order_by(AuditEntry.username))
    return list(actions), [name for name in names if name]
