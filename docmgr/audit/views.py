"""Pages: the audit log with its verification result, for administrators, legal staff and the ministry."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from docmgr.accounts.permissions import require_audit_reader
from docmgr.audit import services
from docmgr.audit.models import AuditEvent
from docmgr.extensions import db

bp = Blueprint("audit", __name__)

PER_PAGE = 50


@bp.get("/audit")
@login_required
def index():
    actor = current_user._get_current_object()
    require_audit_reader(actor)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    report = services.verify_chain(db.session)
    total = db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    events = list(
        db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).offset((page - 1) * PER_PAGE).limit(PER_PAGE))
    )
    return render_template("audit/index.html", report=report, events=events, total=total, page=page, per_page=PER_PAGE)
