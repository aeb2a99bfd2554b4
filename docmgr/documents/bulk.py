"""Bulk actions on selected documents: assign a session or sectors, download them as one ZIP.

Both are all-or-nothing: when a selected document is not the user's to change (or to see), nothing happens
and the answer names the documents at fault.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext
from sqlalchemy.orm import Session, selectinload

from docmgr.accounts.models import User
from docmgr.accounts.permissions import can_change_document, require_can_change_document, require_writer
from docmgr.documents.models import Document
from docmgr.documents.services import parse_sectors, update_document, visible_documents
from docmgr.errors import Conflict, Forbidden, Invalid, NotFound
from docmgr.storage import current_store

MAX_SELECTED = 200
ZIP_CHUNK = 256 * 1024


def parse_ids(raw: Iterable[object]) -> list[int]:
    ids = []
    for value in raw:
        try:
            ids.append(int(str(value)))
        except ValueError:
            raise Invalid(gettext("Select documents from the list."), field="ids") from None
    ids = sorted(set(ids))
    if not ids:
        raise Invalid(gettext("Select at least one document."), field="ids", code="missing_field")
    if len(ids) > MAX_SELECTED:
        raise Invalid(gettext("Select at most %(num)s documents at a time.", num=MAX_SELECTED), field="ids")
    return ids


def _selected(session: Session, actor: User, ids: list[int]) -> list[Document]:
    """The selected documents, or a refusal naming the ones the actor cannot see (as 'not available':
    missing and not-yours look alike)."""
    found = {d.id: d for d in session.scalars(
        visible_documents(actor).where(Document.id.in_(ids)).options(selectinload(Document.files)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(
            gettext("These selected documents do not exist or are not yours to see: %(ids)s. Nothing was done.",
                    ids=", ".join(f"#{i}" for i in missing)),
            code="documents_not_available", field="ids",
        )
    return [found[i] for i in ids]


def bulk_assign(
    session: Session, actor: User, ids: list[int], *, session_id: int | None | str = "unchanged",
    add_sectors: list[str] | None = None,
) -> list[Document]:
    """Give every selected document the session ``session_id`` (None clears it) and/or add ``add_sectors``."""
    require_writer(actor)
    add_sectors = parse_sectors(add_sectors or [])
    if session_id == "unchanged" and not add_sectors:
        raise Invalid(gettext("Choose a session or at least one sector to assign."), field="session_id",
                      code="missing_field")
    documents = _selected(session, actor, ids)
    refused = [d for d in documents if not can_change_document(actor, d)]
    if refused:
        names = ", ".join(f"#{d.id} {d.title}" for d in refused[:10])
        try:
            require_can_change_document(actor, refused[0])
        except (Conflict, Forbidden) as error:
            raise type(error)(
                gettext("You cannot change these selected documents: %(names)s (%(reason)s). Nothing was changed.",
                        names=names, reason=error.message), code=error.code, field="ids",
            ) from None
    for document in documents:
        sectors = sorted(set(document.sectors) | set(add_sectors)) if add_sectors else None
        update_document(session, actor, document.id, sectors=sectors, session_id=session_id)
    return documents


@dataclass
class ZipEntry:
    name: str  # the path inside the archive
    path: Path  # the stored blob


def zip_entries(session: Session, actor: User, ids: list[int]) -> list[ZipEntry]:
    """What the ZIP of the selected documents holds: the current file of each language of each, in a folder
    per document. Checked (and the files located) before the first byte is sent."""
    documents = _selected(session, actor, ids)
    store = current_store()
    entries = []
    for document in documents:
        folder = f"{document.id:05d} {_safe(document.title)[:80]}".strip()
        used: set[str] = set()
        for file in document.current_files():
            name = _safe(file.filename) or "file"
            if name in used:
                name = f"{file.language}-{name}"
            used.add(name)
            entries.append(ZipEntry(f"{folder}/{name}", store.path(file.sha256)))
    return entries


def _safe(name: str) -> str:
    return "".join(c for c in name if c not in '/\\:*?"<>|\0' and c.isprintable()).strip(" .")


def stream_zip(entries: list[ZipEntry]) -> Iterator[bytes]:
    """The archive, a chunk at a time: never held whole in memory."""
    buffer = _Drain()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=5) as archive:
        for entry in entries:
            with entry.path.open("rb") as source, archive.open(entry.name, "w", force_zip64=True) as target:
                while chunk := source.read(ZIP_CHUNK):
                    target.write(chunk)
                    yield buffer.take()
            yield buffer.take()
    yield buffer.take()


class _Drain(io.RawIOBase):
    """A write-only, non-seekable file whose written bytes are taken away as they come (zipfile then writes
    data descriptors instead of seeking back)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001 - io's signature
        self._chunks.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data
