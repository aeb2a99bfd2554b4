"""The index queue: what the search index must catch up with, stored with the change itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from docmgr.database import Base, UTCDateTime, utcnow


class IndexTask(Base):
    """Written in the same transaction as the change; drained after commit by one index writer.

    Because it is in the database, a crash between commit and indexing loses nothing: the next
    drain (or ``reindex``) picks the task up again.
    """

    __tablename__ = "index_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(40))  # "document", "draft"…
    object_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10), default="update")  # "update" | "delete"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
