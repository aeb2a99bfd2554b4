"""Outgoing mail: every message docmgr writes, kept with what became of it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docmgr.database import Base, UTCDateTime, utcnow


class MailStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for the worker
    SENT = "sent"  # accepted by the SMTP server
    NOT_SENT = "not_sent"  # no SMTP server configured: recorded only
    FAILED = "failed"  # the last attempt failed; the queue tries again (see the outbox row)


class OutgoingMail(Base):
    """One message to one recipient, composed in the recipient's language when it was recorded.

    The text and HTML parts are stored as composed, so a retry sends exactly the same message."""

    __tablename__ = "outgoing_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # the template: mail/<kind>.txt, .html
    to_address: Mapped[str] = mapped_column(String(320), index=True)
    to_name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(10), default=MailStatus.QUEUED.value, index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Files from the store sent with the message: [{"filename", "sha256", "content_type"}].
    attachments: Mapped[list[dict[str, Any]]] = mapped_column("attachments_json", JSON, default=list)


class NotificationPreference(Base):
    """Which status mails a user receives (no row: all of them)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    signature_recorded: Mapped[bool] = mapped_column(Boolean, default=True)
    declined: Mapped[bool] = mapped_column(Boolean, default=True)
    executed: Mapped[bool] = mapped_column(Boolean, default=True)
    expired: Mapped[bool] = mapped_column(Boolean, default=True)
