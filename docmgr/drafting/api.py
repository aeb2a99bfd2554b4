"""/api/v1 endpoints of the drafting module: templates, agreements, draft versions.

``agreement_json`` is the one serializer of an agreement; the signatures module answers with it too.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, request, send_file, url_for

from docmgr.api import acting_user, int_arg, iso, json_body, page_args
from docmgr.drafting import services
from docmgr.drafting.models import Agreement, Draft, Signatory, Template
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.storage import current_store

bp = Blueprint("drafting_api", __name__)

AGREEMENT_FIELDS = {"template", "title", "organization_ids", "proposal_ids", "fields", "signatories", "session_id"}
AGREEMENT_PATCH_FIELDS = AGREEMENT_FIELDS - {"template"}
TEMPLATE_FIELDS = {"key", "name", "name_ru", "fields", "body"}


# --- serializers -------------------------------------------------------------------------------


def template_json(template: Template, *, with_body: bool = False) -> dict[str, Any]:
    data = {
        "id": template.id, "key": template.key, "name": template.name, "name_ru": template.name_ru,
        "version": template.version, "fields": [f.to_dict() for f in services.template_fields(template)],
        "source_sha256": template.source_sha256, "created_at": iso(template.created_at),
    }
    if with_body:
        data["body"] = template.body
    return data


def draft_json(draft: Draft) -> dict[str, Any]:
    agreement_id, version = draft.agreement_id, draft.version
    return {
        "id": draft.id, "version": version,
        "pdf_url": url_for("api.drafting_api.draft_pdf", agreement_id=agreement_id, version=version),
        "docx_url": url_for("api.drafting_api.draft_docx", agreement_id=agreement_id, version=version),
        "pdf_sha256": draft.pdf_sha256, "docx_sha256": draft.docx_sha256,
        "pdf_size": draft.pdf_size, "docx_size": draft.docx_size,
        "template_id": draft.template_id, "created_at": iso(draft.created_at),
    }


def signatory_json(signatory: Signatory) -> dict[str, Any]:
    return {
        "id": signatory.id, "name": signatory.name, "name_alt": signatory.name_alt, "title": signatory.title,
        "organization_id": signatory.organization_id, "email": signatory.email, "status": signatory.status,
        "signed_at": iso(signatory.signed_at), "method": signatory.method,
        "verification": json.loads(signatory.verification_json) if signatory.verification_json else None,
        "decline_reason": signatory.decline_reason, "due_at": iso(signatory.due_at),
    }


def agreement_json(agreement: Agreement, *, with_details: bool = True) -> dict[str, Any]:
    """The agreement as the API shows it (GET /agreements/ID); lists use ``with_details=False``."""
    template = agreement.template
    data: dict[str, Any] = {
        "id": agreement.id, "title": agreement.title, "status": agreement.status,
        "template": {"id": template.id, "key": template.key, "version": template.version, "name": template.name},
        "session_id": agreement.session_id,
        "organization_ids": [o.id for o in agreement.parties],
        "parties": [
            {"id": o.id, "name": o.name, "name_alt": o.name_alt, "country": o.country} for o in agreement.parties
        ],
        "created_at": iso(agreement.created_at), "updated_at": iso(agreement.updated_at),
    }
    latest = services.latest_draft(agreement)
    data["latest_draft_version"] = latest.version if latest else None
    if not with_details:
        data["signatories"] = [
            {"id": s.id, "name": s.name, "organization_id": s.organization_id, "status": s.status}
            for s in agreement.signatories
        ]
        return data
    frozen = agreement.frozen_draft
    data.update({
        "fields": services.agreement_fields(agreement),
        "proposal_ids": [p.id for p in agreement.proposals],
        "signatories": [signatory_json(s) for s in agreement.signatories],
        "drafts": [draft_json(d) for d in sorted(agreement.drafts, key=lambda d: d.version)],
        "frozen_pdf_sha256": agreement.frozen_pdf_sha256,
        "frozen_draft_version": frozen.version if frozen else None,
        "executed_at": iso(agreement.executed_at),
        "executed_document_id": agreement.executed_document_id,
        "certificate_sha256": agreement.certificate_sha256,
    })
    return data


def compare_json(comparison: dict[str, Any]) -> dict[str, Any]:
    return {
        "agreement_id": comparison["agreement_id"],
        "a": {"version": comparison["a"].version, "created_at": iso(comparison["a"].created_at)},
        "b": {"version": comparison["b"].version, "created_at": iso(comparison["b"].created_at)},
        "changed_clauses": comparison["changed_clauses"],
        "clauses": comparison["clauses"],
        "fields": comparison["fields"],
    }


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
def list_templates():
    acting_user()
    all_versions = request.args.get("all") in ("1", "true", "yes")
    templates = services.list_templates(db.session, key=request.args.get("key") or None, all_versions=all_versions)
    return jsonify([template_json(t) for t in templates])


@bp.get("/templates/<key>")
def get_template(key: str):
    acting_user()
    template = services.get_template(db.session, key)
    data = template_json(template, with_body=True)
    data["versions"] = [
        {"id": t.id, "version": t.version, "created_at": iso(t.created_at), "source_sha256": t.source_sha256}
        for t in services.list_templates(db.session, key=key, all_versions=True)
    ]
    return jsonify(data)


@bp.get("/templates/<key>/versions/<int:version>")
def get_template_version(key: str, version: int):
    acting_user()
    return jsonify(template_json(services.get_template(db.session, key, version), with_body=True))


@bp.post("/templates")
def create_template():
    actor = acting_user()
    data = json_body(TEMPLATE_FIELDS, required={"key", "name", "body"})
    template = services.create_template(
        db.session, actor, key=data["key"], name=data["name"], name_ru=data.get("name_ru", ""),
        fields=data.get("fields", []), body=data["body"],
    )
    db.session.commit()
    return jsonify(template_json(template, with_body=True)), 201


@bp.post("/templates/<key>/versions")
def create_template_version(key: str):
    actor = acting_user()
    data = json_body(TEMPLATE_FIELDS - {"key"})
    template = services.create_template_version(
        db.session, actor, key, **{name: data[name] for name in ("body", "fields", "name", "name_ru") if name in data}
    )
    db.session.commit()
    return jsonify(template_json(template, with_body=True)), 201


# --- agreements --------------------------------------------------------------------------------


@bp.get("/agreements")
def list_agreements():
    actor = acting_user()
    page, per_page = page_args()
    filters = services.AgreementFilters(
        status=request.args.get("status") or None, session_id=int_arg("session_id"),
        organization_id=int_arg("organization_id"), template=request.args.get("template") or None,
    )
    items, total = services.list_agreements(db.session, actor, filters, page, per_page)
    return jsonify({
        "items": [agreement_json(a, with_details=False) for a in items], "total": total, "page": page,
        "per_page": per_page,
    })


@bp.post("/agreements")
def create_agreement():
    actor = acting_user()
    data = json_body(AGREEMENT_FIELDS, required={"template", "organization_ids"})
    agreement = services.create_agreement(
        db.session, actor, template_key=data["template"], title=data.get("title"),
        organization_ids=data["organization_ids"], proposal_ids=data.get("proposal_ids", []),
        fields=data.get("fields", {}), signatories=data.get("signatories", []), session_id=data.get("session_id"),
    )
    db.session.commit()
    return jsonify(agreement_json(agreement)), 201


@bp.get("/agreements/<int:agreement_id>")
def get_agreement(agreement_id: int):
    return jsonify(agreement_json(services.get_agreement(db.session, acting_user(), agreement_id)))


@bp.patch("/agreements/<int:agreement_id>")
def update_agreement(agreement_id: int):
    actor = acting_user()
    data = json_body(AGREEMENT_PATCH_FIELDS)
    agreement = services.update_agreement(
        db.session, actor, agreement_id, **{name: data[name] for name in AGREEMENT_PATCH_FIELDS if name in data}
    )
    db.session.commit()
    return jsonify(agreement_json(agreement))


@bp.post("/agreements/<int:agreement_id>/drafts")
def render_draft(agreement_id: int):
    actor = acting_user()
    if request.get_data(cache=True).strip():
        json_body(set())  # an empty object is fine; anything else is refused by name
    draft = services.render_draft(db.session, actor, agreement_id)
    db.session.commit()
    data = draft_json(draft)
    return jsonify(data), 201


@bp.get("/agreements/<int:agreement_id>/drafts")
def list_drafts(agreement_id: int):
    agreement = services.get_agreement(db.session, acting_user(), agreement_id)
    return jsonify([draft_json(d) for d in sorted(agreement.drafts, key=lambda d: d.version)])


@bp.get("/agreements/<int:agreement_id>/drafts/<int:version>.pdf")
def draft_pdf(agreement_id: int, version: int):
    return draft_download(services.get_draft(db.session, acting_user(), agreement_id, version), "pdf")


@bp.get("/agreements/<int:agreement_id>/drafts/<int:version>.docx")
def draft_docx(agreement_id: int, version: int):
    return draft_download(services.get_draft(db.session, acting_user(), agreement_id, version), "docx")


def version_args() -> tuple[int, int]:
    versions = []
    for name in ("a", "b"):
        value = int_arg(name)
        if value is None:
            raise Invalid(f"Give the draft versions to compare as ?a=N&b=M ('{name}' is missing).", field=name,
                          code="missing_field")
        versions.append(value)
    return versions[0], versions[1]


@bp.get("/agreements/<int:agreement_id>/drafts/compare")
def compare_drafts(agreement_id: int):
    actor = acting_user()
    services.get_agreement(db.session, actor, agreement_id)  # 404 before anything else for outsiders
    version_a, version_b = version_args()
    return jsonify(compare_json(services.compare_drafts(db.session, actor, agreement_id, version_a, version_b)))
