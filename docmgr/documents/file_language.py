"""A stored file's language after its upload: who chose it, and relabelling it.

Detection labels a file at upload unless the uploader chose (``LanguageSource``). When OCR has read a scan whose
language nobody chose, :func:`relabel_file` gives it the language of the recognised text
(:mod:`docmgr.documents.ocr`); a person relabels any file in the edit form or through PATCH
(:func:`docmgr.documents.services.update_document`), and that choice is never replaced by detection. A file's
version counts within its language, so a relabelled file becomes the next version of its new language.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.documents.models import DocumentFile
from docmgr.vocab import LanguageSource


def next_version(session: Session, document_id: int, language: str) -> int:
    """The version number a new file of ``language`` gets in the document."""
    newest = session.scalar(
        select(func.max(DocumentFile.version)).where(
            DocumentFile.document_id == document_id, DocumentFile.language == language
        )
    )
    return 1 + (newest or 0)


def relabel_file(session: Session, actor: User | None, file: DocumentFile, language: str, source: LanguageSource) -> bool:
    """Set ``file``'s language and where it came from, with an audit record; False when nothing changed. The
    caller reindexes the document."""
    if file.language == language and file.language_source == source.value:
        return False
    old_language, old_version = file.language, file.version
    if language != file.language:
        version = next_version(session, file.document_id, language)  # queried before the row changes (autoflush)
        file.language, file.version = language, version
    file.language_source = source.value
    record(
        session, actor, "document.language_changed", file, document_id=file.document_id,
        language=[old_language, file.language], version=[old_version, file.version], source=source.value,
    )
    return True
