"""Search: the index queue and (in later work) the engine behind a small interface."""

from __future__ import annotations

from sqlalchemy.orm import Session

from docmgr.search.models import IndexTask


def enqueue(session: Session, object_type: str, object_id: int, action: str = "update") -> None:
    """Ask the index to catch up with this object once the current transaction commits."""
    session.add(IndexTask(object_type=object_type, object_id=object_id, action=action))
