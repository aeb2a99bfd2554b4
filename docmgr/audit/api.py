"""/api/v1 endpoints of the audit module: an agreement's events, the export, and chain verification."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_babel import gettext

from docmgr.accounts.permissions import require_audit_reader
from docmgr.api import acting_user, documented, int_arg
from docmgr.audit import serializers as ser
from docmgr.audit import services
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.signatures.services import agreement_events, get_agreement

bp = Blueprint("audit_api", __name__)


def _agreement_visible_to(actor, agreement_id: int):
    """404 for agreements the actor may not read (accounts.permissions holds that rule)."""
    return get_agreement(db.session, actor, agreement_id)


@bp.get("/agreements/<int:agreement_id>/audit")
@documented({200: ser.AgreementEventsSchema})
def agreement_audit(agreement_id: int):
    """Every event about one agreement, oldest first: whoever may read the agreement may read this."""
    agreement, events = agreement_events(db.session, acting_user(), agreement_id)
    return jsonify(ser.AgreementEventsSchema().dump({"agreement": agreement, "events": events}))


@bp.get("/audit/export")
@documented({200: ("application/x-ndjson", "text/csv")}, query=ser.AuditExportQuery)
def export():
    """All events (or one agreement's with ``agreement_id``) as JSON lines (default) or CSV."""
    actor = acting_user()
    agreement_id = int_arg("agreement_id")
    if agreement_id is not None:
        _agreement_visible_to(actor, agreement_id)
    require_audit_reader(actor)
    fmt = request.args.get("format") or "jsonl"
    if fmt not in services.EXPORT_FORMATS:
        raise Invalid(gettext("'format' must be jsonl or csv."), field="format")
    name = f"audit{'-agreement-' + str(agreement_id) if agreement_id else ''}.{fmt}"
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    body = stream_with_context(services.export_lines(db.session, fmt, agreement_id))
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/agreements/<int:agreement_id>/audit/export")
@documented({200: ("application/x-ndjson", "text/csv")}, query=ser.ExportQuery)
def export_agreement(agreement_id: int):
    """The per-agreement export under the agreement's own URL (same as /audit/export?agreement_id=)."""
    actor = acting_user()
    _agreement_visible_to(actor, agreement_id)
    require_audit_reader(actor)
    fmt = request.args.get("format") or "jsonl"
    if fmt not in services.EXPORT_FORMATS:
        raise Invalid(gettext("'format' must be jsonl or csv."), field="format")
    body = stream_with_context(services.export_lines(db.session, fmt, agreement_id))
    response = Response(body, mimetype="text/csv" if fmt == "csv" else "application/x-ndjson")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-agreement-{agreement_id}.{fmt}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/audit/verify")
@documented({200: ser.ChainReportSchema})
def verify():
    """``{"ok", "events", "problems"}``: every edited, removed or reordered entry, named by id."""
    require_audit_reader(acting_user())
    return jsonify(ser.ChainReportSchema().dump(services.verify_chain(db.session)))
