"""documents: uploads, their files and text, OCR of scans, page previews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from flask import Flask
from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr import drafting  # noqa: F401 - loaded first: the trash's permission rules speak of agreements
from docmgr.documents import conversion, indexing, ocr, previews, trash
from docmgr.documents.models import DocumentFile
from docmgr.extensions import db
from docmgr.maintenance import register_blob_references
from docmgr.search.indexers import register_indexer
from docmgr.tasks import get_queue, register_handler


def _blob_references(session: Session) -> Iterator[tuple[str, str]]:
    for file_id, document_id, sha, filename, preview in session.execute(
        select(DocumentFile.id, DocumentFile.document_id, DocumentFile.sha256, DocumentFile.filename,
               DocumentFile.preview_sha256)
    ):
        yield sha, f"document {document_id} file {file_id} ({filename})"
        if preview:
            yield preview, f"document {document_id} file {file_id} ({filename}): its PDF preview"


def init_app(app: Flask) -> None:
    """The "document" indexer, the OCR, thumbnail, office-conversion and purge tasks, the stored-file references for
    `check`."""
    app.jinja_env.globals["ocr_available"] = ocr.ocr_available
    register_indexer(app, "document", indexing.document_entry, indexing.all_document_ids)
    register_handler(app, ocr.OCR_TASK, ocr.ocr_task, lease=timedelta(minutes=30))
    register_handler(app, previews.THUMBNAIL_TASK, previews.thumbnail_task)
    register_handler(app, conversion.CONVERT_TASK, conversion.convert_task, lease=timedelta(minutes=5))
    register_blob_references(app, _blob_references)
    register_handler(app, trash.BLOB_TASK, trash.delete_unreferenced_blobs)

    @get_queue(app).huey.periodic_task(crontab(minute="23"), name="docmgr.trash_purge")
    def purge_trash() -> None:
        """Hourly: documents in the trash for longer than TRASH_DAYS are purged (run by `docmgr worker`)."""
        with app.app_context():
            trash.purge_expired(db.session)
            db.session.commit()
