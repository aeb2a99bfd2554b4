"""Personal signing links: a secret (kept only as its SHA-256) bound to one signatory of one agreement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from docmgr.database import Base, UTCDateTime, utcnow


class SigningLink(Base):
    """``/sign/TOKEN``: usable until ``expires_at`` unless revoked or locked (too many wrong one-time codes).

    The one-time code e-mailed to the signatory is stored as its SHA-256 too, and cleared once used."""

    __tablename__ = "signing_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    signatory_id: Mapped[int] = mapped_column(ForeignKey("signatories.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_sha256: Mapped[str] = mapped_column(String(64), default="")
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
