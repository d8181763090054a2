"""The audit log: every change made in the dashboard, with who, when, before and after."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
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


def recent(session: Session, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    """The newest entries first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
