"""Notes: who reads and writes them, adding and removing them (each audited).

Legal staff, the ministry and admins read notes; legal staff and admins write them (the ministry reads
only, as everywhere); a note's author or an admin removes it. Firms never see notes: every function
answers them as if there were none to see, and nothing of a note reaches the search index.
"""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.accounts.permissions import is_staff, require_audit_reader, require_staff, sees_everything
from docmgr.audit.services import record
from docmgr.documents.services import get_document
from docmgr.drafting.services import get_agreement
from docmgr.errors import Forbidden, Invalid, NotFound
from docmgr.notes.models import Note
from docmgr.vocab import Role

MAX_NOTE_CHARS = 5000
OBJECT_TYPES = ("document", "agreement")


def can_read_notes(actor: User | None) -> bool:
    return sees_everything(actor)


def can_write_notes(actor: User | None) -> bool:
    return is_staff(actor)


def _check_object(session: Session, actor: User, object_type: str, object_id: int) -> None:
    """404 for an object the actor cannot see (or that does not exist)."""
    if object_type == "document":
        get_document(session, actor, object_id)
    elif object_type == "agreement":
        get_agreement(session, actor, object_id)
    else:
        raise NotFound(gettext("No such page."))


def list_notes(session: Session, actor: User, object_type: str, object_id: int) -> list[Note]:
    """The notes of one document or agreement, oldest first."""
    require_audit_reader(actor)
    _check_object(session, actor, object_type, object_id)
    column = Note.document_id if object_type == "document" else Note.agreement_id
    return list(session.scalars(select(Note).where(column == object_id).order_by(Note.created_at, Note.id)))


def check_body(body: str | None) -> str:
    body = (body or "").strip()
    if not body:
        raise Invalid(gettext("Write the note first."), field="body", code="missing_field")
    if len(body) > MAX_NOTE_CHARS:
        raise Invalid(gettext("Notes are limited to %(num)s characters.", num=MAX_NOTE_CHARS), field="body")
    return body


def add_note(session: Session, actor: User, object_type: str, object_id: int, body: str | None) -> Note:
    _check_object(session, actor, object_type, object_id)  # first: 404 for what one cannot see, whoever asks
    require_staff(actor)
    body = check_body(body)
    note = Note(body=body, created_by_id=actor.id, **{f"{object_type}_id": object_id})
    session.add(note)
    session.flush()
    # Not tied to the agreement's own trail (agreement_id): parties' firms read that trail, never notes.
    record(session, actor, "note.created", note, on=object_type, on_id=object_id, length=len(body))
    return note


def delete_note(session: Session, actor: User, note_id: int) -> Note:
    """Remove a note: its author or an admin. The audit keeps that it existed, not its text."""
    note = session.get(Note, note_id)
    if note is None:
        raise NotFound(gettext("No such note."), code="note_not_found")
    object_type = "document" if note.document_id is not None else "agreement"
    object_id = note.document_id if note.document_id is not None else note.agreement_id
    assert object_id is not None
    _check_object(session, actor, object_type, object_id)
    require_staff(actor)
    if note.created_by_id != actor.id and actor.role != Role.ADMIN.value:
        raise Forbidden(gettext("Only its author or an administrator can remove a note."), code="not_your_note")
    record(session, actor, "note.deleted", note, on=object_type, on_id=object_id)
    session.delete(note)
    session.flush()
    return note
