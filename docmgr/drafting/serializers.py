"""The API shapes of drafting: templates, agreements, signatories and draft versions.

``AgreementSchema`` is the one shape of an agreement; the signatures module extends it.
"""

from __future__ import annotations

import json

from flask import url_for
from marshmallow import fields, missing
from marshmallow.validate import OneOf
from sqlalchemy.orm import object_session

from docmgr.drafting import services
from docmgr.drafting.models import SIGNING_ORDERS, AgreementStatus, Draft, SignatoryStatus
from docmgr.serializers import ErrorDetailSchema, ErrorSchema, Input, IsoDateTime, Output, free_object, optional

STATUSES = [s.value for s in AgreementStatus]
SIGNATORY_STATUSES = [s.value for s in SignatoryStatus]
SIGNATURE_METHODS = ["wet_ink", "digital", "electronic"]  # electronic: signed in the browser, sealed by docmgr


class TemplateFieldSchema(Output):
    name = fields.String()
    label_it = fields.String()
    label_ru = fields.String()
    type = fields.String()
    required = fields.Boolean()
    help = optional(fields.String(metadata={"description": "present when the template gives one"}))

    computed = {"help": lambda spec: spec.help or missing}


class TemplateSchema(Output):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()
    name_ru = fields.String()
    version = fields.Integer()
    field_specs = fields.List(fields.Nested(TemplateFieldSchema), data_key="fields")
    source_sha256 = fields.String()
    created_at = IsoDateTime()

    computed = {"field_specs": services.template_fields}


class TemplateVersionSchema(Output):
    id = fields.Integer()
    version = fields.Integer()
    created_at = IsoDateTime()
    source_sha256 = fields.String()


class TemplateDetailSchema(TemplateSchema):
    """One template version with its body (the Jinja source)."""

    body = fields.String()


class TemplateWithVersionsSchema(TemplateDetailSchema):
    """The newest version of a template, with its body and the list of all its versions."""

    versions = fields.List(fields.Nested(TemplateVersionSchema))

    computed = {**TemplateDetailSchema.computed, "versions": lambda template: services.list_templates(
        object_session(template), key=template.key, all_versions=True)}


class DraftSchema(Output):
    id = fields.Integer()
    version = fields.Integer()
    pdf_url = fields.String()
    docx_url = fields.String()
    pdf_sha256 = fields.String()
    docx_sha256 = fields.String()
    pdf_size = fields.Integer()
    docx_size = fields.Integer()
    template_id = fields.Integer()
    created_at = IsoDateTime()

    computed = {
        "pdf_url": lambda draft: _draft_url(draft, "pdf"),
        "docx_url": lambda draft: _draft_url(draft, "docx"),
    }


def _draft_url(draft: Draft, kind: str) -> str:
    return url_for(f"api.drafting_api.draft_{kind}", agreement_id=draft.agreement_id, version=draft.version)


class SignatorySchema(Output):
    id = fields.Integer()
    name = fields.String()
    name_alt = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    title_alt = fields.String(allow_none=True, metadata={"description": "the job title in the other language"})
    organization_id = fields.Integer(allow_none=True)
    email = fields.String(allow_none=True)
    status = fields.String(validate=OneOf(SIGNATORY_STATUSES))
    signed_at = IsoDateTime(allow_none=True)
    method = fields.String(allow_none=True, validate=OneOf(SIGNATURE_METHODS))
    verification = free_object(allow_none=True, metadata={"description": "what the check of the signed copy found"})
    decline_reason = fields.String(allow_none=True)
    due_at = IsoDateTime(allow_none=True)
    order = fields.Integer(metadata={"description": "the signing step (sequential agreements: 1 signs first)"})
    invited_at = IsoDateTime(allow_none=True, metadata={"description": "when the latest invitation was e-mailed"})
    reminded_at = IsoDateTime(allow_none=True, metadata={"description": "when the latest reminder was e-mailed"})

    computed = {"verification": lambda row: json.loads(row.verification_json) if row.verification_json else None}


class SignatorySummarySchema(Output):
    id = fields.Integer()
    name = fields.String()
    organization_id = fields.Integer(allow_none=True)
    status = fields.String(validate=OneOf(SIGNATORY_STATUSES))


class TemplateRefSchema(Output):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String()


class PartySchema(Output):
    id = fields.Integer()
    name = fields.String()
    name_alt = fields.String(allow_none=True)
    country = fields.String()


class AgreementSummarySchema(Output):
    """An agreement in lists."""

    id = fields.Integer()
    title = fields.String()
    title_alt = fields.String(metadata={"description": "the title in the other language"})
    status = fields.String(validate=OneOf(STATUSES))
    template = fields.Nested(TemplateRefSchema)
    session_id = fields.Integer(allow_none=True)
    organization_ids = fields.List(fields.Integer())
    parties = fields.List(fields.Nested(PartySchema))
    created_at = IsoDateTime()
    updated_at = IsoDateTime()
    latest_draft_version = fields.Integer(allow_none=True)
    signatories = fields.List(fields.Nested(SignatorySummarySchema))

    computed = {
        "organization_ids": lambda agreement: [o.id for o in agreement.parties],
        "latest_draft_version": lambda agreement: getattr(services.latest_draft(agreement), "version", None),
    }


class CopiedRecipientSchema(Output):
    name = fields.String()
    email = fields.String()


class AgreementSchema(AgreementSummarySchema):
    """The agreement as GET /agreements/ID shows it."""

    signing_order = fields.String(validate=OneOf(SIGNING_ORDERS))
    sign_by = IsoDateTime(allow_none=True)
    reminder_days = fields.Integer(allow_none=True, metadata={"description": "null: the configured default"})
    cc = fields.List(fields.Nested(CopiedRecipientSchema))

    field_values = free_object(data_key="fields", metadata={"description": "the template's field values"})
    proposal_ids = fields.List(fields.Integer())
    signatories = fields.List(fields.Nested(SignatorySchema))
    drafts = fields.List(fields.Nested(DraftSchema))
    frozen_pdf_sha256 = fields.String(allow_none=True)
    frozen_draft_version = fields.Integer(allow_none=True)
    executed_at = IsoDateTime(allow_none=True)
    executed_document_id = fields.Integer(allow_none=True)
    certificate_sha256 = fields.String(allow_none=True)

    computed = {
        **AgreementSummarySchema.computed,
        "field_values": services.agreement_fields,
        "proposal_ids": lambda agreement: [p.id for p in agreement.proposals],
        "drafts": lambda agreement: sorted(agreement.drafts, key=lambda d: d.version),
        "frozen_draft_version": lambda agreement: getattr(agreement.frozen_draft, "version", None),
    }


class AgreementListSchema(Output):
    items = fields.List(fields.Nested(AgreementSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DiffSegmentSchema(Output):
    op = fields.String(validate=OneOf(["equal", "insert", "delete"]))
    text = fields.String()


class ClauseChangeSchema(Output):
    kind = fields.String()
    heading_it = fields.String()
    heading_ru = fields.String()
    it = fields.List(fields.Nested(DiffSegmentSchema))
    ru = fields.List(fields.Nested(DiffSegmentSchema))
    status = fields.String(validate=OneOf(["added", "removed", "changed", "unchanged"]))


class FieldChangeSchema(Output):
    name = fields.String()
    a = fields.Raw(allow_none=True, metadata={"description": "the value in version a"})
    b = fields.Raw(allow_none=True, metadata={"description": "the value in version b"})


class ComparedVersionSchema(Output):
    version = fields.Integer()
    created_at = IsoDateTime()


class DraftComparisonSchema(Output):
    agreement_id = fields.Integer()
    a = fields.Nested(ComparedVersionSchema)
    b = fields.Nested(ComparedVersionSchema)
    changed_clauses = fields.Integer()
    clauses = fields.List(fields.Nested(ClauseChangeSchema))
    field_changes = fields.List(fields.Nested(FieldChangeSchema), attribute="fields", data_key="fields")


class TemplateErrorDetailSchema(ErrorDetailSchema):
    """A template that does not compile names its ``line``; a render refused for want of values names
    every ``missing`` field."""

    line = optional(fields.Integer())
    missing = optional(fields.List(fields.String()))


class TemplateErrorSchema(ErrorSchema):
    error = fields.Nested(TemplateErrorDetailSchema)


# --- requests ------------------------------------------------------------------------------------


class TemplateFieldRequest(Input):
    name = fields.String(required=True)
    label_it = fields.String()
    label_ru = fields.String()
    type = fields.String()
    required = fields.Boolean()
    help = fields.String()


class TemplateRequest(Input):
    key = fields.String(required=True)
    name = fields.String(required=True)
    name_ru = fields.String()
    field_specs = fields.List(fields.Nested(TemplateFieldRequest), data_key="fields")
    body = fields.String(required=True, metadata={"description": "the Jinja source (rendered in a sandbox)"})


class TemplateVersionRequest(Input):
    name = fields.String()
    name_ru = fields.String()
    field_specs = fields.List(fields.Nested(TemplateFieldRequest), data_key="fields")
    body = fields.String()


class TemplatePreviewRequest(Input):
    name = fields.String(required=True)
    name_ru = fields.String()
    field_specs = fields.Raw(data_key="fields", metadata={"description": "the field list (as for a new template)"})
    body = fields.String(required=True)


class TemplatePreviewSchema(Output):
    """A template rendered with sample values by the drafts' renderer; nothing is saved."""

    html = fields.String(metadata={"description": "the bilingual clauses as sanitised HTML"})
    sample_values = free_object()


class TemplateListQuery(Input):
    key = fields.String()
    all = fields.String(metadata={"description": "1, true or yes: every version, not only the newest"})


class SignatoryRequest(Input):
    name = fields.String(required=True)
    name_alt = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    title_alt = fields.String(allow_none=True, metadata={"description": "the job title in the other language"})
    organization_id = fields.Integer(required=True)
    email = fields.String(allow_none=True)
    order = fields.Integer(metadata={"description": "the signing step, 1 to 100 (sequential agreements)"})


class AgreementPatchRequest(Input):
    title = fields.String()
    title_alt = fields.String(allow_none=True, metadata={"description": "the title in the other language"})
    organization_ids = fields.List(fields.Integer(), metadata={"minItems": 2})
    proposal_ids = fields.List(fields.Integer())
    field_values = free_object(data_key="fields", metadata={"description": "values for the template's fields"})
    signatories = fields.List(fields.Nested(SignatoryRequest))
    session_id = fields.Integer(allow_none=True)
    signing_order = fields.String(validate=OneOf(SIGNING_ORDERS))
    sign_by = fields.String(allow_none=True, metadata={"description": "a date (YYYY-MM-DD, the end of that day UTC) "
                                                       "or an ISO date-time, in the future; null clears it"})
    reminder_days = fields.Integer(allow_none=True, metadata={"minimum": 1, "maximum": 60})
    cc = fields.List(fields.Nested(CopiedRecipientSchema), metadata={"description": "copied: not asked to sign, "
                                                                     "they receive the executed copy"})


class AgreementRequest(AgreementPatchRequest):
    template = fields.String(required=True, metadata={"description": "a template key"})
    organization_ids = fields.List(fields.Integer(), required=True, metadata={"minItems": 2})


class EmptyRequest(Input):
    """An empty JSON object (or no body at all)."""


class AgreementListQuery(Input):
    status = fields.String(validate=OneOf(STATUSES))
    session_id = fields.Integer()
    organization_id = fields.Integer()
    template = fields.String()
    page = fields.Integer()
    per_page = fields.Integer(metadata={"maximum": 100})


class CompareQuery(Input):
    a = fields.Integer(required=True)
    b = fields.Integer(required=True)
