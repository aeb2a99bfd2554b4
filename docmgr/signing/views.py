"""``/sign/TOKEN``: the signatory's page, no account needed. First a one-time code e-mailed to them,
then the frozen PDF and its SHA-256. A link that cannot be used says why, in the holder's language."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

import docmgr.signing.notifications as notifications
import docmgr.signing.services as services
from docmgr.drafting.models import Agreement, Signatory
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.signatures import electronic
from docmgr.signatures.services import pending_review
from docmgr.web import form_error

bp = Blueprint("signing", __name__)
_VERIFIED_KEY = "signing_verified"


def _verified(link_id: int) -> bool:
    return link_id in session.get(_VERIFIED_KEY, [])


def _refusal(state: str):
    return render_template("signing/refused.html", state=state), 404 if state == "unknown" else 410


@bp.get("/sign/<token>")
def page(token: str):
    link, state = services.resolve(db.session, token)
    if state != "ok":
        return _refusal(state)
    agreement = db.session.get(Agreement, link.agreement_id)
    signatory = db.session.get(Signatory, link.signatory_id)
    response = render_template("signing/page.html", token=token, link=link, agreement=agreement,
                               signatory=signatory, verified=_verified(link.id),
                               code_sent=link.code_expires_at is not None,
                               awaiting_review=pending_review(db.session, signatory) is not None)
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/sign/<token>/code")
def send_code(token: str):
    link, state = services.resolve(db.session, token)
    if state != "ok":
        return _refusal(state)
    services.send_code(db.session, link)
    db.session.commit()
    flash(_("A one-time code was sent to your e-mail address."), "success")
    return redirect(url_for("signing.page", token=token))


@bp.post("/sign/<token>/verify")
def verify(token: str):
    link, state = services.resolve(db.session, token)
    if state != "ok":
        return _refusal(state)
    accepted = services.check_code(db.session, link, request.form.get("code", ""))
    db.session.commit()
    if accepted:
        session[_VERIFIED_KEY] = [*session.get(_VERIFIED_KEY, [])[-9:], link.id]
        return redirect(url_for("signing.page", token=token))
    if link.locked_at is not None:
        return _refusal("locked")
    left = int(current_app.config["SIGNING_CODE_TRIES"]) - link.failed_codes
    flash(_("The code is wrong or has expired. Tries left: %(left)s.", left=left), "error")
    return redirect(url_for("signing.page", token=token)), 303


@bp.get("/sign/<token>/document.pdf")
def document(token: str):
    link, state = services.resolve(db.session, token)
    if state != "ok":
        return _refusal(state)
    if not _verified(link.id):
        abort(403)
    agreement = db.session.get(Agreement, link.agreement_id)
    data = current_app.extensions["docmgr.store"].read(agreement.frozen_pdf_sha256)
    return data, 200, {"Content-Type": "application/pdf", "Cache-Control": "no-store",
                       "Content-Disposition": f'inline; filename="agreement-{agreement.id}.pdf"'}


def _verified_link(token: str):
    link, state = services.resolve(db.session, token)
    if state != "ok":
        return None, _refusal(state)
    if not _verified(link.id):
        flash(_("Confirm it is you"), "error")
        return None, redirect(url_for("signing.page", token=token))
    return link, None


def _client() -> dict[str, str]:
    return {"ip": request.remote_addr or "", "user_agent": request.headers.get("User-Agent", "")}


@bp.post("/sign/<token>/upload")
def upload(token: str):
    link, refused = _verified_link(token)
    if refused is not None:
        return refused
    upload_file = request.files.get("file")
    try:
        outcome = services.upload_via_link(
            db.session, link, stream=upload_file.stream if upload_file else None,
            filename=upload_file.filename if upload_file else "", method=request.form.get("method"), **_client())
        db.session.commit()  # a refused signature is kept as a submission, like on the signature page
    except DocmgrError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("signing.page", token=token), 303)
    if not outcome.is_valid:
        flash(_("The signature was not accepted: %(reasons)s", reasons="; ".join(outcome.reasons)), "error")
        return redirect(url_for("signing.page", token=token), 303)
    return render_template("signing/done.html", agreement=outcome.agreement, declined=False,
                           pending_review=outcome.pending_review)


@bp.post("/sign/<token>/decline")
def decline(token: str):
    link, refused = _verified_link(token)
    if refused is not None:
        return refused
    try:
        signatory = services.decline_via_link(db.session, link, request.form.get("reason"), **_client())
        db.session.commit()
    except DocmgrError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("signing.page", token=token), 303)
    return render_template("signing/done.html", agreement=signatory.agreement, declined=True)


@bp.post("/sign/<token>/sign")
def sign(token: str):
    """Sign in the browser: the name confirmed, a typed or drawn signature, consent; docmgr seals the PDF."""
    link, refused = _verified_link(token)
    if refused is not None:
        return refused
    form, client = request.form, _client()
    agreement_id, signatory_id = link.agreement_id, link.signatory_id
    try:
        actor = services.link_actor(db.session, link, **client)
        outcome = electronic.sign_in_browser(
            db.session, actor, agreement_id, signatory_id, confirmed_name=form.get("name", ""),
            typed=form.get("typed_signature"), drawing=electronic.drawing_from_data_url(form.get("drawing")),
            consent=form.get("consent") == "yes", language=str(get_locale() or ""), **client)
        services.record_via_link(db.session, link, actor, "electronic_signature",
                                 submission_id=outcome.submission.id, sha256=outcome.submission.sha256)
        db.session.commit()
    except DocmgrError as error:
        db.session.rollback()
        link, state = services.resolve(db.session, token)
        if link is not None:  # the refusal is audited; nothing else changed
            electronic.record_refusal(db.session, services.link_holder(db.session, link, **client),
                                      agreement_id, signatory_id, error.code)
            db.session.commit()
        return render_template("signing/page.html", token=token, link=link, agreement=db.session.get(Agreement, agreement_id),
                               signatory=db.session.get(Signatory, signatory_id), verified=True, code_sent=False,
                               error=form_error(error), form=form), error.status
    return render_template("signing/done.html", agreement=outcome.agreement, declined=False)


@bp.get("/executed/<token>")
def executed_file(token: str):
    """A file of an executed agreement linked from its completion mail (too large to attach): the
    signed link is the permission, for recipients without an account."""
    found = notifications.resolve_download(db.session, token)
    if found is None:
        return _refusal("expired")
    _agreement, item = found
    data = current_app.extensions["docmgr.store"].read(item["sha256"])
    return data, 200, {"Content-Type": item["content_type"], "Cache-Control": "no-store",
                       "Content-Disposition": f'attachment; filename="{item["filename"]}"'}
