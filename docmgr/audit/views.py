"""Pages: the audit log with its verification result, for administrators, legal staff and the ministry:
each entry in words (docmgr.audit.readable), filtered by person, action, object and time, page by page."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from docmgr.accounts.permissions import require_audit_reader
from docmgr.audit import readable, services
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.vocab import AUDIT_ACTION_LABELS, AUDIT_OBJECT_LABELS
from docmgr.web import form_error

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@login_required
def index():
    actor = require_audit_reader(current_user._get_current_object())
    error, status = None, 200
    try:
        audit_filter = readable.parse_filter(request.args)
    except DocmgrError as exc:
        error, status, audit_filter = form_error(exc), exc.status, readable.AuditFilter()
    events, total = readable.search_events(db.session, actor, audit_filter)
    report = services.verify_chain(db.session)
    return render_template(
        "audit/index.html", report=report, entries=readable.describe(db.session, events), total=total,
        page=audit_filter.page, per_page=audit_filter.per_page, audit_filter=audit_filter, error=error,
        people=readable.people_for_filter(db.session),
        actions=sorted(((key, str(label)) for key, label in AUDIT_ACTION_LABELS.items()), key=lambda item: item[1]),
        object_types=sorted(((key, str(label)) for key, label in AUDIT_OBJECT_LABELS.items()), key=lambda item: item[1]),
    ), status
