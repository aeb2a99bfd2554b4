"""What the search index holds for a document (registered as the "document" indexer in ``init_app``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from docmgr.documents.models import Document
from docmgr.search.engine import IndexEntry

# Words a user may type for a kind or sector, in both languages (and English), so "proposta",
# "предложение" or "energia" find documents by their category too.
KIND_WORDS = {
    "proposal": "proposta partenariato proposal предложение партнерство",
    "agreement": "accordo agreement соглашение договор",
    "annex": "allegato annex приложение",
    "other": "",
}
SECTOR_WORDS = {
    "energy": "energia energy энергетика",
    "construction": "costruzioni edilizia construction строительство",
    "mechanics": "meccanica meccatronica mechanics машиностроение механика мехатроника",
    "nanotech": "nanotecnologie nanotechnology нанотехнологии",
    "biotech": "biotecnologie biotechnology биотехнологии",
    "other": "",
}


def document_entry(session: Session, document_id: int) -> IndexEntry | None:
    document = session.scalar(
        select(Document).where(Document.id == document_id).options(
            selectinload(Document.files), selectinload(Document.sector_rows), selectinload(Document.shares),
            selectinload(Document.organization), selectinload(Document.session),
        )
    )
    if document is None or document.deleted_at is not None:  # gone, or in the trash: no entry
        return None
    files = [
        {"id": f.id, "language": f.language, "text": f.text or "", "filename": f.filename}
        for f in document.current_files()
    ]
    org = document.organization
    return IndexEntry(
        uid=f"document:{document.id}", object_key=f"document:{document.id}", doctype="document",
        object_id=document.id, document_id=document.id, created_at=document.created_at,
        title_it=document.title_it or "", title_ru=document.title_ru or "", files=files, kind=document.kind,
        sectors=document.sectors, languages=sorted({f["language"] for f in files}),
        organization_id=document.organization_id,
        organization_names=[name for name in (org.name, org.name_alt) if name],
        reader_org_ids=document.reader_organization_ids, session_id=document.session_id,
        session_name=document.session.name if document.session else "",
        meta=[KIND_WORDS.get(document.kind, ""), *(SECTOR_WORDS.get(s, "") for s in document.sectors),
              *(f["filename"] for f in files), *(filename_words(f["filename"]) for f in files)],
        dated_on=document.document_date or (document.session.starts_on if document.session else None),
    )


def filename_words(filename: str) -> str:
    """A file name's words (``Proposta_Togliatti-2014.pdf`` → ``Proposta Togliatti 2014 pdf``): the
    whole name is one token, so its parts are indexed too."""
    return re.sub(r"[\W_]+", " ", filename or "").strip()



def all_document_ids(session: Session) -> Iterator[int]:
    yield from session.scalars(select(Document.id).where(Document.deleted_at.is_(None)).order_by(Document.id))
