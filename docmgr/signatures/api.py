"""/api/v1 endpoints of the signatures module: transitions, signatures, declines, the certificate
and the task-force figures."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify, request, send_file

from docmgr.api import acting_user, form_fields, int_arg, iso, json_body
from docmgr.drafting.api import agreement_json
from docmgr.drafting.api import signatory_json as drafting_signatory_json
from docmgr.drafting.models import Agreement, Signatory
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.signatures import reports, services
from docmgr.signatures.models import SignatureSubmission
from docmgr.storage import current_store

bp = Blueprint("signatures_api", __name__)


def signatory_json(signatory: Signatory) -> dict:
    """The drafting module's signatory JSON plus the hash of the accepted signed copy."""
    return {**drafting_signatory_json(signatory), "signed_file_sha256": signatory.signed_file_sha256}


def submission_json(submission: SignatureSubmission) -> dict:
    return {
        "id": submission.id, "signatory_id": submission.signatory_id, "sha256": submission.sha256,
        "size": submission.size, "filename": submission.filename, "content_type": submission.content_type,
        "method": submission.method, "signed_at": iso(submission.signed_at), "is_valid": submission.is_valid,
        "verification": services.verification_of(submission), "created_at": iso(submission.created_at),
        "created_by_id": submission.created_by_id,
    }


def agreement_state_json(agreement: Agreement) -> dict:
    """The drafting module's agreement JSON (the one serializer of an agreement), plus the
    signature-side fields it does not carry."""
    data = agreement_json(agreement)
    data.update({
        "approved_by_id": agreement.approved_by_id, "frozen_draft_id": agreement.frozen_draft_id,
        "sent_for_signature_at": iso(agreement.sent_for_signature_at),
        "certificate_url": f"/api/v1/agreements/{agreement.id}/certificate.pdf" if agreement.certificate_sha256 else None,
        "signatories": [signatory_json(s) for s in agreement.signatories],
    })
    return data


def _parse_due_at(raw) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("'due_at' must be an ISO 8601 date and time.", field="due_at") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.post("/agreements/<int:agreement_id>/transitions")
def create_transition(agreement_id: int):
    actor = acting_user()
    data = json_body({"to", "reason", "due_at"}, required={"to"})
    for name in ("to", "reason", "due_at"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise Invalid(f"'{name}' must be a string.", field=name)
    agreement = services.transition(
        db.session, actor, agreement_id, data["to"], reason=data.get("reason"), due_at=_parse_due_at(data.get("due_at"))
    )
    db.session.commit()
    return jsonify(agreement_state_json(agreement))


@bp.get("/agreements/<int:agreement_id>/signatures")
def signature_state(agreement_id: int):
    """Status, signatories with their verification, and every submission (refused ones included)."""
    agreement = services.get_agreement(db.session, acting_user(), agreement_id)
    body = agreement_state_json(agreement)
    body["submissions"] = [submission_json(s) for s in services.submissions_for(db.session, agreement)]
    return jsonify(body)


@bp.post("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/signature")
def upload_signature(agreement_id: int, signatory_id: int):
    actor = acting_user()
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid("Send the signed copy as multipart/form-data with a 'file' part.", field="file", code="missing_field")
    form_fields({"signed_at", "method"})
    unknown = sorted(set(request.files) - {"file"})
    if unknown:
        raise Invalid(f"Unknown file part: {unknown[0]}; send the signed copy as 'file'.", field=unknown[0], code="unknown_field")
    part = request.files.get("file")
    outcome = services.record_signature(
        db.session, actor, agreement_id, signatory_id,
        stream=part.stream if part is not None and (part.filename or part.content_length) else None,
        filename=part.filename if part is not None else "", method=request.form.get("method"),
        signed_at=request.form.get("signed_at"),
    )
    db.session.commit()  # an invalid submission is kept on record, then refused
    if not outcome.is_valid:
        raise Invalid(
            "The signature is not valid: " + "; ".join(outcome.reasons) + ".", field="file", code="signature_invalid",
            reasons=outcome.reasons, submission=submission_json(outcome.submission),
        )
    return jsonify({
        "signatory": signatory_json(outcome.signatory), "submission": submission_json(outcome.submission),
        "agreement": agreement_state_json(outcome.agreement),
    }), 201


@bp.post("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/decline")
def decline_signature(agreement_id: int, signatory_id: int):
    actor = acting_user()
    data = json_body({"reason"}, required={"reason"})
    signatory = services.decline(db.session, actor, agreement_id, signatory_id, data["reason"])
    db.session.commit()
    return jsonify({"signatory": signatory_json(signatory), "agreement": agreement_state_json(signatory.agreement)})


@bp.get("/agreements/<int:agreement_id>/certificate.pdf")
def certificate(agreement_id: int):
    agreement, sha256 = services.certificate_blob(db.session, acting_user(), agreement_id)
    return pdf_download(sha256, f"agreement-{agreement.id}-certificate.pdf")


@bp.get("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/submissions/<int:submission_id>/content")
def submission_content(agreement_id: int, signatory_id: int, submission_id: int):
    submission = services.get_submission(db.session, acting_user(), agreement_id, signatory_id, submission_id)
    response = send_file(
        current_store().path(submission.sha256), mimetype=submission.content_type, as_attachment=True,
        download_name=submission.filename or f"signature-{submission.id}", etag=submission.sha256, max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def pdf_download(sha256: str, name: str):
    response = send_file(
        current_store().path(sha256), mimetype="application/pdf", as_attachment=True, download_name=name,
        etag=sha256, max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/stats")
def stats():
    actor = acting_user()
    return jsonify(reports.task_force_figures(db.session, actor, int_arg("session_id")))
