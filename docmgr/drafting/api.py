"""/api/v1 endpoints of the drafting module: templates, agreements, draft versions (shapes in
``docmgr.drafting.serializers``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, send_file
from flask_babel import gettext

from docmgr.api import acting_user, documented, int_arg, json_body, page_args
from docmgr.drafting import serializers as ser
from docmgr.drafting import services, signing_settings, template_editing
from docmgr.drafting.models import Draft
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.storage import current_store

bp = Blueprint("drafting_api", __name__)

AGREEMENT = ser.AgreementSchema()
TEMPLATE_DETAIL = ser.TemplateDetailSchema()
DRAFT = ser.DraftSchema()
TEMPLATE_ERRORS = {422: ser.TemplateErrorSchema}


def draft_download(draft: Draft, kind: str):
    """An attachment, like document downloads: the browser never renders stored bytes inline."""
    sha = draft.pdf_sha256 if kind == "pdf" else draft.docx_sha256
    mimetype = (
        "application/pdf" if kind == "pdf"
        else "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    response = send_file(
        current_store().path(sha), mimetype=mimetype, as_attachment=True,
        download_name=f"agreement-{draft.agreement_id}-v{draft.version}.{kind}", etag=sha, conditional=True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- templates ---------------------------------------------------------------------------------


@bp.get("/templates")
@documented({200: ser.TemplateSchema(many=True)}, query=ser.TemplateListQuery)
def list_templates():
    acting_user()
    all_versions = request.args.get("all") in ("1", "true", "yes")
    templates = services.list_templates(db.session, key=request.args.get("key") or None, all_versions=all_versions)
    return jsonify(ser.TemplateSchema(many=True).dump(templates))


@bp.get("/templates/<key>")
@documented({200: ser.TemplateWithVersionsSchema})
def get_template(key: str):
    acting_user()
    return jsonify(ser.TemplateWithVersionsSchema().dump(services.get_template(db.session, key)))


@bp.get("/templates/<key>/versions/<int:version>")
@documented({200: ser.TemplateDetailSchema})
def get_template_version(key: str, version: int):
    acting_user()
    return jsonify(TEMPLATE_DETAIL.dump(services.get_template(db.session, key, version)))


@bp.post("/templates")
@documented({201: ser.TemplateDetailSchema}, body=ser.TemplateRequest, errors=(409,), error_schemas=TEMPLATE_ERRORS)
def create_template():
    actor = acting_user()
    data = json_body(ser.TemplateRequest)
    template = services.create_template(
        db.session, actor, key=data["key"], name=data["name"], name_ru=data.get("name_ru", ""),
        fields=data.get("fields", []), body=data["body"],
    )
    db.session.commit()
    return jsonify(TEMPLATE_DETAIL.dump(template)), 201


@bp.post("/templates/<key>/versions")
@documented({201: ser.TemplateDetailSchema}, body=ser.TemplateVersionRequest, errors=(409,), error_schemas=TEMPLATE_ERRORS)
def create_template_version(key: str):
    actor = acting_user()
    data = json_body(ser.TemplateVersionRequest)
    template = services.create_template_version(
        db.session, actor, key, **{name: data[name] for name in ("body", "fields", "name", "name_ru") if name in data}
    )
    db.session.commit()
    return jsonify(TEMPLATE_DETAIL.dump(template)), 201


@bp.post("/templates/preview")
@documented({200: ser.TemplatePreviewSchema}, body=ser.TemplatePreviewRequest, error_schemas=TEMPLATE_ERRORS)
def preview_template():
    """Render a template (not saved) with sample values: the editor's live preview. Errors name their line."""
    actor = acting_user()
    data = json_body(ser.TemplatePreviewRequest)
    preview = template_editing.preview_template(
        actor, name=data["name"], name_ru=data.get("name_ru", ""), fields=data.get("fields", []), body=data["body"],
    )
    return jsonify(ser.TemplatePreviewSchema().dump({"html": preview.html, "sample_values": preview.sample_values}))


# --- agreements --------------------------------------------------------------------------------


@bp.get("/agreements")
@documented({200: ser.AgreementListSchema}, query=ser.AgreementListQuery)
def list_agreements():
    actor = acting_user()
    page, per_page = page_args()
    filters = services.AgreementFilters(
        status=request.args.get("status") or None, session_id=int_arg("session_id"),
        organization_id=int_arg("organization_id"), template=request.args.get("template") or None,
    )
    items, total = services.list_agreements(db.session, actor, filters, page, per_page)
    return jsonify(ser.AgreementListSchema().dump({"items": items, "total": total, "page": page, "per_page": per_page}))


@bp.post("/agreements")
@documented({201: ser.AgreementSchema}, body=ser.AgreementRequest)
def create_agreement():
    actor = acting_user()
    data = json_body(ser.AgreementRequest)
    agreement = services.create_agreement(
        db.session, actor, template_key=data["template"], title=data.get("title"),
        title_alt=data.get("title_alt"),
        organization_ids=data["organization_ids"], proposal_ids=data.get("proposal_ids", []),
        fields=data.get("fields", {}), signatories=data.get("signatories", []), session_id=data.get("session_id"),
        **{name: data[name] for name in signing_settings.SETTING_NAMES if name in data},
    )
    db.session.commit()
    return jsonify(AGREEMENT.dump(agreement)), 201


@bp.get("/agreements/<int:agreement_id>")
@documented({200: ser.AgreementSchema})
def get_agreement(agreement_id: int):
    return jsonify(AGREEMENT.dump(services.get_agreement(db.session, acting_user(), agreement_id)))


@bp.patch("/agreements/<int:agreement_id>")
@documented({200: ser.AgreementSchema}, body=ser.AgreementPatchRequest, errors=(409,))
def update_agreement(agreement_id: int):
    actor = acting_user()
    data = json_body(ser.AgreementPatchRequest)
    agreement = services.update_agreement(db.session, actor, agreement_id, **data)
    db.session.commit()
    return jsonify(AGREEMENT.dump(agreement))


@bp.post("/agreements/<int:agreement_id>/drafts")
@documented({201: ser.DraftSchema}, body=ser.EmptyRequest, errors=(409,), error_schemas=TEMPLATE_ERRORS)
def render_draft(agreement_id: int):
    actor = acting_user()
    if request.get_data(cache=True).strip():
        json_body(ser.EmptyRequest)  # an empty object is fine; anything else is refused by name
    draft = services.render_draft(db.session, actor, agreement_id)
    db.session.commit()
    return jsonify(DRAFT.dump(draft)), 201


@bp.get("/agreements/<int:agreement_id>/drafts")
@documented({200: ser.DraftSchema(many=True)})
def list_drafts(agreement_id: int):
    agreement = services.get_agreement(db.session, acting_user(), agreement_id)
    return jsonify(DRAFT.dump(sorted(agreement.drafts, key=lambda d: d.version), many=True))


@bp.get("/agreements/<int:agreement_id>/drafts/<int:version>.pdf")
@documented({200: "application/pdf"})
def draft_pdf(agreement_id: int, version: int):
    return draft_download(services.get_draft(db.session, acting_user(), agreement_id, version), "pdf")


@bp.get("/agreements/<int:agreement_id>/drafts/<int:version>.docx")
@documented({200: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"})
def draft_docx(agreement_id: int, version: int):
    return draft_download(services.get_draft(db.session, acting_user(), agreement_id, version), "docx")


def version_args() -> tuple[int, int]:
    versions = []
    for name in ("a", "b"):
        value = int_arg(name)
        if value is None:
            raise Invalid(gettext("Give the draft versions to compare as ?a=N&b=M ('%(name)s' is missing).", name=name), field=name,
                          code="missing_field")
        versions.append(value)
    return versions[0], versions[1]


@bp.get("/agreements/<int:agreement_id>/drafts/compare")
@documented({200: ser.DraftComparisonSchema}, query=ser.CompareQuery)
def compare_drafts(agreement_id: int):
    actor = acting_user()
    services.get_agreement(db.session, actor, agreement_id)  # 404 before anything else for outsiders
    version_a, version_b = version_args()
    return jsonify(ser.DraftComparisonSchema().dump(services.compare_drafts(db.session, actor, agreement_id, version_a, version_b)))
