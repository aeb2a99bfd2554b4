"""notes: internal notes on documents and agreements, for legal staff, the ministry and admins."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

from docmgr.extensions import db
from docmgr.notes import services, views
from docmgr.notes.models import Note


def notes_for(object_type: str, object_id: int) -> list[Note] | None:
    """For page templates: the notes of an object, or None when the user may not read notes (firms)."""
    actor = current_user._get_current_object()
    if not services.can_read_notes(actor):
        return None
    return services.list_notes(db.session, actor, object_type, object_id)


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.jinja_env.globals.update(notes_for=notes_for, can_write_notes=services.can_write_notes)
