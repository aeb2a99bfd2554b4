"""Agreement templates, agreements, their parties, signatories and rendered draft versions.

Signature-related columns live here too because a signatory is part of the agreement it signs;
the rules about them are in ``docmgr.signatures``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docmgr.accounts.models import Organization, User
from docmgr.database import Base, UTCDateTime, utcnow
from docmgr.documents.models import Document, TaskForceSession
from docmgr.vocab import AgreementStatus  # noqa: F401 - re-exported: the models speak of it


class SignatoryStatus(str, enum.Enum):  # noqa: UP042
    PENDING = "pending"
    SIGNED = "signed"
    DECLINED = "declined"


SIGNING_ORDERS = ("parallel", "sequential")


class Template(Base):
    """One version of an agreement template. A version, once used by a draft, never changes."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_templates_key_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)  # "mou", "nda", "framework"
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    name_ru: Mapped[str] = mapped_column(String(200), default="")
    # Field declarations. JSON columns: their bytes are never hashed (the source hash covers the content).
    fields: Mapped[list[dict[str, Any]]] = mapped_column("fields_json", JSON, default=list)
    body: Mapped[str] = mapped_column(Text)  # the template source
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


agreement_parties = Table(
    "agreement_parties",
    Base.metadata,
    Column("agreement_id", ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True),
    Column("organization_id", ForeignKey("organizations.id"), primary_key=True, index=True),
)

agreement_proposals = Table(
    "agreement_proposals",
    Base.metadata,
    Column("agreement_id", ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", ForeignKey("documents.id"), primary_key=True),
)


class Agreement(Base):
    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    title_alt: Mapped[str] = mapped_column(String(500), default="")  # the title in the other language
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    status: Mapped[str] = mapped_column(String(30), default=AgreementStatus.DRAFT.value, index=True)
    fields: Mapped[dict[str, Any]] = mapped_column("fields_json", JSON, default=dict)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("task_force_sessions.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Set when the agreement goes out for signature: the exact PDF every party must sign.
    frozen_draft_id: Mapped[int | None] = mapped_column(ForeignKey("agreement_drafts.id", use_alter=True))
    frozen_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Added by the signatures module: when the agreement went out for signature (signed_at may not precede it).
    sent_for_signature_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Once executed: the executed copy (a Document of kind "agreement") and the completion certificate.
    executed_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    certificate_sha256: Mapped[str | None] = mapped_column(String(64))
    # How it is signed (issue 13; the rules are in docmgr.signatures.lifecycle and docmgr.signing):
    # "parallel" (everyone invited at once) or "sequential" (by the signatories' ``order`` steps); the
    # sign-by deadline; reminders every ``reminder_days`` (None: DOCMGR_REMINDER_DAYS); copied recipients.
    signing_order: Mapped[str] = mapped_column(String(12), default="parallel")
    sign_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_days: Mapped[int | None] = mapped_column(Integer)
    cc: Mapped[list[dict[str, str]]] = mapped_column("cc_json", JSON, default=list)

    template: Mapped[Template] = relationship()
    session: Mapped[TaskForceSession | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    parties: Mapped[list[Organization]] = relationship(secondary=agreement_parties, order_by=Organization.id)
    proposals: Mapped[list[Document]] = relationship(secondary=agreement_proposals, order_by=Document.id)
    signatories: Mapped[list[Signatory]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="Signatory.id"
    )
    drafts: Mapped[list[Draft]] = relationship(
        back_populates="agreement", order_by="Draft.version", foreign_keys="Draft.agreement_id"
    )
    frozen_draft: Mapped[Draft | None] = relationship(foreign_keys=[frozen_draft_id], post_update=True)
    executed_document: Mapped[Document | None] = relationship(foreign_keys=[executed_document_id])

    @property
    def party_ids(self) -> set[int]:
        return {org.id for org in self.parties}


class Draft(Base):
    """A rendered, immutable draft version: the PDF and DOCX bytes and the field values used."""

    __tablename__ = "agreement_drafts"
    __table_args__ = (UniqueConstraint("agreement_id", "version", name="uq_agreement_drafts_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    fields: Mapped[dict[str, Any]] = mapped_column("fields_json", JSON)  # snapshot of everything the render used
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    pdf_size: Mapped[int] = mapped_column(Integer)
    docx_sha256: Mapped[str] = mapped_column(String(64))
    docx_size: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")  # plain text of the clauses, for search and diffs
    # drafting: the rendered clauses (kind, heading_it/ru, text_it/ru) as JSON, for clause-by-clause diffs.
    clauses: Mapped[list[dict[str, Any]]] = mapped_column("clauses_json", JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agreement: Mapped[Agreement] = relationship(back_populates="drafts", foreign_keys=[agreement_id])
    template: Mapped[Template] = relationship()


class Signatory(Base):
    __tablename__ = "signatories"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_alt: Mapped[str] = mapped_column(String(200), default="")  # the name in the other script
    title: Mapped[str] = mapped_column(String(200), default="")  # the job title
    title_alt: Mapped[str] = mapped_column(String(200), default="")  # the job title in the other language
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(20), default=SignatoryStatus.PENDING.value)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    method: Mapped[str | None] = mapped_column(String(20))  # "wet_ink" | "digital"
    signed_file_sha256: Mapped[str | None] = mapped_column(String(64))
    verification_json: Mapped[str | None] = mapped_column(Text)  # the verification result, as JSON
    decline_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The signing step (sequential agreements: step 1 signs first; equal numbers sign in parallel).
    order: Mapped[int] = mapped_column("step", Integer, default=1)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the latest invitation e-mailed
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the latest reminder e-mailed

    agreement: Mapped[Agreement] = relationship(back_populates="signatories")
    organization: Mapped[Organization] = relationship()
