"""Signatures: lifecycle requests, recording and verifying signed copies, declines, the executed
copy and the completion certificate.

Who may do what (the rules live here, the views only call in):

* reading an agreement's signatures, audit trail and certificate: whoever may read the agreement
  (legal, admin, ministry; firm users of a party). Anyone else gets 404, as if it did not exist;
* lifecycle transitions: legal staff and administrators (403 for the ministry and firms);
* recording a signature or a decline: legal staff and administrators for any signatory, and firm
  users for the signatories of *their own* organisation (403 for another party's signatory);
  the ministry never (403).
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app, render_template
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from docmgr.accounts.models import User
from docmgr.accounts.permissions import is_staff, may_sign_for, require_can_sign_for, require_staff  # noqa: F401 - may_sign_for: the pages ask here
from docmgr.audit.models import AuditEvent
from docmgr.audit.services import record
from docmgr.database import release_read_transaction, utcnow
from docmgr.documents.models import DocumentFile
from docmgr.documents.previews import PreviewFailed, RenderError, cached_page_path, render_kind, render_page
from docmgr.documents.sandbox import SandboxLimits
from docmgr.documents.services import Upload, create_document, display_filename, seal_document, share_document
from docmgr.drafting.models import Agreement, AgreementStatus, Signatory, SignatoryStatus
from docmgr.drafting.services import can_read_agreement, get_agreement  # noqa: F401 - one visibility rule, re-exported
from docmgr.errors import Conflict, Invalid, NotFound, TooLarge, UnsupportedType
from docmgr.pdf import html_to_pdf
from docmgr.signatures import checking, lifecycle, trust
from docmgr.signatures.evidence import build_package
from docmgr.signatures.lifecycle import SIGNING_STATUSES, TransitionContext
from docmgr.signatures.models import SignatureSubmission
from docmgr.storage import current_store, store_bytes
from docmgr.vocab import COUNTING_REVIEW_STATUSES, REVIEW_DECISIONS, ReviewStatus

METHODS = ("wet_ink", "digital")
# "electronic": signed in the browser and sealed by docmgr (docmgr.signatures.seal); never uploaded as such.
ALL_METHODS = (*METHODS, "electronic")
# The longest reason legal may give for rejecting a scan.
REVIEW_REASON_MAX = 2000
# A client's clock may run a little ahead of ours; a signing time further in the future is refused.
CLOCK_SKEW = timedelta(minutes=5)


# --- who acts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatoryActor:
    """The holder of a signing link, acting as *that signatory* (no account): only on their own row.

    ``sender`` is the legal officer who sent the invitation; it is used only for the follow-up work
    that needs an account (filing the executed copy), never named as the one who signed or declined."""

    signatory_id: int
    agreement_id: int
    link_id: int | None
    ip: str = ""
    user_agent: str = ""
    code_verified_at: datetime | None = None
    sender: User | None = None

    def audit(self) -> dict[str, Any]:
        return {"actor_kind": "signatory", "actor_signatory_id": self.signatory_id, "link_id": self.link_id,
                "ip": self.ip, "user_agent": self.user_agent[:300],
                "code_verified_at": self.code_verified_at.isoformat() if self.code_verified_at else None}


Actor = User | SignatoryActor


def acting_user(actor: Actor) -> User | None:
    """The account behind an action (None for a link holder)."""
    return None if isinstance(actor, SignatoryActor) else actor


def actor_audit(actor: Actor) -> dict[str, Any]:
    """What the audit entry adds about who acted (the account is the entry's actor; a signatory is named here)."""
    return actor.audit() if isinstance(actor, SignatoryActor) else {}


def _check_signer(actor: Actor, signatory: Signatory) -> None:
    if isinstance(actor, SignatoryActor):
        if actor.signatory_id != signatory.id:
            raise NotFound(gettext("No such signatory on this agreement."), code="signatory_not_found")
        return
    require_can_sign_for(actor, signatory)


# --- reading -------------------------------------------------------------------------------------


def get_signatory(session: Session, actor: Actor, agreement_id: int, signatory_id: int) -> Signatory:
    if isinstance(actor, SignatoryActor):  # a link holder sees their own row only
        signatory = session.get(Signatory, signatory_id)
        if signatory is None or (signatory.id, signatory.agreement_id) != (actor.signatory_id, actor.agreement_id) \
                or agreement_id != actor.agreement_id:
            raise NotFound(gettext("No such signatory on this agreement."), code="signatory_not_found")
        return signatory
    agreement = get_agreement(session, actor, agreement_id)
    signatory = session.get(Signatory, signatory_id)
    if signatory is None or signatory.agreement_id != agreement.id:
        raise NotFound(gettext("No such signatory on this agreement."), code="signatory_not_found")
    return signatory


def _locked(session: Session, agreement: Agreement) -> Agreement:
    """Re-read the agreement under a row lock, so two signatures arriving together cannot both see
    the other one pending (on SQLite the write transaction already serialises writers; FOR UPDATE
    matters on other databases)."""
    session.refresh(agreement, with_for_update=True)
    return agreement


def submissions_for(session: Session, agreement: Agreement) -> list[SignatureSubmission]:
    return list(
        session.scalars(
            select(SignatureSubmission)
            .where(SignatureSubmission.agreement_id == agreement.id)
            .order_by(SignatureSubmission.id)
        )
    )


def verification_of(signatory: Signatory | SignatureSubmission) -> dict[str, Any] | None:
    raw = signatory.verification_json
    return json.loads(raw) if raw else None


# --- lifecycle -----------------------------------------------------------------------------------


def transition(
    session: Session, actor: User, agreement_id: int, to: str, *, reason: str | None = None,
    due_at: datetime | None = None,
) -> Agreement:
    """A legal officer's request to move an agreement; 409 ``transition_not_allowed`` with the reason."""
    agreement = get_agreement(session, actor, agreement_id)
    require_staff(actor)
    _locked(session, agreement)
    if to not in lifecycle.STATUSES:
        raise Invalid(gettext("'to' must be one of %(value)s.", value=', '.join(lifecycle.STATUSES)), field="to")
    if reason is not None and len(reason) > 2000:
        raise Invalid(gettext("The reason is limited to 2000 characters."), field="reason")
    if due_at is not None:
        if to != AgreementStatus.OUT_FOR_SIGNATURE.value:
            raise Invalid(gettext("'due_at' is only accepted when sending out for signature."), field="due_at")
        if due_at <= utcnow():
            raise Invalid(gettext("'due_at' must be in the future."), field="due_at")
    ctx = TransitionContext(session, actor, agreement, reason=(reason or "").strip() or None, due_at=due_at)
    lifecycle.apply_transition(ctx, to)
    session.flush()
    return agreement


@dataclass
class TransitionOption:
    target: str
    refusal: str | None  # None: allowed now


def transition_options(session: Session, actor: User, agreement: Agreement) -> list[TransitionOption]:
    """What a legal officer could request now, with the reason when a guard refuses (for the page)."""
    if not is_staff(actor):
        return []
    options = []
    for target in lifecycle.manual_targets(agreement.status):
        _, refusal = lifecycle.check_transition(TransitionContext(session, actor, agreement), target)
        options.append(TransitionOption(target, refusal.message if refusal else None))
    return options


# --- signatures ----------------------------------------------------------------------------------


def pending_review(session: Session, signatory: Signatory) -> SignatureSubmission | None:
    """The signatory's wet-ink scan waiting for legal's review, if any."""
    return session.scalar(select(SignatureSubmission).where(
        SignatureSubmission.signatory_id == signatory.id,
        SignatureSubmission.review_status == ReviewStatus.PENDING.value).order_by(SignatureSubmission.id).limit(1))


def needs_review(actor: Actor, method: str) -> bool:
    """A wet-ink scan counts only once legal accepted it, unless legal staff record it themselves."""
    return method == "wet_ink" and not (isinstance(actor, User) and is_staff(actor))


def _require_signing_open(agreement: Agreement, signatory: Signatory, *, signing: bool = True) -> None:
    """Open for this signatory; ``signing``: and it is their turn, and no scan of theirs awaits review
    (a decline is taken at any step, and while a scan waits)."""
    if agreement.status not in SIGNING_STATUSES:
        raise Conflict(
            gettext("The agreement is %(status)s; signatures are accepted only while it is out for signature.",
                    status=agreement.status),
            code="not_out_for_signature",
        )
    if signatory.status != SignatoryStatus.PENDING.value:
        raise Conflict(
            gettext("%(name)s has already signed.", name=signatory.name) if signatory.status == SignatoryStatus.SIGNED.value
            else gettext("%(name)s has already declined.", name=signatory.name),
            code=f"signatory_{signatory.status}",
        )
    if signing and not lifecycle.has_turn(agreement, signatory):
        raise Conflict(
            gettext("%(name)s signs at step %(step)s; the signatories of step %(current)s sign first.",
                    name=signatory.name, step=signatory.order, current=lifecycle.current_step(agreement)),
            code="not_signatory_turn",
        )
    if signing and pending_review(object_session(signatory), signatory) is not None:
        raise Conflict(
            gettext("A scan of %(name)s's signature is waiting for the legal office's review: nothing more can be "
                    "submitted until it is accepted or rejected (declining is still possible).", name=signatory.name),
            code="review_pending",
        )


def parse_signed_at(raw: str | None, agreement: Agreement) -> datetime:
    """ISO 8601; naive times are UTC. Not in the future, not before the agreement went out."""
    now = utcnow()
    if raw in (None, ""):
        return now
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise Invalid(gettext("'signed_at' must be an ISO 8601 date and time, e.g. 2014-04-16T10:30:00Z."), field="signed_at") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value > now + CLOCK_SKEW:
        raise Invalid(gettext("'signed_at' cannot be in the future."), field="signed_at")
    sent = agreement.sent_for_signature_at
    if sent is not None and value < sent - CLOCK_SKEW:
        raise Invalid(
            gettext("'signed_at' cannot be before the agreement went out for signature (%(sent)s).",
                    sent=sent.isoformat()),
            field="signed_at",
        )
    return value


def _read_limited(stream: BinaryIO, filename: str) -> bytes:
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            gettext("%(name)s is larger than the limit of %(mb)s MB.", name=filename,
                    mb=f"{current_app.config['MAX_UPLOAD_MB']:g}"),
            field="file",
        )
    return data


@dataclass
class SignatureOutcome:
    submission: SignatureSubmission
    signatory: Signatory
    agreement: Agreement
    is_valid: bool
    reasons: list[str]

    @property
    def pending_review(self) -> bool:
        """A valid scan kept for legal's review: it does not count yet."""
        return self.submission.review_status == ReviewStatus.PENDING.value


def record_signature(
    session: Session,
    actor: Actor,
    agreement_id: int,
    signatory_id: int,
    *,
    stream: BinaryIO | None,
    filename: str = "",
    method: str | None,
    signed_at: str | None = None,
    signature_stream: BinaryIO | None = None,
    signature_filename: str = "",
    shared_counterpart: bool | str | None = False,
) -> SignatureOutcome:
    """Record a signed copy for a signatory.

    Wet-ink: a scan (PDF, PNG or JPEG) is kept as the signatory's signed copy. Digital: a PAdES-signed
    PDF, a CAdES/GOST ``.p7m`` (attached), or the PDF with a detached ``.p7s``/``.sig`` as
    ``signature_stream``, verified in the limited child (see :mod:`docmgr.signatures.checking`). An
    invalid digital signature is *kept* as a submission and returned with ``is_valid=False``: the caller
    commits, then answers 422, so the record of the refused attempt survives. Every other refusal raises
    before anything is stored.

    A wet-ink scan submitted by a link holder or a firm user is kept with ``review_status=pending`` and
    does not count yet (:func:`review_submission`); one recorded by legal staff counts at once (they are
    the reviewer). The outcome's ``pending_review`` says which.

    The same file (SHA-256) already accepted for another signatory of the agreement is refused (409
    ``duplicate_signature_file``) unless legal staff record it as one counterpart signed by several
    signatories (``shared_counterpart=true``; audited).
    """
    shared = _checked_shared_flag(shared_counterpart)
    signatory = get_signatory(session, actor, agreement_id, signatory_id)
    agreement = _locked(session, signatory.agreement)
    _check_signer(actor, signatory)
    _require_signing_open(agreement, signatory)
    if method in (None, ""):
        raise Invalid(gettext("'method' is required: wet_ink or digital."), field="method", code="missing_field")
    if method not in METHODS:
        raise Invalid(gettext("'method' must be wet_ink or digital."), field="method")
    when = parse_signed_at(signed_at, agreement)
    name = display_filename(filename)
    if stream is None:
        raise Invalid(gettext("Attach the signed copy as 'file'."), field="file", code="missing_field")
    if signature_stream is not None and method != "digital":
        raise Invalid(gettext("A detached signature ('signature') is sent with method=digital."), field="signature")
    data = _read_limited(stream, name)
    if not data:
        raise Invalid(gettext("%(name)s is empty.", name=name), field="file", code="empty_file")
    if shared and not (isinstance(actor, User) and is_staff(actor)):
        require_staff(acting_user(actor) or actor.sender)  # a link holder never records a shared counterpart
    data_sha256 = hashlib.sha256(data).hexdigest()
    _refuse_duplicate(agreement, signatory, data_sha256, shared)
    signature_name = display_filename(signature_filename) if signature_stream is not None else ""
    signature = _read_limited(signature_stream, signature_name) if signature_stream is not None else None
    if signature is not None and not signature:
        raise Invalid(gettext("%(name)s is empty.", name=signature_name), field="signature", code="empty_file")

    config = current_app.config
    limits = SandboxLimits.from_config(config)
    # Availability: what the checks need of the database is read now, then the transaction ends, so no
    # lock is held while the file is parsed and verified; the state is checked again afterwards.
    frozen_sha256 = agreement.frozen_pdf_sha256
    frozen_path = current_store().path(frozen_sha256)
    roots = trust.trust_roots(session, config) if method != "wet_ink" else None
    release_read_transaction(session)
    with tempfile.TemporaryDirectory(prefix="docmgr-signature-") as workdir:
        path = Path(workdir) / "file"
        path.write_bytes(data)
        file_type = _kind(path, data, name, "file")
        if method == "wet_ink":
            if file_type not in checking.SCAN_KINDS:
                raise UnsupportedType(gettext("%(name)s: the signed copy must be a PDF, PNG or JPEG file.", name=name), field="file")
            try:
                checking.check_scan(path, file_type, limits)
            except checking.Unreadable as error:
                raise Invalid(gettext("%(name)s: %(value)s", name=name, value=gettext(error.message)), field="file", code="malformed_file") from None
            result: dict[str, Any] = {
                "method": "wet_ink", "valid": True, "reasons": [], "file_type": file_type,
                "note": "A scan of a handwritten signature: recorded as submitted, not cryptographically verifiable.",
            }
            is_valid, reasons = True, []
        else:
            signature_path = None
            if signature is not None:
                signature_path = Path(workdir) / "signature"
                signature_path.write_bytes(signature)
                if file_type != "pdf":
                    raise UnsupportedType(gettext("%(name)s: with a detached signature, 'file' is the signed PDF.", name=name), field="file")
                if _kind(signature_path, signature, signature_name, "signature") != checking.CMS:
                    raise UnsupportedType(
                        gettext("%(name)s: a detached signature is a CMS file (.p7s, .sig).", name=signature_name), field="signature"
                    )
            elif file_type not in ("pdf", checking.CMS):
                raise UnsupportedType(
                    gettext("%(name)s: a digital signature is uploaded as the signed PDF or a .p7m envelope.", name=name), field="file"
                )
            result = checking.verify(
                checking.CMS if signature_path else file_type, signature_path or path,
                frozen_path, pdf_path=path if signature_path else None,
                trust_roots=roots, require_trusted=bool(config["SIGNATURE_REQUIRE_TRUSTED"]),
                allow_fetching=bool(config["SIGNATURE_REVOCATION_FETCH"]), limits=limits,
                in_child=bool(config.get("EXTRACTION_SUBPROCESS", True)),
            )
            is_valid, reasons = bool(result["valid"]), list(result["reasons"])
    # Again, now in the write transaction: the agreement may have moved on while the file was checked.
    agreement = _locked(session, agreement)
    _check_signer(actor, signatory)
    _require_signing_open(agreement, signatory)
    if agreement.frozen_pdf_sha256 != frozen_sha256:
        raise Conflict(gettext("The agreement changed while the signed copy was checked; upload it again."),
                       code="changed_meanwhile")
    result["frozen_pdf_sha256"] = agreement.frozen_pdf_sha256
    _refuse_duplicate(agreement, signatory, data_sha256, shared)  # again: another upload may have won meanwhile

    signature_blob = store_bytes(signature) if signature is not None else None
    blob = store_bytes(data)
    submission = SignatureSubmission(
        signatory_id=signatory.id, agreement_id=agreement.id, sha256=blob.sha256, size=blob.size, filename=name,
        content_type=checking.CONTENT_TYPES[file_type], method=method, signed_at=when,
        signature_sha256=signature_blob.sha256 if signature_blob else None, signature_filename=signature_name,
        verification_json=json.dumps(result, sort_keys=True), is_valid=is_valid, shared_counterpart=shared,
    )
    if is_valid and method == "wet_ink":
        if needs_review(actor, method):
            return _submit_for_review(session, actor, signatory, submission)
        submission.review_status = ReviewStatus.ACCEPTED.value  # legal staff recording a scan are its reviewer
        submission.reviewed_by_id = actor.id
        submission.reviewed_at = utcnow()
    if not is_valid:
        submission.created_by_id = user.id if (user := acting_user(actor)) else None
        session.add(submission)
        session.flush()
        record(
            session, acting_user(actor), "signature.rejected", signatory, agreement_id=agreement.id,
            submission_id=submission.id, sha256=blob.sha256, method=method, reasons=reasons, **actor_audit(actor),
        )
        return SignatureOutcome(submission, signatory, agreement, False, reasons)
    return accept_signature(session, actor, signatory, submission, result)


def accept_signature(
    session: Session, actor: Actor, signatory: Signatory, submission: SignatureSubmission, result: dict[str, Any],
    **audit: Any,
) -> SignatureOutcome:
    """The valid signed copy counts as the signatory's signature: recorded, audited, the agreement moves on.
    The caller has checked the agreement is open and the actor may sign for ``signatory``."""
    agreement = signatory.agreement
    user = acting_user(actor)
    if submission.id is None:  # a reviewed scan keeps who submitted it
        submission.created_by_id = user.id if user else None
    session.add(submission)
    session.flush()
    signatory.status = SignatoryStatus.SIGNED.value
    signatory.signed_at = submission.signed_at
    signatory.method = submission.method
    signatory.signed_file_sha256 = submission.sha256
    signatory.verification_json = submission.verification_json
    record(
        session, user, "signature.recorded", signatory, agreement_id=agreement.id, submission_id=submission.id,
        sha256=submission.sha256, method=submission.method, signed_at=submission.signed_at.isoformat(),
        trusted=result.get("trusted"), signer_subject=result.get("signer_subject"), format=result.get("format"),
        signature_sha256=submission.signature_sha256, shared_counterpart=bool(submission.shared_counterpart),
        **actor_audit(actor), **audit,
    )
    _advance_after_signature(session, actor, agreement)
    lifecycle.signature_recorded.send(agreement, ctx=_context(session, actor, agreement), signatory=signatory)
    return SignatureOutcome(submission, signatory, agreement, True, [])


def _submit_for_review(session: Session, actor: Actor, signatory: Signatory,
                       submission: SignatureSubmission) -> SignatureOutcome:
    """Keep the scan for legal's review: the signatory stays pending, the agreement does not move."""
    user = acting_user(actor)
    submission.created_by_id = user.id if user else None
    submission.review_status = ReviewStatus.PENDING.value
    session.add(submission)
    session.flush()
    record(session, user, "signature.submitted_for_review", signatory, agreement_id=signatory.agreement_id,
           submission_id=submission.id, sha256=submission.sha256, method=submission.method,
           signed_at=submission.signed_at.isoformat() if submission.signed_at else None, **actor_audit(actor))
    lifecycle.scan_submitted.send(signatory.agreement, session=session, signatory=signatory, submission=submission)
    return SignatureOutcome(submission, signatory, signatory.agreement, True, [])


def outcome_message(outcome: SignatureOutcome) -> str:
    """What the answer to a signed copy says happens now."""
    if outcome.pending_review:
        return gettext("Your scan was received. The legal office will compare it with the signature page of the "
                       "agreement: it counts once they accept it, and you will be told if it is not accepted.")
    return gettext("The signature of %(name)s was recorded.", name=outcome.signatory.name)


def review_submission(
    session: Session, actor: User, agreement_id: int, signatory_id: int, submission_id: int,
    decision: str | None, reason: str | None = None,
) -> SignatureOutcome:
    """Legal staff accept or reject a wet-ink scan waiting for review.

    ``accept``: the scan counts as the signatory's signature (:func:`accept_signature`: status, webhooks,
    mails, the next step, execution). ``reject``: a reason is required; the signatory is told why (in
    their language, a link holder with a fresh link) and may upload again. Only a ``pending`` submission
    (409 ``not_pending``) of an agreement still open for signature (409 ``not_out_for_signature``)."""
    submission = get_submission(session, actor, agreement_id, signatory_id, submission_id)  # 404: not visible
    require_staff(actor)
    signatory = submission.signatory
    agreement = _locked(session, signatory.agreement)
    session.refresh(submission, with_for_update=True)
    if decision not in REVIEW_DECISIONS:
        message = gettext("'decision' must be accept or reject.")
        raise Invalid(message, field="decision", fields={"decision": message})
    if reason is not None and not isinstance(reason, str):
        message = gettext("'reason' must be text.")
        raise Invalid(message, field="reason", fields={"reason": message})
    reason = (reason or "").strip()
    if decision == "reject" and not reason:
        message = gettext("Say why the scan is rejected ('reason'): the signatory reads it.")
        raise Invalid(message, field="reason", code="missing_field", fields={"reason": message})
    if len(reason) > REVIEW_REASON_MAX:
        message = gettext("The reason is limited to %(max)s characters.", max=REVIEW_REASON_MAX)
        raise Invalid(message, field="reason", max_length=REVIEW_REASON_MAX, fields={"reason": message})
    if submission.review_status != ReviewStatus.PENDING.value:
        raise Conflict(gettext("Submission %(id)s is not waiting for review (it is %(status)s).", id=submission.id,
                               status=submission.review_status), code="not_pending")
    _require_signing_open(agreement, signatory, signing=False)
    submission.reviewed_by_id = actor.id
    submission.reviewed_at = utcnow()
    submission.review_reason = reason
    if decision == "reject":
        submission.review_status = ReviewStatus.REJECTED.value
        record(session, actor, "signature.review_rejected", signatory, agreement_id=agreement.id,
               submission_id=submission.id, sha256=submission.sha256, reason=reason)
        lifecycle.scan_rejected.send(agreement, ctx=_context(session, actor, agreement), signatory=signatory,
                                     submission=submission)
        session.flush()
        return SignatureOutcome(submission, signatory, agreement, True, [])
    submission.review_status = ReviewStatus.ACCEPTED.value
    record(session, actor, "signature.review_accepted", signatory, agreement_id=agreement.id,
           submission_id=submission.id, sha256=submission.sha256, reason=reason or None)
    return accept_signature(session, actor, signatory, submission, verification_of(submission) or {},
                            reviewed_submission_id=submission.id,
                            submitted_by=submission.created_by_id if submission.created_by_id else "signatory_link")


def _checked_shared_flag(value: bool | str | None) -> bool:
    if value in (None, "", False, "false", "0", "no"):
        return False
    if value in (True, "true", "1", "yes", "on"):
        return True
    raise Invalid(gettext("'shared_counterpart' is true or false."), field="shared_counterpart")


def _refuse_duplicate(agreement: Agreement, signatory: Signatory, sha256: str, shared: bool) -> None:
    """409 when another signatory of the agreement already counts with this very file, or has it waiting
    for review (unless ``shared``)."""
    waiting = set(object_session(agreement).scalars(select(SignatureSubmission.signatory_id).where(
        SignatureSubmission.agreement_id == agreement.id, SignatureSubmission.sha256 == sha256,
        SignatureSubmission.review_status == ReviewStatus.PENDING.value)))
    others = [s for s in agreement.signatories
              if s.id != signatory.id and (s.signed_file_sha256 == sha256 or s.id in waiting)]
    if others and not shared:
        raise Conflict(
            gettext("This file was already recorded as the signed copy of %(name)s. Each signatory needs their own "
                    "signed copy; if one counterpart was really signed by several signatories, legal staff can record "
                    "it as such (shared counterpart).", name=others[0].name),
            code="duplicate_signature_file", signatory_id=others[0].id,
        )


def _kind(path: Path, data: bytes, name: str, field: str) -> str:
    try:
        return checking.kind_of(path, data)
    except checking.Unreadable as error:
        if error.code == "unsupported_file_type":
            raise UnsupportedType(gettext("%(name)s: %(value)s", name=name, value=gettext(error.message)), field=field) from None
        raise Invalid(gettext("%(name)s: %(value)s", name=name, value=gettext(error.message)), field=field, code=error.code) from None


def _context(session: Session, actor: Actor, agreement: Agreement, **kwargs: Any) -> TransitionContext:
    """An automatic transition caused by ``actor`` (a link holder: no account, named in the audit entry)."""
    return TransitionContext(session, acting_user(actor), agreement, automatic=True, audit=actor_audit(actor), **kwargs)


def _filing_user(actor: Actor) -> User:
    """Who files the executed copy: the acting user, or for a link holder the legal officer who sent the link."""
    user = acting_user(actor) or actor.sender
    if user is None or not user.is_active:
        raise Conflict(gettext("The invitation's sender can no longer act; ask the legal office for a new link."),
                       code="invitation_sender_inactive")
    return user


def _advance_after_signature(session: Session, actor: Actor, agreement: Agreement) -> None:
    if all(s.status == SignatoryStatus.SIGNED.value for s in agreement.signatories):
        filer = _filing_user(actor)
        lifecycle.apply_transition(_context(session, actor, agreement), AgreementStatus.EXECUTED.value)
        execute_agreement(session, filer, agreement, caused_by=actor_audit(actor))
    elif agreement.status == AgreementStatus.OUT_FOR_SIGNATURE.value:
        lifecycle.apply_transition(_context(session, actor, agreement), AgreementStatus.PARTIALLY_SIGNED.value)


def decline(session: Session, actor: Actor, agreement_id: int, signatory_id: int, reason: str | None) -> Signatory:
    """A signatory refuses to sign: the agreement is declined (a final status)."""
    signatory = get_signatory(session, actor, agreement_id, signatory_id)
    agreement = _locked(session, signatory.agreement)
    _check_signer(actor, signatory)
    _require_signing_open(agreement, signatory, signing=False)
    reason = (reason or "").strip() if isinstance(reason, str) else reason
    if not reason:
        raise Invalid(gettext("Say why the signatory declines ('reason')."), field="reason", code="missing_field")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise Invalid(gettext("'reason' must be text of at most 2000 characters."), field="reason")
    signatory.status = SignatoryStatus.DECLINED.value
    signatory.decline_reason = reason
    record(session, acting_user(actor), "signature.declined", signatory, agreement_id=agreement.id, reason=reason,
           **actor_audit(actor))
    lifecycle.apply_transition(_context(session, actor, agreement, reason=reason), AgreementStatus.DECLINED.value)
    return signatory


# --- the executed copy and the completion certificate -----------------------------------------------


def _image_to_pdf(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, "PDF", resolution=150.0)
        return out.getvalue()


def _frozen_with_scans(frozen: bytes, scans: list[tuple[bytes, str]]) -> bytes:
    """The frozen PDF followed by every wet-ink scan's pages (images become one page each)."""
    from pypdf import PdfReader, PdfWriter

    from docmgr.signatures.active_content import strip_active_content

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(frozen)))
    frozen_pages = len(writer.pages)
    for data, content_type in scans:
        pdf = data if content_type == "application/pdf" else _image_to_pdf(data)
        writer.append(PdfReader(io.BytesIO(pdf)), import_outline=False)
    # Scans were checked when submitted (checking.check_scan); strip anyway, whatever was accepted before.
    strip_active_content(writer, range(frozen_pages, len(writer.pages)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


SCAN_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif"}


def executed_files(session: Session, agreement: Agreement) -> list[tuple[str, bytes]]:
    """(file name, bytes) of the executed copy, the main file last.

    * digital signatures: the signed PDF that contains every other one (signing in sequence, each
      party signs the previous party's signed PDF, so the last one carries all signatures). Signed
      PDFs made in parallel (none contains the others) are each kept as a further file;
    * wet-ink signatures: one PDF, the frozen final draft followed by the pages of every scan;
    * both: the wet-ink PDF and the digitally signed PDF, the digital one as the main file (its
      signatures must stay byte-exact, so the two are never merged);
    * CAdES/GOST signatures sign the frozen PDF itself (byte-identical); their envelopes are kept
      as received (submissions, evidence package), so when nothing else signed, the frozen PDF is the
      executed copy.
    """
    store = current_store()
    stem = f"agreement-{agreement.id}"
    signatories = sorted(agreement.signatories, key=lambda s: (s.signed_at or utcnow(), s.id))
    digital = [
        (s, store.read(s.signed_file_sha256)) for s in signatories
        if s.method in ("digital", "electronic") and (verification_of(s) or {}).get("format", "pades") == "pades"
    ]
    wet_ink = [s for s in signatories if s.method == "wet_ink"]
    files: list[tuple[str, bytes]] = []
    main: tuple[str, bytes] | None = None
    if digital:
        longest = max(digital, key=lambda item: len(item[1]))
        main = (f"{stem}-executed-signed.pdf", longest[1])
        for signatory, data in digital:
            if not longest[1].startswith(data):
                files.append((f"{stem}-signed-by-signatory-{signatory.id}.pdf", data))
    if wet_ink:
        content_types = {
            sub.sha256: sub.content_type
            for sub in session.scalars(
                select(SignatureSubmission).where(
                    SignatureSubmission.agreement_id == agreement.id, SignatureSubmission.is_valid.is_(True)
                )
            )
        }
        scans = [(store.read(s.signed_file_sha256), content_types.get(s.signed_file_sha256, "application/pdf")) for s in wet_ink]
        # Each scan is also kept as a file of its own: a scan has no text layer, so it is queued for
        # OCR and the signed pages become searchable (inside the merged PDF the draft's text layer
        # would hide that the scan pages have none).
        for signatory, (data, content_type) in zip(wet_ink, scans, strict=True):
            extension = SCAN_EXTENSIONS.get(content_type, "pdf")
            files.append((f"{stem}-scan-signatory-{signatory.id}.{extension}", data))
        merged = (f"{stem}-executed-wet-ink.pdf", _frozen_with_scans(store.read(agreement.frozen_pdf_sha256), scans))
        if main is None:
            main = merged
        else:
            files.append(merged)
    if main is None:  # every signature is a CAdES/GOST envelope over the frozen PDF
        main = (f"{stem}-executed.pdf", store.read(agreement.frozen_pdf_sha256))
    files.append(main)
    return files


def execute_agreement(session: Session, actor: User, agreement: Agreement, caused_by: dict[str, Any] | None = None) -> None:
    """Store and index the executed copy (a Document of kind "agreement" all parties may read),
    then issue the completion certificate."""
    uploads = [Upload(io.BytesIO(data), name, "bi") for name, data in executed_files(session, agreement)]
    sectors = sorted({sector for proposal in agreement.proposals for sector in proposal.sectors})
    # Firm users create documents for their own organisation only (documents.services); staff file it under the first party.
    owner_id = actor.organization_id if actor.is_firm else (agreement.parties[0].id if agreement.parties else None)
    document = create_document(
        session, actor, title_it=agreement.title[:500], kind="agreement", sectors=sectors,
        organization_id=owner_id, session_id=agreement.session_id, uploads=uploads,
    )
    share_document(session, actor, document, agreement.party_ids)
    seal_document(session, actor, document)
    agreement.executed_document_id = document.id
    agreement.executed_document = document
    agreement.executed_at = utcnow()
    record(session, actor, "agreement.executed", agreement, agreement_id=agreement.id, document_id=document.id,
           files=[{"filename": f.filename, "sha256": f.sha256} for f in document.files], **({"caused_by": caused_by} if caused_by else {}))
    issue_certificate(session, actor, agreement)


def chain_head(session: Session) -> AuditEvent | None:
    return session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))


def certificate_html(session: Session, agreement: Agreement, head: AuditEvent | None) -> str:
    signatories = [
        {"signatory": s, "verification": verification_of(s) or {}} for s in agreement.signatories
    ]
    return render_template(
        "signatures/certificate.html", agreement=agreement, signatories=signatories,
        submissions=submissions_for(session, agreement), head=head, generated_at=utcnow(),
        document=agreement.executed_document,
    )


def issue_certificate(session: Session, actor: User | None, agreement: Agreement) -> str:
    """Render the completion certificate to PDF, store it, and chain a record of it into the audit log."""
    session.flush()
    head = chain_head(session)
    pdf = html_to_pdf(certificate_html(session, agreement, head), CERTIFICATE_CSS)
    blob = store_bytes(pdf)
    agreement.certificate_sha256 = blob.sha256
    record(
        session, actor, "agreement.certificate_issued", agreement, agreement_id=agreement.id,
        certificate_sha256=blob.sha256, chain_head_id=head.id if head else None, chain_head_hash=head.hash if head else None,
    )
    return blob.sha256


CERTIFICATE_CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-size: 9.5pt; }
h1 { font-size: 16pt; margin: 0 0 4mm; }
h2 { font-size: 11.5pt; margin: 6mm 0 2mm; }
table { width: 100%; border-collapse: collapse; }
th, td { border: 0.5pt solid #999; padding: 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; }
.hash { font-size: 7.5pt; word-break: break-all; }
.ok { color: #1f7a3a; } .bad { color: #b42318; }
"""


def certificate_blob(session: Session, actor: User, agreement_id: int) -> tuple[Agreement, str]:
    agreement = get_agreement(session, actor, agreement_id)
    if not agreement.certificate_sha256:
        raise NotFound(gettext("The completion certificate exists once every signatory has signed."), code="certificate_not_found")
    return agreement, agreement.certificate_sha256


# --- the audit trail of an agreement ----------------------------------------------------------------


def agreement_events(session: Session, actor: User, agreement_id: int) -> tuple[Agreement, list[AuditEvent]]:
    agreement = get_agreement(session, actor, agreement_id)
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.agreement_id == agreement.id).order_by(AuditEvent.id))
    )
    return agreement, events


def get_submission(
    session: Session, actor: User, agreement_id: int, signatory_id: int, submission_id: int
) -> SignatureSubmission:
    signatory = get_signatory(session, actor, agreement_id, signatory_id)
    submission = session.get(SignatureSubmission, submission_id)
    if submission is None or submission.signatory_id != signatory.id:
        raise NotFound(gettext("No such submission."), code="submission_not_found")
    return submission


def review_image(session: Session, actor: User, agreement_id: int, signatory_id: int, submission_id: int,
                 side: str) -> Path:
    """A PNG to compare a wet-ink scan with before relying on it: ``side`` "scan" (its first page) or
    "page" (the frozen final draft's last page, where the signatures go). Rendered in the limited child
    of the document previews, cached by the file's hash."""
    submission = get_submission(session, actor, agreement_id, signatory_id, submission_id)
    if side == "scan":
        sha256, kind, index = submission.sha256, render_kind(submission.content_type), 0
    else:
        agreement = submission.signatory.agreement
        from pypdf import PdfReader

        sha256, kind = agreement.frozen_pdf_sha256, "pdf"
        index = len(PdfReader(current_store().path(sha256)).pages) - 1
    if kind is None or not sha256:
        raise NotFound(gettext("Nothing to show for this file; download it instead."), code="page_not_found")
    target = cached_page_path(sha256, f"review-{index}")
    if target.is_file():
        return target
    try:
        return render_page(current_store().path(sha256), kind, index, target, dpi=72, max_width=800)
    except RenderError:
        raise PreviewFailed("No preview can be made of this page; download the file instead.") from None


# --- the evidence package and checking an uploaded file ---------------------------------------------


def evidence_package(session: Session, actor: User, agreement_id: int) -> tuple[Agreement, bytes]:
    """The evidence ZIP of an executed agreement the actor may read (see :mod:`docmgr.signatures.evidence`)."""
    agreement = get_agreement(session, actor, agreement_id)
    return agreement, build_package(session, agreement)


def verify_upload(
    session: Session, actor: User, *, stream: BinaryIO | None, filename: str = "",
    signature_stream: BinaryIO | None = None, signature_filename: str = "",
) -> dict[str, Any]:
    """What an uploaded file is: whether it (or the PDF signed inside it) is byte-identical to a file of
    an executed agreement the actor may read, and what each of its signatures says. Agreements the
    actor may not read are never named, nor is it hinted that one matched. Nothing is stored."""
    name = display_filename(filename)
    if stream is None:
        raise Invalid(gettext("Attach the file to check as 'file'."), field="file", code="missing_field")
    data = _read_limited(stream, name)
    if not data:
        raise Invalid(gettext("%(name)s is empty.", name=name), field="file", code="empty_file")
    signature_name = display_filename(signature_filename) if signature_stream is not None else ""
    signature = _read_limited(signature_stream, signature_name) if signature_stream is not None else None
    config = current_app.config
    with tempfile.TemporaryDirectory(prefix="docmgr-verify-") as workdir:
        path = Path(workdir) / "file"
        path.write_bytes(data)
        kind = _kind(path, data, name, "file")
        signature_path = None
        if signature is not None:
            signature_path = Path(workdir) / "signature"
            signature_path.write_bytes(signature)
            if kind != "pdf" or _kind(signature_path, signature, signature_name, "signature") != checking.CMS:
                raise UnsupportedType(
                    gettext("%(name)s: with a detached signature, 'file' is the signed PDF.", name=name), field="file"
                )
        report = None
        if signature_path or kind in ("pdf", checking.CMS):
            report = checking.verify(
                checking.CMS if signature_path else kind, signature_path or path, None,
                pdf_path=path if signature_path else None, trust_roots=trust.trust_roots(session, config),
                require_trusted=False, allow_fetching=bool(config["SIGNATURE_REVOCATION_FETCH"]),
                limits=SandboxLimits.from_config(config), in_child=bool(config.get("EXTRACTION_SUBPROCESS", True)),
            )
    hashes = {hashlib.sha256(data).hexdigest()}
    if report and report.get("content_sha256"):
        hashes.add(report["content_sha256"])
    if signature is not None:
        hashes.add(hashlib.sha256(signature).hexdigest())
    candidates: dict[int, set[str]] = {}
    for agreement_id in session.scalars(select(Agreement.id).where(Agreement.frozen_pdf_sha256.in_(hashes))):
        candidates.setdefault(agreement_id, set()).add("final_draft")
    for agreement_id in session.scalars(
        select(Agreement.id).join(DocumentFile, DocumentFile.document_id == Agreement.executed_document_id)
        .where(DocumentFile.sha256.in_(hashes))
    ):
        candidates.setdefault(agreement_id, set()).add("executed_copy")
    for agreement_id in session.scalars(
        select(SignatureSubmission.agreement_id).where(
            SignatureSubmission.is_valid.is_(True), SignatureSubmission.review_status.in_(COUNTING_REVIEW_STATUSES),
            SignatureSubmission.sha256.in_(hashes) | SignatureSubmission.signature_sha256.in_(hashes),
        )
    ):
        candidates.setdefault(agreement_id, set()).add("signature_file")
    matches = []
    for agreement_id, how in sorted(candidates.items()):
        agreement = session.get(Agreement, agreement_id)
        if agreement is None or agreement.executed_at is None or not can_read_agreement(actor, agreement):
            continue
        matches.append({"agreement_id": agreement.id, "title": agreement.title, "matched": sorted(how)})
    return {
        "file": {"filename": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "type": kind},
        "signature_file": {"filename": signature_name, "sha256": hashlib.sha256(signature).hexdigest()} if signature else None,
        "matches_executed_agreement": bool(matches), "agreements": matches, "verification": report,
    }
