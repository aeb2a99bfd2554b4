"""Status mails (issue 13), each in the recipient's language, through the queue (a mail problem never
touches the agreement):

* a signature recorded: legal (the drafting officer) and the parties' firm users;
* a decline with its reason, and an expiry: those users and the signatories with an e-mail address;
* execution: those users, the signatories and the copied (CC) recipients, with the executed copy and
  the completion certificate attached — or, above ``DOCMGR_MAIL_ATTACH_MAX_MB`` together, linked
  (signed download links that work without an account, valid ``EXECUTED_LINK_DAYS``). This mail is
  composed by the ``signing.executed_mail`` task once the executed copy and certificate exist.

Users choose which of these they receive (:mod:`docmgr.mail.preferences`); a user receives mail only
about agreements they may read. Addresses are deduplicated (case-insensitively): each person once.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.accounts.permissions import can_read_agreement, is_staff
from docmgr.audit.models import AuditEvent
from docmgr.audit.services import record
from docmgr.drafting.models import Agreement, Signatory, SignatoryStatus
from docmgr.extensions import db
from docmgr.mail.preferences import wants
from docmgr.mail.services import compose, compose_for_user
from docmgr.signatures.lifecycle import TransitionContext
from docmgr.signing.services import issue_link, signatory_language
from docmgr.storage import current_store
from docmgr.tasks import enqueue
from docmgr.vocab import AgreementStatus, Role

NOTIFIED = {AgreementStatus.EXECUTED.value, AgreementStatus.DECLINED.value, AgreementStatus.EXPIRED.value}
EXECUTED_MAIL_TASK = "signing.executed_mail"
_LINK_SALT = "docmgr-executed-copy"


def recipients(session: Session, agreement: Agreement, event: str | None = None) -> list[User]:
    """The drafting legal officer and the active firm users of every party, each once, who may read the
    agreement and (``event``) chose to receive that mail."""
    people: dict[int, User] = {}
    if agreement.created_by is not None and agreement.created_by.is_active:
        people[agreement.created_by.id] = agreement.created_by
    party_ids = list(agreement.party_ids)
    if party_ids:
        for user in session.scalars(select(User).where(User.organization_id.in_(party_ids),
                                                       User.role == Role.FIRM.value).order_by(User.id)):
            if user.is_active:
                people.setdefault(user.id, user)
    return [user for user in people.values()
            if can_read_agreement(user, agreement) and (event is None or wants(session, user, event))]


def _signatories_with_address(agreement: Agreement, taken: set[str]) -> list[Signatory]:
    found = []
    for signatory in agreement.signatories:
        address = (signatory.email or "").strip().lower()
        if address and address not in taken:
            taken.add(address)
            found.append(signatory)
    return found


def _status_context(agreement: Agreement, status: str, reason: str) -> dict[str, Any]:
    declined = [s for s in agreement.signatories if s.status == SignatoryStatus.DECLINED.value]
    return {"title": agreement.title, "status": status, "agreement_id": agreement.id,
            "reason": reason or (declined[0].decline_reason if declined else "") or "",
            "declined_by": declined[0].name if declined else ""}


def _mail_everyone(session: Session, agreement: Agreement, event: str, *, copied: bool = False,
                   **context: Any) -> int:
    """The users (by preference), then the signatories and (``copied``) the CC recipients not already
    mailed as users. Returns how many messages were composed."""
    count = 0
    everyone = recipients(session, agreement)  # a user who opted out is not mailed again as a signatory
    taken = {user.email.lower() for user in everyone}
    for user in everyone:
        if wants(session, user, event):
            compose_for_user(session, "agreement_status", user, account=True, **context)
            count += 1
    for signatory in _signatories_with_address(agreement, taken):
        compose(session, "agreement_status", signatory.email, to_name=signatory.name,
                language=signatory_language(session, signatory), account=False, **context)
        count += 1
    if copied:
        for person in agreement.cc or []:
            if person["email"].lower() not in taken:
                taken.add(person["email"].lower())
                compose(session, "agreement_status", person["email"], to_name=person.get("name", ""),
                        language=_cc_language(agreement), account=False, **context)
                count += 1
    return count


def _cc_language(agreement: Agreement) -> str | None:
    """A copied recipient's language is not known: that of the agreement's parties when they share one."""
    countries = {(org.country or "").upper() for org in agreement.parties}
    return {"IT": "it", "RU": "ru"}.get(countries.pop()) if len(countries) == 1 else None


def notify_status(ctx: TransitionContext, source: str, target: str) -> None:
    """Lifecycle listener: declines and expiries are mailed now; execution once its files exist (a task)."""
    if target not in NOTIFIED:
        return
    agreement = ctx.agreement
    if target == AgreementStatus.EXECUTED.value:
        enqueue(ctx.session, EXECUTED_MAIL_TASK, agreement_id=agreement.id)
        return
    _mail_everyone(ctx.session, agreement, target, **_status_context(agreement, target, ctx.reason or ""))


def notify_signature(agreement: Agreement, *, ctx: TransitionContext, signatory: Signatory) -> None:
    """``signature_recorded`` subscriber: legal and the parties' users hear of each signature (the last
    one is announced by the executed mail instead)."""
    if agreement.status == AgreementStatus.EXECUTED.value:
        return
    waiting = [s.name for s in agreement.signatories if s.status == SignatoryStatus.PENDING.value]
    for user in recipients(ctx.session, agreement, "signature_recorded"):
        compose_for_user(ctx.session, "signature_recorded", user, title=agreement.title, agreement_id=agreement.id,
                         name=signatory.name, method=signatory.method or "", waiting=waiting)


# --- the review of a wet-ink scan --------------------------------------------------------------------------


def notify_scan_submitted(agreement: Agreement, *, session: Session, signatory: Signatory, submission: Any) -> None:
    """``scan_submitted`` subscriber: the agreement's legal officer hears that a scan waits for review
    (their "signature recorded" choice decides, as for the signatures themselves)."""
    owner = agreement.created_by
    if owner is None or not owner.is_active or not is_staff(owner) or not wants(session, owner, "signature_recorded"):
        return
    compose_for_user(session, "scan_to_review", owner, title=agreement.title, agreement_id=agreement.id,
                     name=signatory.name)


def notify_scan_rejected(agreement: Agreement, *, ctx: TransitionContext, signatory: Signatory, submission: Any) -> None:
    """``scan_rejected`` subscriber: the signatory reads why, in their language, and where to upload again —
    a link holder through a fresh personal link (earlier ones revoked, as a reminder does), a firm user
    on the agreement's page."""
    session, reviewer = ctx.session, ctx.actor
    submitter = session.get(User, submission.created_by_id) if submission.created_by_id else None
    context = {"title": agreement.title, "reason": submission.review_reason}
    if submitter is not None:
        if submitter.is_active:
            url = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/agreements/{agreement.id}"
            compose_for_user(session, "scan_rejected", submitter, url=url, expires_at=None, **context)
        return
    if signatory.email and reviewer is not None:
        link, _url = issue_link(session, signatory, reviewer, kind="scan_rejected", reason=submission.review_reason)
        record(session, reviewer, "signing.invited", link, agreement_id=agreement.id, signatory_id=signatory.id,
               email=signatory.email, expires_at=link.expires_at.isoformat(), after="scan_rejected")


# --- the executed mail ------------------------------------------------------------------------------------


def executed_attachments(session: Session, agreement: Agreement) -> list[dict[str, Any]]:
    """The executed copy's main file and the completion certificate, as mail attachments."""
    files = []
    document = agreement.executed_document
    if document is not None and document.files:
        main = document.files[-1]  # executed_files puts the main file last
        files.append({"filename": main.filename, "sha256": main.sha256, "content_type": main.content_type})
    if agreement.certificate_sha256:
        files.append({"filename": f"agreement-{agreement.id}-certificate.pdf", "sha256": agreement.certificate_sha256,
                      "content_type": "application/pdf"})
    return files


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_LINK_SALT)


def download_url(agreement: Agreement, sha256: str) -> str:
    token = _serializer().dumps({"a": agreement.id, "s": sha256})
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/executed/{token}"  # the route of signing.views.executed_file


def resolve_download(session: Session, token: str) -> tuple[Agreement, dict[str, Any]] | None:
    """The agreement and file a completion mail's link names, while valid and still one of its files."""
    max_age = int(float(current_app.config["EXECUTED_LINK_DAYS"]) * 86400)
    try:
        data = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    agreement = session.get(Agreement, data.get("a")) if isinstance(data, dict) else None
    if agreement is None or agreement.status != AgreementStatus.EXECUTED.value:
        return None
    item = next((f for f in executed_attachments(session, agreement) if f["sha256"] == data.get("s")), None)
    return (agreement, item) if item is not None else None


def executed_mail_task(agreement_id: int) -> None:
    """The ``signing.executed_mail`` handler: idempotent (an audit entry says the mails were composed)."""
    session = db.session
    agreement = session.get(Agreement, agreement_id)
    if agreement is None or agreement.status != AgreementStatus.EXECUTED.value:
        return
    done = session.scalar(select(AuditEvent.id).where(AuditEvent.agreement_id == agreement.id,
                                                      AuditEvent.action == "signing.executed_mailed"))
    if done is not None:
        return
    files = executed_attachments(session, agreement)
    store = current_store()
    total = sum(store.path(f["sha256"]).stat().st_size for f in files)
    limit = float(current_app.config["MAIL_ATTACH_MAX_MB"]) * 1024 * 1024
    attach = total <= limit
    links = [] if attach else [{"filename": f["filename"], "url": download_url(agreement, f["sha256"])} for f in files]
    count = _mail_everyone(session, agreement, "executed", copied=True,
                           **_status_context(agreement, AgreementStatus.EXECUTED.value, ""),
                           attachments=files if attach else [], attached=attach, links=links,
                           link_days=int(float(current_app.config["EXECUTED_LINK_DAYS"])))
    record(session, None, "signing.executed_mailed", agreement, agreement_id=agreement.id, messages=count,
           attached=attach, size=total)
    session.commit()
