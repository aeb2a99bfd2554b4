"""What waits for a member of the legal staff: their landing page after login and GET /api/v1/inbox.

Four lists, each of agreements the reader may see:

* drafts to review — agreements in review that the reader may approve (four-eyes: they wrote nothing
  since the last approval);
* approvals waiting — agreements in review that the reader wrote, waiting for a colleague's approval,
  and approved agreements not yet sent out for signature;
* signatures overdue — pending signatories of agreements out for signature whose sign-by date (their own,
  else the agreement's) has passed, or, without one, whose agreement went out more than
  ``INBOX_SIGNATURE_WAIT_DAYS`` days ago;
* declines — signatories who declined, on agreements that are now declined;
* scans to review — wet-ink scans from link holders and firm users waiting for legal's review before
  they count (oldest first); such a signatory is not also listed as overdue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from docmgr.accounts.models import User
from docmgr.accounts.permissions import require_staff
from docmgr.database import utcnow
from docmgr.drafting.models import Agreement, AgreementStatus, Signatory, SignatoryStatus
from docmgr.drafting.services import authors_since_approval
from docmgr.signatures.lifecycle import SIGNING_STATUSES
from docmgr.signatures.models import SignatureSubmission
from docmgr.vocab import ReviewStatus

S = AgreementStatus


@dataclass
class InboxItem:
    agreement: Agreement
    reason: str  # a code: review, waiting_approval, ready_to_send, sign_by_passed, waiting_too_long, declined, scan_review
    since: datetime | None = None
    signatory: Signatory | None = None
    submission: SignatureSubmission | None = None


@dataclass
class Inbox:
    drafts_to_review: list[InboxItem] = field(default_factory=list)
    approvals_waiting: list[InboxItem] = field(default_factory=list)
    signatures_overdue: list[InboxItem] = field(default_factory=list)
    declines: list[InboxItem] = field(default_factory=list)
    scans_to_review: list[InboxItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(x) for x in (self.drafts_to_review, self.approvals_waiting, self.signatures_overdue, self.declines,
                                    self.scans_to_review))


def _agreements(session: Session, *statuses: str) -> list[Agreement]:
    return list(session.scalars(
        select(Agreement).where(Agreement.status.in_(statuses)).order_by(Agreement.updated_at.desc(), Agreement.id.desc())
        .options(selectinload(Agreement.signatories), selectinload(Agreement.parties))
    ))


def build_inbox(session: Session, actor: User, *, now: datetime | None = None) -> Inbox:
    """Staff only (legal and administrators see every agreement; that rule is unchanged)."""
    require_staff(actor)
    now = now or utcnow()
    inbox = Inbox()
    for agreement in _agreements(session, S.IN_REVIEW.value):
        if actor.id in authors_since_approval(session, agreement):
            inbox.approvals_waiting.append(InboxItem(agreement, "waiting_approval", agreement.updated_at))
        else:
            inbox.drafts_to_review.append(InboxItem(agreement, "review", agreement.updated_at))
    for agreement in _agreements(session, S.APPROVED.value):
        inbox.approvals_waiting.append(InboxItem(agreement, "ready_to_send", agreement.updated_at))
    wait = timedelta(days=current_app.config["INBOX_SIGNATURE_WAIT_DAYS"])
    signing = _agreements(session, *SIGNING_STATUSES)
    waiting = {sub.signatory_id: sub for sub in session.scalars(
        select(SignatureSubmission).where(SignatureSubmission.review_status == ReviewStatus.PENDING.value,
                                          SignatureSubmission.agreement_id.in_([a.id for a in signing]))
        .order_by(SignatureSubmission.id))}
    for agreement in signing:
        for signatory in agreement.signatories:
            if signatory.status != SignatoryStatus.PENDING.value:
                continue
            if signatory.id in waiting:
                submission = waiting[signatory.id]
                inbox.scans_to_review.append(
                    InboxItem(agreement, "scan_review", submission.created_at, signatory, submission))
                continue
            deadline = signatory.due_at or agreement.sign_by  # the signatory's own date, else the agreement's
            if deadline is not None and deadline < now:
                inbox.signatures_overdue.append(InboxItem(agreement, "sign_by_passed", deadline, signatory))
            elif deadline is None and agreement.sent_for_signature_at and agreement.sent_for_signature_at < now - wait:
                inbox.signatures_overdue.append(
                    InboxItem(agreement, "waiting_too_long", agreement.sent_for_signature_at, signatory))
    for agreement in _agreements(session, S.DECLINED.value):
        for signatory in agreement.signatories:
            if signatory.status == SignatoryStatus.DECLINED.value:
                inbox.declines.append(InboxItem(agreement, "declined", agreement.updated_at, signatory))
    inbox.signatures_overdue.sort(key=lambda item: item.since or now)
    inbox.scans_to_review.sort(key=lambda item: item.since or now)
    return inbox
