"""The append-only audit log, each entry chained to the one before by SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docmgr.database import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_email: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(80), index=True)  # "document.uploaded", "user.login"…
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    # Set on every event about an agreement (its drafts, signatories…) for the per-agreement trail.
    agreement_id: Mapped[int | None] = mapped_column(Integer, index=True)
    data: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON
    # unique: two writers can never both extend the same entry (a fork would hide one of them).
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC of "id:hash" with a key that is not in the database (docmgr.audit.anchor): a row rewritten and
    # re-hashed by someone without the key has no valid seal.
    mac: Mapped[str | None] = mapped_column(String(64))
