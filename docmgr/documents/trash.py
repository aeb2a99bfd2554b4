"""The trash: deleting a document moves it there; it can be restored for ``TRASH_DAYS`` days, then a periodic
task purges it (rows, index entry, and the stored files nothing else refers to).

What can never be deleted: the executed copy of an agreement and the documents an executed agreement cites
(409, saying why); a document still inside its kind's retention period (set by admins) is neither deleted nor
purged before that period ends.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import format_date, gettext
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from docmgr.accounts.models import User
from docmgr.accounts.permissions import can_write, require_admin, require_can_change_document, require_writer
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.documents.models import Document, RetentionPeriod
from docmgr.documents.previews import preview_root
from docmgr.documents.services import get_document
from docmgr.drafting.models import Agreement, agreement_proposals
from docmgr.errors import Conflict, Forbidden, Invalid, NotFound
from docmgr.extensions import db
from docmgr.maintenance import referenced_blobs
from docmgr.search.indexers import enqueue_index
from docmgr.storage import current_store
from docmgr.tasks import Deferred, enqueue
from docmgr.vocab import KIND_LABELS, KINDS, Role

BLOB_TASK = "documents.delete_blobs"
MAX_RETENTION_DAYS = 100 * 366


def trash_days() -> int:
    return int(current_app.config["TRASH_DAYS"])


# --- retention ------------------------------------------------------------------------------------


def retention_days(session: Session) -> dict[str, int]:
    """Days each kind is kept after upload (0: no retention period)."""
    days = dict.fromkeys(KINDS, 0)
    for row in session.scalars(select(RetentionPeriod)):
        days[row.kind] = row.days
    return days


def retained_until(session: Session, document: Document) -> datetime | None:
    """Until when ``document`` must be kept, if that is still in the future."""
    row = session.get(RetentionPeriod, document.kind)
    if row is None or row.days <= 0:
        return None
    until = document.created_at + timedelta(days=row.days)
    return until if until > utcnow() else None


def check_retention_days(raw: object) -> int:
    try:
        days = int(str(raw).strip() or "0")
    except ValueError:
        raise Invalid(gettext("Give a whole number of days (0 for none)."), field="days") from None
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise Invalid(gettext("Give a number of days between 0 and %(num)s.", num=MAX_RETENTION_DAYS), field="days")
    return days


def set_retention(session: Session, actor: User, values: dict[str, object]) -> dict[str, int]:
    """Admins set the retention period of each kind (days after upload); every wrong value is named at once."""
    require_admin(actor)
    errors, checked = [], {}
    for kind, raw in values.items():
        if kind not in KINDS:
            raise Invalid(gettext("Kind must be one of %(choices)s.", choices=", ".join(KINDS)), field="kind")
        try:
            checked[kind] = check_retention_days(raw)
        except Invalid as error:
            errors.append({"field": f"days_{kind}", "message": error.message, "code": error.code})
    if errors:
        raise Invalid(errors[0]["message"], field=errors[0]["field"], errors=errors)
    before = retention_days(session)
    for kind, days in checked.items():
        if before[kind] == days:
            continue
        row = session.get(RetentionPeriod, kind) or RetentionPeriod(kind=kind)
        row.days, row.updated_by_id = days, actor.id
        session.add(row)
        record(session, actor, "retention.updated", object_type="RetentionPeriod", kind=kind,
               days=[before[kind], days])
    session.flush()
    return retention_days(session)


def _refuse_if_retained(session: Session, document: Document) -> None:
    until = retained_until(session, document)
    if until is not None:
        row = session.get(RetentionPeriod, document.kind)
        raise Conflict(
            gettext("Documents of the kind “%(kind)s” must be kept for %(days)s days after upload: this one can be "
                    "deleted from %(date)s.", kind=KIND_LABELS[document.kind], days=row.days if row else 0,
                    date=format_date(until, "long")),
            code="retention_period",
        )


# --- deleting and restoring ------------------------------------------------------------------------


def _refuse_if_linked(session: Session, document: Document) -> None:
    """An agreement still lists it (an executed one was refused earlier, by require_can_change_document)."""
    agreement = session.scalar(
        select(Agreement).join(agreement_proposals, agreement_proposals.c.agreement_id == Agreement.id)
        .where(agreement_proposals.c.document_id == document.id).order_by(Agreement.id).limit(1)
    )
    if agreement is None:
        agreement = session.scalar(select(Agreement).where(Agreement.executed_document_id == document.id).limit(1))
    if agreement is not None:
        raise Conflict(
            gettext("The agreement “%(title)s” refers to this document: remove it from the agreement first.",
                    title=agreement.title),
            code="document_in_agreement",
        )


def why_not_removable(session: Session, actor: User, document: Document) -> str | None:
    """For the document page: why ``actor``, who could otherwise delete it, may not (None: they may, or the
    question does not arise because they may not change it at all)."""
    if not can_write(actor):
        return None
    try:
        require_can_change_document(actor, document)
        _refuse_if_linked(session, document)
        _refuse_if_retained(session, document)
    except Forbidden:
        return None
    except Conflict as error:
        return error.message
    return None


def trash_document(session: Session, actor: User, document_id: int) -> Document:
    """Move a document to the trash (whoever may change it; never an executed one or one still retained)."""
    document = get_document(session, actor, document_id)
    require_can_change_document(actor, document)
    _refuse_if_linked(session, document)
    _refuse_if_retained(session, document)
    document.deleted_at, document.deleted_by_id = utcnow(), actor.id
    record(session, actor, "document.trashed", document, title=document.title)
    enqueue_index(session, "document", document.id)  # the single index writer removes its entry
    session.flush()
    return document


def trashed_documents(actor: User) -> Select:
    """What ``actor`` finds in the trash: admins everything; others their organisation's documents and the ones
    they deleted themselves (the ministry deletes nothing)."""
    require_writer(actor)
    query = select(Document).where(Document.deleted_at.is_not(None))
    if actor.role != Role.ADMIN.value:
        owned = Document.organization_id == actor.organization_id if actor.organization_id else Document.id.is_(None)
        query = query.where(owned | (Document.deleted_by_id == actor.id))
    return query


@dataclass
class TrashItem:
    document: Document
    purge_after: datetime  # restorable until then

    def __getattr__(self, name: str) -> object:
        """Everything else is the document's (so the API dumps an item like a document)."""
        if name.startswith("_") or name == "document":
            raise AttributeError(name)
        return getattr(self.document, name)


def purge_after(document: Document) -> datetime:
    """When a document in the trash stops being restorable."""
    assert document.deleted_at is not None
    return document.deleted_at + timedelta(days=trash_days())


def list_trash(session: Session, actor: User, page: int = 1, per_page: int = 50) -> tuple[list[TrashItem], int]:
    query = trashed_documents(actor)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    documents = session.scalars(
        query.options(selectinload(Document.files), selectinload(Document.organization), selectinload(Document.deleted_by))
        .order_by(Document.deleted_at.desc(), Document.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return [TrashItem(d, purge_after(d)) for d in documents], total


def get_trashed(session: Session, actor: User, document_id: int) -> Document:
    document = session.scalar(trashed_documents(actor).where(Document.id == document_id))
    if document is None:
        raise NotFound(gettext("No such document in the trash."), code="document_not_found")
    return document


def restore_document(session: Session, actor: User, document_id: int) -> Document:
    document = get_trashed(session, actor, document_id)
    assert document.deleted_at is not None
    if document.deleted_at + timedelta(days=trash_days()) <= utcnow():
        raise Conflict(gettext("This document was deleted more than %(days)s days ago and can no longer be restored.",
                               days=trash_days()), code="trash_expired")
    document.deleted_at, document.deleted_by_id = None, None
    record(session, actor, "document.restored", document, title=document.title)
    enqueue_index(session, "document", document.id)
    session.flush()
    return document


# --- purging (the periodic task) ---------------------------------------------------------------------


def purge_expired(session: Session, now: datetime | None = None) -> list[int]:
    """Remove for good the documents in the trash for longer than ``TRASH_DAYS`` (and past their retention):
    their rows now, their index entries and unreferenced files after the commit (queued work)."""
    cutoff = (now or utcnow()) - timedelta(days=trash_days())
    purged, hashes = [], set()
    candidates = session.scalars(
        select(Document).where(Document.deleted_at.is_not(None), Document.deleted_at <= cutoff).order_by(Document.id)
    ).all()
    for document in candidates:
        if retained_until(session, document) is not None:
            continue  # retention was set after it was deleted: it waits in the trash
        linked = session.scalar(select(agreement_proposals.c.agreement_id)
                                .where(agreement_proposals.c.document_id == document.id).limit(1))
        if linked is not None or document.sealed_at is not None:
            continue
        hashes.update(f.sha256 for f in document.files)
        record(session, None, "document.purged", document, title=document.title,
               files=[{"filename": f.filename, "sha256": f.sha256} for f in document.files])
        purged.append(document.id)
        session.delete(document)
        session.flush()
        enqueue_index(session, "document", purged[-1])
    if hashes:
        enqueue(session, BLOB_TASK, sha256=sorted(hashes))
    return purged


def delete_unreferenced_blobs(sha256: list[str]) -> int:
    """The queued half of a purge: remove each stored file (and its cached previews) that no row refers to
    any more. A blob another document, draft or signature still uses is kept; so is one stored again within
    ``TRASH_BLOB_GRACE_SECONDS`` (an upload of the same bytes, on any node, whose row is not committed yet:
    the task is then deferred to look again). :meth:`FileStore.delete_unused` makes this safe on a shared
    volume."""

    def in_use() -> set[str]:
        db.session.commit()  # end the read snapshot: rows other nodes committed since count too
        return {sha for sha, _ in referenced_blobs()}

    grace = float(current_app.config["TRASH_BLOB_GRACE_SECONDS"])
    used = in_use()
    removed, recent = current_store().delete_unused([sha for sha in sha256 if sha not in used], in_use, grace)
    for sha in removed:
        shutil.rmtree(preview_root() / sha, ignore_errors=True)
    if recent:
        raise Deferred("a purged file was stored again just now", seconds=max(grace, 60))
    return len(removed)
