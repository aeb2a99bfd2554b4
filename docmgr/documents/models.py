"""Task-force sessions, documents and their files (versions of each language)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docmgr.accounts.models import Organization, User
from docmgr.database import Base, UTCDateTime, utcnow
from docmgr.vocab import LANGUAGES, SECTORS, DocumentKind, LanguageSource  # noqa: F401 - re-exported: the models speak of them


class TaskForceSession(Base):
    """One meeting of the task force (twice a year, alternately in Italy and in Russia)."""

    __tablename__ = "task_force_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    place: Mapped[str] = mapped_column(String(200))
    name_alt: Mapped[str] = mapped_column(String(200), default="")  # the name in the other language
    place_alt: Mapped[str] = mapped_column(String(200), default="")  # the place in the other language
    country: Mapped[str] = mapped_column(String(2))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title_it: Mapped[str] = mapped_column(String(500), default="")
    title_ru: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(20), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("task_force_sessions.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The document's own date, set by the uploader (else its session's date dates it in search).
    document_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Set when the document became the executed copy of an agreement: from then on its files and
    # metadata are read-only for everybody (accounts.permissions.require_can_change_document).
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In the trash since (hidden from lists, search and downloads; restorable, then purged by a periodic task).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    organization: Mapped[Organization] = relationship()
    session: Mapped[TaskForceSession | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    deleted_by: Mapped[User | None] = relationship(foreign_keys=[deleted_by_id])
    sector_rows: Mapped[list[DocumentSector]] = relationship(
        cascade="all, delete-orphan", order_by="DocumentSector.sector"
    )
    files: Mapped[list[DocumentFile]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="DocumentFile.id"
    )
    shares: Mapped[list[DocumentShare]] = relationship(cascade="all, delete-orphan")

    @property
    def reader_organization_ids(self) -> list[int]:
        """Organisations whose firm users may read this document."""
        return sorted({self.organization_id, *(share.organization_id for share in self.shares)})

    @property
    def sectors(self) -> list[str]:
        return [row.sector for row in self.sector_rows]

    @property
    def title(self) -> str:
        return self.title_it or self.title_ru

    @property
    def languages(self) -> list[str]:
        return sorted({f.language for f in self.files})

    def current_files(self) -> list[DocumentFile]:
        """The newest version of each language."""
        newest: dict[str, DocumentFile] = {}
        for file in self.files:
            if file.language not in newest or file.version > newest[file.language].version:
                newest[file.language] = file
        return sorted(newest.values(), key=lambda f: f.language)


class RetentionPeriod(Base):
    """How long documents of one kind must be kept after their upload (set by admins): none is deleted or
    purged before that."""

    __tablename__ = "retention_periods"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DocumentSector(Base):
    __tablename__ = "document_sectors"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    sector: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)


class TextStatus(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    OK = "ok"  # text extracted
    EMPTY = "empty"  # no text layer (scans): waits for OCR
    OCR_PENDING = "ocr_pending"
    OCR_DONE = "ocr_done"
    FAILED = "failed"


class DocumentFile(Base):
    """One immutable stored file. A new upload of the same language is a new version."""

    __tablename__ = "document_files"
    __table_args__ = (UniqueConstraint("document_id", "language", "version", name="uq_document_files_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # for display and downloads only
    language: Mapped[str] = mapped_column(String(2))
    language_detected: Mapped[str | None] = mapped_column(String(2))
    # 'uploader' (chosen at upload or in the edit form: never replaced) or 'detected' (OCR's text may replace it).
    language_source: Mapped[str] = mapped_column(
        String(10), default=LanguageSource.DETECTED.value, server_default=LanguageSource.DETECTED.value
    )
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)
    page_count: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    text_status: Mapped[str] = mapped_column(String(20), default=TextStatus.OK.value)
    # DOCX and ODT: the PDF LibreOffice made of it (docmgr.documents.conversion), shown like an uploaded PDF.
    preview_status: Mapped[str] = mapped_column(String(10), default="")  # '', pending, done, failed
    preview_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    preview_pages: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[Document] = relationship(back_populates="files")


class DocumentShare(Base):
    """Another organisation that may read a document (the parties of an executed agreement)."""

    __tablename__ = "document_shares"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True, index=True)


class OcrJobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OcrJob(Base):
    """Text recognition for one file without a text layer, queued in the upload's own transaction.

    The queue lives in the database so that it survives restarts: workers (``docmgr.documents.ocr``) claim a
    job with a conditional UPDATE, and a job left ``running`` by a crashed worker is queued again.
    """

    __tablename__ = "ocr_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("document_files.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=OcrJobStatus.QUEUED.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    worker_id: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    file: Mapped[DocumentFile] = relationship()
