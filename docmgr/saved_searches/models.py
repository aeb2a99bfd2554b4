"""Saved searches: a user's query and filters, kept under a name, with an optional e-mail digest of new matches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docmgr.accounts.models import User
from docmgr.database import Base, UTCDateTime, utcnow


class SavedSearch(Base):
    """One user's saved search. Only its owner sees it; its results are always searched afresh, as that user."""

    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(String(500), default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # kind, sector, language, … as in the API
    digest: Mapped[bool] = mapped_column(Boolean, default=False)  # a daily e-mail of new matches
    # New matches are those dated after this: the last digest sent (or the saving, at first).
    digest_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
