"""Pages: the dashboard, an agreement's signatures and audit trail, and the forms that act on them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from docmgr.database import utcnow
from docmgr.drafting.models import Agreement
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.signatures import electronic, reports, services
from docmgr.signatures.api import evidence as evidence_download
from docmgr.signatures.api import pdf_download, submission_content
from docmgr.signatures.forms import DeclineForm, SignatureForm, TransitionForm
from docmgr.signatures.inbox import build_inbox
from docmgr.vocab import AGREEMENT_STATUS_LABELS, REVIEW_STATUS_LABELS, ReviewStatus
from docmgr.web import form_error

bp = Blueprint("signatures", __name__)

TRANSITION_LABELS = {
    "in_review": _l("Submit for review"),
    "draft": _l("Back to draft for changes"),
    "approved": _l("Approve"),
    "out_for_signature": _l("Send out for signature"),
    "withdrawn": _l("Withdraw"),
    "expired": _l("Mark as expired"),
}
SIGNATORY_LABELS = {"pending": _l("Waiting"), "signed": _l("Signed"), "declined": _l("Declined")}
METHOD_LABELS = {"wet_ink": _l("Wet ink (scan)"), "digital": _l("Digital (signed PDF)"),
                 "electronic": _l("Electronic (signed in docmgr, sealed)")}
SERIES_LABELS = {
    "proposals": _l("Proposals"),
    "partnership_projects": _l("Partnership projects"),
    "agreements_signed": _l("Agreements signed"),
}


def _actor():
    return current_user._get_current_object()


def panel_context(agreement: Agreement) -> dict:
    """What ``signatures/_agreement_panel.html`` shows for one agreement, for the current user."""
    actor = _actor()
    _, events = services.agreement_events(db.session, actor, agreement.id)
    submissions = services.submissions_for(db.session, agreement)
    return {
        "options": services.transition_options(db.session, actor, agreement),
        "submissions": submissions,
        "events": events,
        # Staff record for any signatory; a firm user acts on the row that names them (their e-mail) only.
        "may_sign_for": lambda signatory: (services.may_sign_for(actor, signatory) if services.is_staff(actor)
                                           else electronic.is_named_signatory(actor, signatory)),
        "may_sign_in_browser": lambda signatory: electronic.may_sign_in_browser(actor, signatory),
        "verification_of": services.verification_of,
        "signing_open": agreement.status in ("out_for_signature", "partially_signed"),
        "awaiting_review": {sub.signatory_id for sub in submissions if sub.review_status == ReviewStatus.PENDING.value},
    }


@bp.app_context_processor
def _template_helpers() -> dict:
    return {
        "signature_panel": panel_context, "now_utc": utcnow, "LIFECYCLE_STATUS_LABELS": AGREEMENT_STATUS_LABELS,
        "TRANSITION_LABELS": TRANSITION_LABELS, "SIGNATORY_LABELS": SIGNATORY_LABELS, "METHOD_LABELS": METHOD_LABELS,
        "UPLOAD_METHODS": services.METHODS, "SIGN_CONSENT_TEXT": electronic.CONSENT_TEXT,
        "REVIEW_STATUS_LABELS": REVIEW_STATUS_LABELS, "REVIEW_REASON_MAX": services.REVIEW_REASON_MAX,
    }


def _agreement_page(agreement_id: int, error: dict | None = None, status: int = 200):
    agreement = services.get_agreement(db.session, _actor(), agreement_id)
    return render_template("signatures/agreement.html", agreement=agreement, error=error), status


def _back_to_agreement(agreement_id: int):
    """After a form succeeds: the agreement's page of the drafting module, which shows this panel."""
    return redirect(url_for("drafting.detail", agreement_id=agreement_id) + "#signatures")


def _after_failure(agreement_id: int, exc: DocmgrError):
    db.session.rollback()
    if exc.status == 404:
        raise exc
    return _agreement_page(agreement_id, form_error(exc), exc.status)


@bp.get("/dashboard")
@login_required
def dashboard():
    session_id = request.args.get("session_id", type=int)
    data = reports.dashboard(db.session, _actor(), session_id)
    return render_template("signatures/dashboard.html", series_labels=SERIES_LABELS, **data)


@bp.get("/agreements/<int:agreement_id>/signatures")
@login_required
def agreement(agreement_id: int):
    return _agreement_page(agreement_id)


@bp.post("/agreements/<int:agreement_id>/signatures/transition")
@login_required
def transition(agreement_id: int):
    form = TransitionForm()
    if not form.validate():
        return _agreement_page(agreement_id, form.page_errors(), 422)
    try:
        agreement = services.transition(
            db.session, _actor(), agreement_id, form.to.data, reason=form.reason.data, due_at=form.due_at.data,
        )
        db.session.commit()
    except DocmgrError as exc:
        return _after_failure(agreement_id, exc)
    flash(_("The agreement is now: %(status)s.", status=AGREEMENT_STATUS_LABELS.get(agreement.status, agreement.status)), "success")
    return _back_to_agreement(agreement_id)


@bp.post("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/signature")
@login_required
def upload_signature(agreement_id: int, signatory_id: int):
    part, detached = request.files.get("file"), request.files.get("signature")
    has_detached = detached is not None and bool(detached.filename)
    form = SignatureForm()
    form.validate()  # nothing to refuse here: the service checks the method, date and files
    try:
        outcome = services.record_signature(
            db.session, _actor(), agreement_id, signatory_id,
            stream=part.stream if part is not None and part.filename else None,
            filename=part.filename if part is not None else "", method=form.method.data,
            signed_at=form.signed_at.data,
            signature_stream=detached.stream if has_detached else None,
            signature_filename=detached.filename if has_detached else "",
            shared_counterpart=form.shared_counterpart.data,
        )
        db.session.commit()  # a refused digital signature stays on record
    except DocmgrError as exc:
        return _after_failure(agreement_id, exc)
    if not outcome.is_valid:
        message = _("The signature is not valid: %(reasons)s.", reasons="; ".join(outcome.reasons))
        return _agreement_page(agreement_id, {"field": "file", "message": message, "code": "signature_invalid"}, 422)
    flash(services.outcome_message(outcome), "success")
    return _back_to_agreement(agreement_id)


@bp.post("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/submissions/<int:submission_id>/review")
@login_required
def review_submission(agreement_id: int, signatory_id: int, submission_id: int):
    """Legal accept or reject a wet-ink scan waiting for review (the same service as the API)."""
    form = request.form
    try:
        outcome = services.review_submission(db.session, _actor(), agreement_id, signatory_id, submission_id,
                                             form.get("decision"), form.get("reason"))
        db.session.commit()
    except DocmgrError as exc:
        return _after_failure(agreement_id, exc)
    if outcome.submission.review_status == ReviewStatus.ACCEPTED.value:
        flash(_("The scan of %(name)s was accepted: it counts as their signature.", name=outcome.signatory.name),
              "success")
    else:
        flash(_("The scan of %(name)s was rejected; they are told why and may upload again.",
                name=outcome.signatory.name), "success")
    return _back_to_agreement(agreement_id)


@bp.post("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/sign")
@login_required
def sign_in_browser(agreement_id: int, signatory_id: int):
    """A firm user named as the signatory signs in the browser (docmgr.signatures.electronic)."""
    form = request.form
    client = {"ip": request.remote_addr or "", "user_agent": request.headers.get("User-Agent", "")}
    try:
        outcome = electronic.sign_in_browser(
            db.session, _actor(), agreement_id, signatory_id, confirmed_name=form.get("name", ""),
            typed=form.get("typed_signature"), drawing=electronic.drawing_from_data_url(form.get("drawing")),
            consent=form.get("consent") == "yes", language=str(get_locale() or ""), **client)
        db.session.commit()
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise exc
        if exc.status == 422:  # the named signatory's bad input is audited (a refusal of the wrong person is not theirs)
            electronic.record_refusal(db.session, _actor(), agreement_id, signatory_id, exc.code, **client)
            db.session.commit()
        return _agreement_page(agreement_id, form_error(exc), exc.status)
    flash(_("%(name)s signed electronically; the sealed PDF is recorded.", name=outcome.signatory.name), "success")
    return _back_to_agreement(agreement_id)


@bp.post("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/decline")
@login_required
def decline(agreement_id: int, signatory_id: int):
    try:
        signatory = services.decline(db.session, _actor(), agreement_id, signatory_id, DeclineForm().reason.data)
        db.session.commit()
    except DocmgrError as exc:
        return _after_failure(agreement_id, exc)
    flash(_("%(name)s declined; the agreement is declined.", name=signatory.name), "success")
    return _back_to_agreement(agreement_id)


@bp.get("/agreements/<int:agreement_id>/signatures/certificate.pdf")
@login_required
def certificate(agreement_id: int):
    agreement, sha256 = services.certificate_blob(db.session, _actor(), agreement_id)
    return pdf_download(sha256, f"agreement-{agreement.id}-certificate.pdf")


@bp.get("/agreements/<int:agreement_id>/signatures/evidence.zip")
@login_required
def evidence(agreement_id: int):
    return evidence_download(agreement_id)


@bp.route("/verify", methods=["GET", "POST"])
@login_required
def verify():
    """Upload any file (a PDF, a .p7m, or a PDF with its .sig/.p7s): does it match an executed agreement
    the user may see, and what do its signatures say."""
    result, error, status = None, None, 200
    if request.method == "POST":
        part, detached = request.files.get("file"), request.files.get("signature")
        try:
            result = services.verify_upload(
                db.session, _actor(), stream=part.stream if part is not None and part.filename else None,
                filename=part.filename if part is not None else "",
                signature_stream=detached.stream if detached is not None and detached.filename else None,
                signature_filename=detached.filename if detached is not None and detached.filename else "",
            )
        except DocmgrError as exc:
            error, status = form_error(exc), exc.status
    return render_template("signatures/verify.html", result=result, error=error), status


@bp.get("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/submissions/<int:submission_id>")
@login_required
def submission(agreement_id: int, signatory_id: int, submission_id: int):
    return submission_content(agreement_id, signatory_id, submission_id)


def _review_png(agreement_id: int, signatory_id: int, submission_id: int, side: str):
    path = services.review_image(db.session, _actor(), agreement_id, signatory_id, submission_id, side)
    response = send_file(path, mimetype="image/png", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/submissions/<int:submission_id>/review-scan.png")
@login_required
def review_scan(agreement_id: int, signatory_id: int, submission_id: int):
    """The scan, as an image beside the signature page (legal compares them)."""
    return _review_png(agreement_id, signatory_id, submission_id, "scan")


@bp.get("/agreements/<int:agreement_id>/signatures/<int:signatory_id>/submissions/<int:submission_id>/review-page.png")
@login_required
def review_page(agreement_id: int, signatory_id: int, submission_id: int):
    """The frozen final draft's signature (last) page, as an image beside a scan."""
    return _review_png(agreement_id, signatory_id, submission_id, "page")


INBOX_REASON_LABELS = {
    "review": _l("in review: yours to approve"),
    "waiting_approval": _l("in review: waiting for a colleague's approval"),
    "ready_to_send": _l("approved: ready to go out for signature"),
    "sign_by_passed": _l("the sign-by date has passed"),
    "waiting_too_long": _l("out for signature for too long"),
    "declined": _l("declined"),
    "scan_review": _l("a wet-ink scan waits for your review"),
}


@bp.get("/inbox")
@login_required
def inbox():
    """The landing page of legal staff: what waits for them."""
    return render_template("signatures/inbox.html", inbox=build_inbox(db.session, _actor()),
                           reason_labels=INBOX_REASON_LABELS)
