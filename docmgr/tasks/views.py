"""The task queue page for administrators: pending, failed and dead work, with a Retry button."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

import docmgr.tasks.services as services
from docmgr.errors import DocmgrError
from docmgr.extensions import db

bp = Blueprint("tasks", __name__)


@bp.get("/queue")
@login_required
def index():
    status = request.args.get("status") or None
    work = services.list_work(db.session, current_user._get_current_object(), status)
    return render_template("tasks/index.html", counts=work["counts"], items=work["items"], status=status,
                           filters=services.STATUS_FILTERS, shown_status=services.shown_status)


@bp.post("/queue/<int:task_id>/retry")
@login_required
def retry(task_id: int):
    try:
        services.retry(db.session, current_user._get_current_object(), task_id)
        db.session.commit()
    except DocmgrError as error:
        db.session.rollback()
        if error.status in (401, 403, 404):
            raise
        flash(error.message, "error")
        return redirect(url_for("tasks.index"))
    flash(_("Task %(id)s will be tried again now.", id=task_id), "success")
    return redirect(url_for("tasks.index"))
