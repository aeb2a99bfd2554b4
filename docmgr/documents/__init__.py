"""documents: uploads, their files and text, OCR of scans, page previews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.documents import conversion, indexing, ocr, previews
from docmgr.documents.models import DocumentFile
from docmgr.maintenance import register_blob_references
from docmgr.search.indexers import register_indexer
from docmgr.tasks import register_handler


def _blob_references(session: Session) -> Iterator[tuple[str, str]]:
    for file_id, document_id, sha, filename, preview in session.execute(
        select(DocumentFile.id, DocumentFile.document_id, DocumentFile.sha256, DocumentFile.filename,
               DocumentFile.preview_sha256)
    ):
        yield sha, f"document {document_id} file {file_id} ({filename})"
        if preview:
            yield preview, f"document {document_id} file {file_id} ({filename}): its PDF preview"


def init_app(app: Flask) -> None:
    """The "document" indexer, the OCR, thumbnail and office-conversion tasks, the stored-file references for `check`."""
    app.jinja_env.globals["ocr_available"] = ocr.ocr_available
    register_indexer(app, "document", indexing.document_entry, indexing.all_document_ids)
    register_handler(app, ocr.OCR_TASK, ocr.ocr_task, lease=timedelta(minutes=30))
    register_handler(app, previews.THUMBNAIL_TASK, previews.thumbnail_task)
    register_handler(app, conversion.CONVERT_TASK, conversion.convert_task, lease=timedelta(minutes=5))
    register_blob_references(app, _blob_references)
