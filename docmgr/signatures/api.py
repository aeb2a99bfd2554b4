"""/api/v1 endpoints of the signatures module: transitions, signatures, declines, the certificate
and the task-force figures."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask import Blueprint, jsonify, request, send_file
from flask_babel import gettext

from docmgr.api import acting_user, documented, form_fields, int_arg, json_body
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.signatures import reports, services
from docmgr.signatures import serializers as ser
from docmgr.signatures.inbox import build_inbox
from docmgr.storage import current_store

bp = Blueprint("signatures_api", __name__)


AGREEMENT_STATE = ser.AgreementStateSchema()
SUBMISSION = ser.SubmissionSchema()


def _parse_due_at(raw) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(gettext("'due_at' must be an ISO 8601 date and time."), field="due_at") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.post("/agreements/<int:agreement_id>/transitions")
@documented({200: ser.AgreementStateSchema}, body=ser.TransitionRequest, errors=(409,),
            error_schemas={409: ser.TransitionRefusalSchema})
def create_transition(agreement_id: int):
    actor = acting_user()
    data = json_body(ser.TransitionRequest)
    for name in ("to", "reason", "due_at"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise Invalid(gettext("'%(name)s' must be a string.", name=name), field=name)
    agreement = services.transition(
        db.session, actor, agreement_id, data["to"], reason=data.get("reason"), due_at=_parse_due_at(data.get("due_at"))
    )
    db.session.commit()
    return jsonify(AGREEMENT_STATE.dump(agreement))


@bp.get("/agreements/<int:agreement_id>/signatures")
@documented({200: ser.SignatureStateSchema})
def signature_state(agreement_id: int):
    """Status, signatories with their verification, and every submission (refused ones included)."""
    agreement = services.get_agreement(db.session, acting_user(), agreement_id)
    return jsonify(ser.SignatureStateSchema().dump(agreement))


@bp.post("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/signature")
@documented({201: ser.SignatureResultSchema, 202: ser.SignatureResultSchema}, form=ser.SignatureForm,
            errors=(409, 413, 415), error_schemas={422: ser.SignatureRefusalSchema})
def upload_signature(agreement_id: int, signatory_id: int):
    actor = acting_user()
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid(gettext("Send the signed copy as multipart/form-data with a 'file' part."), field="file", code="missing_field")
    form_fields(ser.SignatureForm)
    unknown = sorted(set(request.files) - {"file", "signature"})
    if unknown:
        raise Invalid(gettext("Unknown file part: %(unknown)s; send the signed copy as 'file' (and a detached signature as 'signature').", unknown=unknown[0]), field=unknown[0], code="unknown_field")
    part, detached = request.files.get("file"), request.files.get("signature")
    outcome = services.record_signature(
        db.session, actor, agreement_id, signatory_id,
        stream=part.stream if part is not None and (part.filename or part.content_length) else None,
        filename=part.filename if part is not None else "", method=request.form.get("method"),
        signed_at=request.form.get("signed_at"),
        signature_stream=detached.stream if detached is not None else None,
        signature_filename=detached.filename or "" if detached is not None else "",
        shared_counterpart=request.form.get("shared_counterpart"),
    )
    db.session.commit()  # an invalid submission is kept on record, then refused
    if not outcome.is_valid:
        raise Invalid(
            gettext("The signature is not valid: %(reasons)s.", reasons="; ".join(outcome.reasons)), field="file",
            code="signature_invalid",
            reasons=outcome.reasons, submission=SUBMISSION.dump(outcome.submission),
        )
    # 202: a scan from a link holder or a firm user waits for legal's review (it does not count yet).
    return jsonify(ser.SignatureResultSchema().dump(outcome)), 202 if outcome.pending_review else 201


@bp.post("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/submissions/<int:submission_id>/review")
@documented({200: ser.ReviewResultSchema}, body=ser.ReviewRequest, errors=(409,))
def review_submission(agreement_id: int, signatory_id: int, submission_id: int):
    """Legal staff accept a wet-ink scan waiting for review (it counts as the signature) or reject it with
    a reason (the signatory is told why and may upload again)."""
    actor = acting_user()
    try:
        data = json_body(ser.ReviewRequest)
    except Invalid as error:  # every wrong field named in error.fields, as the service does
        raise Invalid(error.message, field=error.field, code=error.code,
                      fields={error.field: error.message}) from None
    outcome = services.review_submission(db.session, actor, agreement_id, signatory_id, submission_id,
                                         data.get("decision"), data.get("reason"))
    db.session.commit()
    return jsonify(ser.ReviewResultSchema().dump(outcome))


@bp.post("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/decline")
@documented({200: ser.DeclineResultSchema}, body=ser.DeclineRequest, errors=(409,))
def decline_signature(agreement_id: int, signatory_id: int):
    actor = acting_user()
    data = json_body(ser.DeclineRequest)
    signatory = services.decline(db.session, actor, agreement_id, signatory_id, data["reason"])
    db.session.commit()
    return jsonify(ser.DeclineResultSchema().dump({"signatory": signatory, "agreement": signatory.agreement}))


@bp.get("/agreements/<int:agreement_id>/certificate.pdf")
@documented({200: "application/pdf"})
def certificate(agreement_id: int):
    agreement, sha256 = services.certificate_blob(db.session, acting_user(), agreement_id)
    return pdf_download(sha256, f"agreement-{agreement.id}-certificate.pdf")


@bp.post("/verify")
@documented({200: ser.VerifyResultSchema}, form=ser.VerifyForm, errors=(413, 415))
def verify_file():
    """What an uploaded file is and what its signatures say (multipart 'file', optional 'signature')."""
    actor = acting_user()
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid(gettext("Send the file as multipart/form-data with a 'file' part."), field="file", code="missing_field")
    form_fields(ser.VerifyForm)
    unknown = sorted(set(request.files) - {"file", "signature"})
    if unknown:
        raise Invalid(gettext("Unknown file part: %(unknown)s.", unknown=unknown[0]), field=unknown[0], code="unknown_field")
    part, detached = request.files.get("file"), request.files.get("signature")
    return jsonify(ser.VerifyResultSchema().dump(services.verify_upload(
        db.session, actor, stream=part.stream if part is not None and part.filename else None,
        filename=part.filename if part is not None else "",
        signature_stream=detached.stream if detached is not None else None,
        signature_filename=detached.filename or "" if detached is not None else "",
    )))


@bp.get("/agreements/<int:agreement_id>/evidence")
@documented({200: "application/zip"})
def evidence(agreement_id: int):
    """The evidence package (ZIP) of an executed agreement."""
    agreement, package = services.evidence_package(db.session, acting_user(), agreement_id)
    response = send_file(io.BytesIO(package), mimetype="application/zip", as_attachment=True,
                         download_name=f"agreement-{agreement.id}-evidence.zip", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/submissions/<int:submission_id>/content")
@documented({200: ("application/pdf", "image/png", "image/jpeg", "application/pkcs7-mime")})
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
@documented({200: ser.FiguresSchema}, query=ser.FiguresQuery)
def stats():
    actor = acting_user()
    return jsonify(ser.FiguresSchema().dump(reports.task_force_figures(db.session, actor, int_arg("session_id"))))


@bp.get("/inbox")
@documented({200: ser.InboxSchema})
def inbox():
    """What waits for the caller (legal staff and administrators): drafts to review, approvals waiting,
    overdue signatures and declines (docmgr.signatures.inbox)."""
    return jsonify(ser.InboxSchema().dump(build_inbox(db.session, acting_user())))
