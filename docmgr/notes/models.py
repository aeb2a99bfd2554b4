"""Internal notes that legal staff, the ministry and admins leave on documents and agreements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docmgr.accounts.models import User
from docmgr.database import Base, UTCDateTime, utcnow


class Note(Base):
    """One note on exactly one document or one agreement. Firms never see notes."""

    __tablename__ = "notes"
    __table_args__ = (
        CheckConstraint("(document_id IS NULL) <> (agreement_id IS NULL)", name="one_object"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User | None] = relationship()
