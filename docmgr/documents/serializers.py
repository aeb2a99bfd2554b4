"""The API shapes of documents: documents, their files, page previews and the OCR overview."""

from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import fields
from marshmallow.validate import OneOf, Regexp

from docmgr.documents.models import TextStatus
from docmgr.serializers import Input, IsoDateTime, Output, counts, optional
from docmgr.vocab import GROUPINGS, KINDS, LANGUAGE_CODE_PATTERN, LANGUAGE_SOURCES, LANGUAGES, SECTORS

# A file's language: it, ru, bi (what an uploader chooses) or another detected ISO 639-1 code (en, fr, ar…).
FILE_LANGUAGE = Regexp(LANGUAGE_CODE_PATTERN)

TEXT_STATUSES = [s.value for s in TextStatus]
PREVIEW_STATUSES = ["", "pending", "done", "failed"]


class DocumentFileSchema(Output):
    id = fields.Integer()
    filename = fields.String()
    language = fields.String(validate=FILE_LANGUAGE, metadata={"description": "it, ru, bi or a detected ISO 639-1 code"})
    sha256 = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    version = fields.Integer()
    created_at = IsoDateTime()
    page_count = fields.Integer(allow_none=True)
    text_status = fields.String(validate=OneOf(TEXT_STATUSES))
    preview_status = fields.String(validate=OneOf(PREVIEW_STATUSES), metadata={"description": "DOCX/ODT: PDF preview"})
    language_detected = fields.String(allow_none=True, metadata={"description": "what detection said, if it ran"})
    language_source = fields.String(validate=OneOf(LANGUAGE_SOURCES), metadata={
        "description": "`uploader`: chosen at upload or by PATCH, never replaced; `detected`: OCR may correct it"})


class DocumentSummarySchema(Output):
    """A document in lists (no files)."""

    id = fields.Integer()
    title_it = fields.String()
    title_ru = fields.String()
    kind = fields.String(validate=OneOf(KINDS))
    sectors = fields.List(fields.String(validate=OneOf(SECTORS)))
    organization_id = fields.Integer()
    organization = fields.String(attribute="organization.name", metadata={"description": "the organisation's name"})
    session_id = fields.Integer(allow_none=True)
    languages = fields.List(fields.String(validate=FILE_LANGUAGE))
    created_at = IsoDateTime()
    updated_at = IsoDateTime()


class DocumentSchema(DocumentSummarySchema):
    """A document with every stored file version."""

    files = fields.List(fields.Nested(DocumentFileSchema))
    document_date = fields.Date(allow_none=True, metadata={"description": "the document's own date, set by the uploader"})


class DocumentCreatedSchema(DocumentSchema):
    """The (first) document an upload created, and every document it created: several when the files were
    uploaded as separate documents (``grouping=separate``, the default)."""

    documents = fields.List(fields.Nested(DocumentSummarySchema))


class TrashedDocumentSchema(DocumentSummarySchema):
    """A document in the trash."""

    deleted_at = IsoDateTime()
    deleted_by_id = fields.Integer(allow_none=True)
    restorable_until = IsoDateTime(attribute="purge_after", metadata={"description": "purged for good after this"})


class TrashListSchema(Output):
    items = fields.List(fields.Nested(TrashedDocumentSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DocumentListSchema(Output):
    items = fields.List(fields.Nested(DocumentSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class PageSetSchema(Output):
    """Dumped from ``{"page_set": PageSet, "ocr_available": bool}``."""

    pages = fields.Integer(attribute="page_set.pages", metadata={"description": "page images available"})
    urls = fields.List(fields.String())
    total_pages = fields.Integer(attribute="page_set.total_pages")
    truncated = fields.Boolean(attribute="page_set.is_truncated")
    thumbnail_url = fields.String(allow_none=True)
    viewer_url = fields.String()
    text_status = fields.String(attribute="page_set.file.text_status", validate=OneOf(TEXT_STATUSES))
    preview_status = fields.String(
        attribute="page_set.file.preview_status", validate=OneOf(PREVIEW_STATUSES),
        metadata={"description": "DOCX/ODT: their PDF preview is pending, done or failed ('' for other files)"},
    )
    ocr_available = fields.Boolean()

    computed = {
        "urls": lambda obj: [
            url_for("documents.page_image", page=n, **_ids(obj)) for n in range(1, obj["page_set"].pages + 1)
        ],
        "thumbnail_url": lambda obj: url_for("documents.thumbnail", **_ids(obj)) if obj["page_set"].pages else None,
        "viewer_url": lambda obj: url_for("documents.viewer", **_ids(obj)),
    }


def _ids(obj: dict[str, Any]) -> dict[str, int]:
    file = obj["page_set"].file
    return {"document_id": file.document_id, "file_id": file.id}


class ProcessingFileSchema(Output):
    id = fields.Integer()
    text_status = fields.String(validate=OneOf(TEXT_STATUSES))
    preview_status = fields.String(validate=OneOf(PREVIEW_STATUSES))


class ProcessingSchema(Output):
    """Dumped from a :class:`docmgr.documents.progress.Processing`."""

    document_id = fields.Integer()
    state = fields.String(validate=OneOf(["processing", "ready"]))
    pending = fields.List(fields.String(), metadata={"description": "the work still queued or running"})
    files = fields.List(fields.Nested(ProcessingFileSchema))


class OcrOverviewSchema(Output):
    ocr_available = fields.Boolean()
    reason = optional(fields.String(allow_none=True, metadata={"description": "staff only: why OCR is not available"}))
    jobs = optional(counts(metadata={"description": "staff only: OCR jobs by status"}))


# --- requests ------------------------------------------------------------------------------------


class PageQuery(Input):
    page = fields.Integer()
    per_page = fields.Integer(metadata={"maximum": 100})


class DocumentListQuery(Input):
    kind = fields.String(validate=OneOf(KINDS))
    sector = fields.String(validate=OneOf(SECTORS))
    organization_id = fields.Integer()
    session_id = fields.Integer()
    language = fields.String(validate=FILE_LANGUAGE, metadata={"description": "it, ru, bi or a detected ISO 639-1 code"})
    page = fields.Integer()
    per_page = fields.Integer(metadata={"maximum": 100})


_BINARY = {"type": "string", "format": "binary"}


class DocumentUploadForm(Input):
    file = fields.List(fields.Raw(metadata=_BINARY), required=True, metadata={"description": "one or more files"})
    title_it = fields.String()
    title_ru = fields.String()
    kind = fields.String(validate=OneOf(KINDS))
    sectors = fields.String(metadata={"description": "comma-separated: " + ", ".join(SECTORS)})
    session_id = fields.Integer()
    organization_id = fields.Integer(metadata={"description": "firm users: always their own organisation"})
    language = fields.List(
        fields.String(validate=OneOf(LANGUAGES)),
        metadata={"description": "once per file, or once for all; detected when absent or empty (OCR may then "
                                 "correct a scan's), else the uploader's choice"},
    )
    grouping = fields.String(validate=OneOf(GROUPINGS), metadata={
        "description": "several files: `separate` (default) one document each; `pair` exactly one Italian and one "
                       "Russian file as one document; `versions` all files in one document"})


class FileUploadForm(Input):
    file = fields.Raw(required=True, metadata=_BINARY)
    language = fields.String(validate=OneOf(LANGUAGES))


class FileLanguageChange(Input):
    id = fields.Integer(required=True, metadata={"description": "a file of this document"})
    language = fields.String(required=True, validate=FILE_LANGUAGE,
                             metadata={"description": "it, ru, bi or another ISO 639-1 code (en, fr…)"})


class DocumentUpdateRequest(Input):
    title_it = fields.String()
    title_ru = fields.String()
    kind = fields.String(validate=OneOf(KINDS))
    sectors = fields.Raw(metadata={
        "description": "a list, or a comma-separated string", "anyOf": [
            {"type": "array", "items": {"type": "string", "enum": list(SECTORS)}}, {"type": "string"}],
    })
    session_id = fields.Integer(allow_none=True)
    document_date = fields.String(allow_none=True, metadata={
        "format": "date", "description": "the document's own date (YYYY-MM-DD), null to clear; dates it in search"})
    files = fields.List(fields.Nested(FileLanguageChange), metadata={
        "description": "relabel files: each becomes the uploader's choice (never replaced by detection) and the "
                       "next version of its new language"})
