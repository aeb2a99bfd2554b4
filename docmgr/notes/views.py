"""Pages: add and remove notes (shown on document and agreement pages by ``notes/_panel.html``)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.notes import services
from docmgr.web import form_error

bp = Blueprint("notes", __name__)

_PAGES = {"document": ("documents.detail", "document_id"), "agreement": ("drafting.detail", "agreement_id")}


def _back(object_type: str, object_id: int) -> str:
    endpoint, key = _PAGES[object_type]
    return url_for(endpoint, **{key: object_id}) + "#notes"


def _add(object_type: str, object_id: int):
    actor = current_user._get_current_object()
    body = request.form.get("body", "")
    try:
        services.add_note(db.session, actor, object_type, object_id, body)
        db.session.commit()
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        return render_template("notes/form.html", object_type=object_type, object_id=object_id, body=body,
                               back=_back(object_type, object_id), error=form_error(exc)), exc.status
    flash(_("The note was added."), "success")
    return redirect(_back(object_type, object_id))


@bp.post("/documents/<int:document_id>/notes")
@login_required
def add_document_note(document_id: int):
    return _add("document", document_id)


@bp.post("/agreements/<int:agreement_id>/notes")
@login_required
def add_agreement_note(agreement_id: int):
    return _add("agreement", agreement_id)


@bp.post("/notes/<int:note_id>/delete")
@login_required
def delete(note_id: int):
    note = services.delete_note(db.session, current_user._get_current_object(), note_id)
    db.session.commit()
    flash(_("The note was removed."), "success")
    object_type = "document" if note.document_id is not None else "agreement"
    return redirect(_back(object_type, note.document_id or note.agreement_id))
