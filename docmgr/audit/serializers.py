"""The API shapes of the audit trail: events, an agreement's events, and the chain check."""

from __future__ import annotations

import json

from marshmallow import fields
from marshmallow.validate import OneOf

from docmgr.audit.services import EXPORT_FORMATS
from docmgr.serializers import Input, IsoDateTime, Output, free_object


class AuditEventSchema(Output):
    """One event of the hash chain (``data`` parsed; the export keeps the exact hashed string)."""

    id = fields.Integer()
    created_at = IsoDateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_email = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.Integer(allow_none=True)
    agreement_id = fields.Integer(allow_none=True)
    data = free_object()
    prev_hash = fields.String()
    hash = fields.String()
    mac = fields.String(allow_none=True, metadata={"description": "seal: HMAC-SHA256 of 'id:hash' (docmgr.audit.anchor)"})

    computed = {"data": lambda event: json.loads(event.data or "{}")}


class AgreementEventsSchema(Output):
    agreement_id = fields.Integer(attribute="agreement.id")
    items = fields.List(fields.Nested(AuditEventSchema), attribute="events")
    total = fields.Integer()

    computed = {"total": lambda obj: len(obj["events"])}


class ChainProblemSchema(Output):
    id = fields.Integer(allow_none=True)
    problem = fields.String(validate=OneOf(["missing_entries", "broken_link", "altered", "unsealed", "truncated",
                                            "rewritten", "forged_head", "heads_file_damaged"]))
    message = fields.String()


class ChainReportSchema(Output):
    ok = fields.Boolean()
    events = fields.Integer()
    problems = fields.List(fields.Nested(ChainProblemSchema))


class ExportQuery(Input):
    format = fields.String(validate=OneOf(EXPORT_FORMATS), metadata={"description": "jsonl (default) or csv"})


class AuditExportQuery(ExportQuery):
    agreement_id = fields.Integer()
