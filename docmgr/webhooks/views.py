"""The "Webhooks" page for administrators: endpoints, a form to add one, and the delivery log."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

import docmgr.webhooks.services as services
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.web import form_error

bp = Blueprint("webhooks", __name__)


def _actor():
    return current_user._get_current_object()


def _page(error: dict | None = None, status: int = 200, created=None):
    hooks = services.list_webhooks(db.session, _actor())
    found = services.deliveries(db.session, _actor(), limit=50)
    return render_template(
        "webhooks/index.html", hooks=hooks, deliveries=found, events=services.EVENTS, error=error, created=created,
        counts={hook.id: services.delivery_counts(db.session, hook.id) for hook in hooks},
        attempts={d.id: services.attempts_of(db.session, d) for d in found}, form=request.form,
    ), status


@bp.get("/webhooks")
@login_required
def index():
    return _page()


@bp.post("/webhooks")
@login_required
def create():
    try:
        hook = services.create_webhook(db.session, _actor(), url=request.form.get("url"),
                                       events=request.form.getlist("events"), secret=request.form.get("secret"))
        db.session.commit()
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status == 403:
            raise
        return _page(form_error(exc), exc.status)
    flash(_("Webhook added. Keep its secret now: it is not shown again."), "success")
    return _page(created=hook, status=201)


@bp.post("/webhooks/<int:webhook_id>/active")
@login_required
def set_active(webhook_id: int):
    services.set_active(db.session, _actor(), webhook_id, request.form.get("active") == "true")
    db.session.commit()
    return redirect(url_for("webhooks.index"))


@bp.post("/webhooks/<int:webhook_id>/delete")
@login_required
def delete(webhook_id: int):
    services.delete_webhook(db.session, _actor(), webhook_id)
    db.session.commit()
    flash(_("Webhook deleted."), "success")
    return redirect(url_for("webhooks.index"))
