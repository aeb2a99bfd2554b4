"""Every signed copy ever submitted for a signatory, valid or not.

A signatory row holds only the accepted signature; the submissions keep the full history, so a
tampered or mismatched upload stays on record (with its verification result) after it is refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docmgr.accounts.models import User
from docmgr.database import Base, UTCDateTime, utcnow
from docmgr.drafting.models import Signatory
from docmgr.vocab import ReviewStatus


class SignatureSubmission(Base):
    __tablename__ = "signature_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    signatory_id: Mapped[int] = mapped_column(ForeignKey("signatories.id", ondelete="CASCADE"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255), default="")  # display only
    content_type: Mapped[str] = mapped_column(String(40))  # application/pdf, image/png, image/jpeg, application/pkcs7-mime
    # A detached CAdES/GOST signature (.p7s, .sig) sent beside the PDF: kept as received.
    signature_sha256: Mapped[str | None] = mapped_column(String(64))
    signature_filename: Mapped[str] = mapped_column(String(255), default="")  # display only
    method: Mapped[str] = mapped_column(String(20))  # "wet_ink" | "digital"
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # as claimed by the submitter
    verification_json: Mapped[str] = mapped_column(Text, default="{}")
    is_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    # Legal recorded one counterpart signed by several signatories: the same file may count for each.
    shared_counterpart: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # A wet-ink scan from a link holder or a firm user counts only once legal staff accepted it (vocab.ReviewStatus).
    review_status: Mapped[str] = mapped_column(String(20), default=ReviewStatus.NOT_REQUIRED.value)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_reason: Mapped[str] = mapped_column(Text, default="")

    signatory: Mapped[Signatory] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])


class TrustAnchor(Base):
    """A certificate that signers' chains may end in: imported by ``docmgr trust import`` from a PEM/DER
    file or an ETSI TS 119 612 trusted list (then ``service_status`` is the list's status URI and
    ``is_granted`` whether that status grants trust)."""

    __tablename__ = "trust_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the DER certificate (named so that backups do not take it for a stored file's hash)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(500), default="")  # the imported file's name
    service_name: Mapped[str] = mapped_column(String(500), default="")
    service_status: Mapped[str] = mapped_column(String(200), default="")
    is_granted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
