"""The signing loop over time (issue 13): the next step's invitations, reminders and deadlines.

* Sequential agreements invite one step at a time: when a signature completes a step, the next step's
  signatories get their links (a ``signature_recorded`` subscriber, in the signature's transaction).
* A periodic task of the queue (Huey's periodic mechanism, every ``DEADLINE_CRON_MINUTES``) records a
  ``signing.deadlines`` outbox row; the worker runs it: signatories whose turn it is and who have not
  acted get a reminder (with a fresh link) every ``reminder_days`` (the agreement's, else
  ``DOCMGR_REMINDER_DAYS``), not while a scan of theirs awaits legal's review; agreements past their
  sign-by date (or a signatory's due date) move to ``expired`` by themselves, not while a scan submitted
  before that date awaits review (``lifecycle.overdue_signatories``); the lifecycle's listeners then tell
  everyone concerned. The handler is idempotent (reminded_at, the status), so several workers scheduling
  it changes nothing more.
* The clock is ``app.config["CLOCK"]`` (a callable; None: the real time), so tests move time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask, current_app
from huey.api import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.accounts.permissions import is_staff
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.drafting.models import Agreement, AgreementStatus, Signatory, SignatoryStatus
from docmgr.extensions import db
from docmgr.signatures import lifecycle
from docmgr.signatures.lifecycle import SIGNING_STATUSES, TransitionContext
from docmgr.signatures.services import pending_review
from docmgr.signing.models import SigningLink
from docmgr.signing.services import issue_link
from docmgr.tasks import enqueue, get_queue, register_handler

DEADLINES_TASK = "signing.deadlines"
DEADLINE_CRON_MINUTES = "*/5"


def clock() -> datetime:
    now: Callable[[], datetime] | None = current_app.config.get("CLOCK")
    return now() if now is not None else utcnow()


def sender_for(session: Session, agreement: Agreement) -> User | None:
    """The legal officer links act for: whoever sent the latest invitation, else the agreement's author."""
    link = session.scalar(select(SigningLink).where(SigningLink.agreement_id == agreement.id)
                          .order_by(SigningLink.id.desc()).limit(1))
    for user in (session.get(User, link.created_by_id) if link and link.created_by_id else None, agreement.created_by):
        if user is not None and user.is_active and is_staff(user):
            return user
    return None


def invite_turn(session: Session, agreement: Agreement, sender: User | None, now: datetime | None = None) -> list[Signatory]:
    """Invite the pending signatories whose turn it is and who were never invited; returns them."""
    if agreement.status not in SIGNING_STATUSES or sender is None:
        return []
    invited = []
    for signatory in agreement.signatories:
        if (signatory.status == SignatoryStatus.PENDING.value and signatory.email and signatory.invited_at is None
                and lifecycle.has_turn(agreement, signatory)):
            link, _url = issue_link(session, signatory, sender, now=now)
            record(session, sender, "signing.invited", link, agreement_id=agreement.id, signatory_id=signatory.id,
                   email=signatory.email, expires_at=link.expires_at.isoformat(), step=signatory.order)
            invited.append(signatory)
    return invited


def invite_next_step(agreement: Agreement, *, ctx: TransitionContext, signatory: Signatory) -> None:
    """``signature_recorded`` subscriber: a completed step opens the next one."""
    if agreement.signing_order != "sequential":
        return
    actor = ctx.actor if ctx.actor is not None and is_staff(ctx.actor) else sender_for(ctx.session, agreement)
    invite_turn(ctx.session, agreement, actor)


def remind(session: Session, agreement: Agreement, now: datetime) -> list[Signatory]:
    """Reminders to the signatories whose turn it is, invited at least ``reminder_days`` ago (or reminded)."""
    days = agreement.reminder_days or int(current_app.config["REMINDER_DAYS"])
    sender = sender_for(session, agreement)
    if sender is None:
        return []
    reminded = []
    for signatory in agreement.signatories:
        if (signatory.status != SignatoryStatus.PENDING.value or not signatory.email or signatory.invited_at is None
                or not lifecycle.has_turn(agreement, signatory)):
            continue
        last = max(d for d in (signatory.invited_at, signatory.reminded_at) if d is not None)
        if now - last < timedelta(days=days):
            continue
        if pending_review(session, signatory) is not None:
            continue  # a signatory whose scan awaits legal's review is not chased (asked only of those due)
        link, _url = issue_link(session, signatory, sender, kind="reminder", now=now,
                                invited_at=signatory.invited_at)
        record(session, None, "signing.reminded", link, agreement_id=agreement.id, signatory_id=signatory.id,
               email=signatory.email, every_days=days, now=now.isoformat())
        reminded.append(signatory)
    return reminded


def check_deadlines(session: Session, now: datetime | None = None) -> dict[str, list[int]]:
    """Expire the overdue agreements, remind the others' signatories. Returns the agreement ids touched."""
    now = now or clock()
    done: dict[str, list[int]] = {"expired": [], "reminded": []}
    agreements = list(session.scalars(select(Agreement).where(Agreement.status.in_(sorted(SIGNING_STATUSES)))
                                      .order_by(Agreement.id)))
    for agreement in agreements:
        if lifecycle.overdue_signatories(agreement, now):
            lifecycle.apply_transition(TransitionContext(
                session, None, agreement, automatic=True, now=now,
                reason="The sign-by date passed before every signatory signed."), AgreementStatus.EXPIRED.value)
            done["expired"].append(agreement.id)
        elif remind(session, agreement, now):
            done["reminded"].append(agreement.id)
    return done


def deadlines_task() -> None:
    """The ``signing.deadlines`` handler (run by the worker)."""
    check_deadlines(db.session)
    db.session.commit()


def schedule_deadlines(app: Flask) -> None:
    """What Huey's periodic task does: record one ``signing.deadlines`` run (it survives a crash)."""
    with app.app_context():
        enqueue(db.session, DEADLINES_TASK)
        db.session.commit()


def init_app(app: Flask) -> None:
    register_handler(app, DEADLINES_TASK, deadlines_task)
    queue = get_queue(app)
    queue.huey.periodic_task(crontab(minute=DEADLINE_CRON_MINUTES), name="docmgr.signing_deadlines")(
        lambda: schedule_deadlines(app))
    lifecycle.signature_recorded.connect(invite_next_step, weak=False)
