"""What is still being done for a document after its upload: the worker's queued tasks (indexing for search,
thumbnails, the PDF preview of DOCX/ODT) and text recognition of scans. The document page polls it (through
``GET /api/v1/documents/ID/processing``) and says "processing" until it is all done — the upload's honest
second half, after the bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from docmgr.documents.conversion import CONVERT_TASK
from docmgr.documents.models import Document, TextStatus
from docmgr.documents.previews import THUMBNAIL_TASK
from docmgr.search.indexers import INDEX_TASK
from docmgr.tasks.models import OutboxStatus, OutboxTask

_FILE_TASKS = (THUMBNAIL_TASK, CONVERT_TASK)


@dataclass
class Processing:
    document_id: int
    pending: list[str] = field(default_factory=list)  # what is being done: task names, 'documents.ocr'
    files: list[dict] = field(default_factory=list)  # {"id", "text_status", "preview_status"}

    @property
    def state(self) -> str:
        return "processing" if self.pending else "ready"


def processing(session: Session, document: Document) -> Processing:
    """The work left for a document the caller checked the actor may read."""
    file_ids = [f.id for f in document.files]
    rows = session.execute(
        select(OutboxTask.task, OutboxTask.args).where(
            OutboxTask.status == OutboxStatus.PENDING.value,
            or_(
                (OutboxTask.task == INDEX_TASK) & (OutboxTask.args["object_type"].as_string() == "document")
                & (OutboxTask.args["object_id"].as_integer() == document.id),
                OutboxTask.task.in_(_FILE_TASKS) & OutboxTask.args["file_id"].as_integer().in_(file_ids or [-1]),
            ),
        )
    ).all()
    pending = sorted({task for task, _args in rows})
    if any(f.text_status in (TextStatus.EMPTY.value, TextStatus.OCR_PENDING.value) for f in document.files):
        pending.append("documents.ocr")
    files = [{"id": f.id, "text_status": f.text_status, "preview_status": f.preview_status} for f in document.files]
    return Processing(document_id=document.id, pending=pending, files=files)
