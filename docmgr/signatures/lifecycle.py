"""The agreement lifecycle: one table of allowed (from, to) transitions, each with its guards.

Every status change of an agreement goes through :func:`apply_transition` — requests from legal
staff (``automatic=False``) and the changes that signatures cause (``automatic=True``) alike — so
the table below is the whole truth about which moves exist.

Choices made here (see also the module report):

* legal staff and administrators move agreements; the ministry and firms never do (403);
* approval (in_review → approved) needs a second pair of eyes: the approver may not be the
  agreement's author, nor anyone who changed its fields, parties or signatories or rendered a draft
  since the last approval (409 ``four_eyes_required``); this holds for administrators too;
* before review, a rendered draft must exist, the agreement needs at least two parties, every
  signatory must belong to a party and *every party needs at least one signatory* (an agreement
  binds a party only if someone signs for it);
* in_review → draft and approved → draft send it back for changes (approval is cleared);
* out_for_signature freezes the latest draft (its PDF is what everyone signs);
* partially_signed, executed and declined are reached only through signatures and declines;
* withdrawn: from any status that is not final; expired: while out for signature, once at least
  one pending signatory is overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blinker import Namespace
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.drafting.models import Agreement, AgreementStatus, SignatoryStatus
from docmgr.drafting.services import authors_since_approval, latest_draft
from docmgr.errors import Conflict
from docmgr.signatures.models import SignatureSubmission
from docmgr.storage import current_store
from docmgr.vocab import ReviewStatus

S = AgreementStatus
STATUSES: tuple[str, ...] = tuple(s.value for s in AgreementStatus)
FINAL_STATUSES = frozenset({S.EXECUTED.value, S.WITHDRAWN.value, S.DECLINED.value, S.EXPIRED.value})
SIGNING_STATUSES = frozenset({S.OUT_FOR_SIGNATURE.value, S.PARTIALLY_SIGNED.value})


@dataclass
class TransitionContext:
    session: Session
    actor: User | None
    agreement: Agreement
    reason: str | None = None
    automatic: bool = False
    due_at: datetime | None = None  # optional deadline given when sending out for signature
    now: datetime | None = None  # the clock of deadline checks (the periodic task passes its own; tests control it)
    audit: dict[str, Any] = field(default_factory=dict)  # effects add what the audit entry should say


@dataclass(frozen=True)
class Refusal:
    message: str
    code: str = "transition_not_allowed"


Guard = Callable[[TransitionContext], Refusal | None]
Effect = Callable[[TransitionContext], None]


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    guards: tuple[Guard, ...] = ()
    effect: Effect | None = None
    # Reached only as a consequence of signatures/declines; a request for it is refused (409).
    automatic: bool = False
    automatic_reason: str = ""


# --- guards ------------------------------------------------------------------------------------


def has_rendered_draft(ctx: TransitionContext) -> Refusal | None:
    if latest_draft(ctx.agreement) is None:
        return Refusal(gettext("Render a draft first: there is no rendered draft to review or sign."))
    return None


def parties_and_signatories_complete(ctx: TransitionContext) -> Refusal | None:
    agreement = ctx.agreement
    party_ids = agreement.party_ids
    if len(party_ids) < 2:
        return Refusal(gettext("An agreement needs at least two parties."))
    if not agreement.signatories:
        return Refusal(gettext("Add the signatories first."))
    strangers = [s.name for s in agreement.signatories if s.organization_id not in party_ids]
    if strangers:
        return Refusal(gettext("Signatory %(name)s does not belong to a party of the agreement.", name=strangers[0]))
    signing_orgs = {s.organization_id for s in agreement.signatories}
    unsigned = [org.name for org in agreement.parties if org.id not in signing_orgs]
    if unsigned:
        return Refusal(gettext("Party %(name)s has no signatory.", name=unsigned[0]))
    return None


def four_eyes(ctx: TransitionContext) -> Refusal | None:
    """The approver wrote none of it: not the author, nor anyone who changed or rendered it since the last approval."""
    if ctx.actor is None:
        return None
    if ctx.actor.id == ctx.agreement.created_by_id:
        return Refusal(
            gettext("Four-eyes rule: the author of the agreement cannot approve it; another legal officer must."),
            code="four_eyes_required",
        )
    if ctx.actor.id in authors_since_approval(ctx.session, ctx.agreement):
        return Refusal(
            gettext("Four-eyes rule: you changed or rendered this agreement since its last approval; "
                    "another legal officer must approve it."),
            code="four_eyes_required",
        )
    return None


def frozen_pdf_stored(ctx: TransitionContext) -> Refusal | None:
    draft = latest_draft(ctx.agreement)
    if draft is not None and not current_store().exists(draft.pdf_sha256):
        return Refusal(gettext(
            "The PDF of draft %(version)s is missing from the file store; render the draft again.", version=draft.version
        ))
    return None


def _deadline(agreement: Agreement, signatory) -> datetime | None:
    """A signatory's sign-by date: the earlier of their own and the agreement's."""
    return min((d for d in (signatory.due_at, agreement.sign_by) if d is not None), default=None)


def review_holds_expiry(agreement: Agreement) -> bool:
    """A wet-ink scan submitted before its signatory's deadline still waits for legal's review: the
    agreement does not expire until that review is done (a rejection lets the next run expire it)."""
    session = object_session(agreement)
    if session is None:
        return False
    by_id = {s.id: s for s in agreement.signatories}
    rows = session.execute(select(SignatureSubmission.signatory_id, SignatureSubmission.created_at).where(
        SignatureSubmission.agreement_id == agreement.id,
        SignatureSubmission.review_status == ReviewStatus.PENDING.value))
    for signatory_id, created_at in rows:
        deadline = _deadline(agreement, by_id[signatory_id]) if signatory_id in by_id else None
        if deadline is None or created_at <= deadline:
            return True
    return False


def overdue_signatories(agreement: Agreement, now: datetime | None = None) -> list:
    """The pending signatories whose own due date, or the agreement's sign-by date, has passed; none while
    a scan submitted in time waits for legal's review (:func:`review_holds_expiry`)."""
    overdue = _past_deadline(agreement, now)
    if overdue and review_holds_expiry(agreement):
        return []
    return overdue


def no_due_date_passed(ctx: TransitionContext) -> Refusal | None:
    """Sending for signature with a sign-by (or a signatory's due) date already past would only expire it."""
    agreement = ctx.agreement
    late = _past_deadline(agreement, ctx.now)
    if not late:
        return None
    if agreement.sign_by is not None and agreement.sign_by < (ctx.now or utcnow()):
        return Refusal(gettext("The sign-by date (%(date)s) has already passed: set a later date before sending it "
                               "for signature.", date=agreement.sign_by.strftime("%Y-%m-%d")), code="sign_by_passed")
    return Refusal(gettext("The date by which %(name)s must sign (%(date)s) has already passed: set a later date "
                           "before sending it for signature.", name=late[0].name,
                           date=late[0].due_at.strftime("%Y-%m-%d")), code="sign_by_passed")


def _past_deadline(agreement: Agreement, now: datetime | None = None) -> list:
    now = now or utcnow()
    return [s for s in agreement.signatories if s.status == SignatoryStatus.PENDING.value
            and (deadline := _deadline(agreement, s)) is not None and deadline < now]


def some_signatory_overdue(ctx: TransitionContext) -> Refusal | None:
    if not overdue_signatories(ctx.agreement, ctx.now):
        if _past_deadline(ctx.agreement, ctx.now):  # overdue, but held by a scan waiting for review
            return Refusal(gettext("A scan submitted before the deadline waits for review: accept or reject it first."))
        return Refusal(gettext("No pending signature is overdue: an agreement expires only once a due date has passed."))
    return None


def current_step(agreement: Agreement) -> int | None:
    """Whose turn it is: in a sequential agreement the lowest step with a pending signatory (None when
    nobody is pending); in a parallel one every pending signatory's turn (None)."""
    if agreement.signing_order != "sequential":
        return None
    pending = [s.order or 1 for s in agreement.signatories if s.status == SignatoryStatus.PENDING.value]
    return min(pending) if pending else None


def has_turn(agreement: Agreement, signatory) -> bool:
    """Whether the signatory may sign now (sequential: only the current step)."""
    step = current_step(agreement)
    return step is None or (signatory.order or 1) <= step


def all_signed(ctx: TransitionContext) -> Refusal | None:
    if not all(s.status == SignatoryStatus.SIGNED.value for s in ctx.agreement.signatories):
        return Refusal(gettext("Not every signatory has signed yet."))
    return None


def some_signed_some_pending(ctx: TransitionContext) -> Refusal | None:
    statuses = {s.status for s in ctx.agreement.signatories}
    if SignatoryStatus.SIGNED.value not in statuses or SignatoryStatus.PENDING.value not in statuses:
        return Refusal(gettext("Partially signed means some, but not all, signatories have signed."))
    return None


def someone_declined(ctx: TransitionContext) -> Refusal | None:
    if not any(s.status == SignatoryStatus.DECLINED.value for s in ctx.agreement.signatories):
        return Refusal(gettext("No signatory has declined."))
    return None


# --- effects -----------------------------------------------------------------------------------


def record_approval(ctx: TransitionContext) -> None:
    ctx.agreement.approved_by_id = ctx.actor.id if ctx.actor else None
    draft = latest_draft(ctx.agreement)
    ctx.audit["draft_version"] = draft.version if draft else None


def clear_approval(ctx: TransitionContext) -> None:
    ctx.agreement.approved_by_id = None


def note_reviewed_draft(ctx: TransitionContext) -> None:
    draft = latest_draft(ctx.agreement)
    ctx.audit["draft_version"] = draft.version if draft else None


def freeze_final_draft(ctx: TransitionContext) -> None:
    """The latest draft becomes the exact PDF every party signs; fields can no longer change."""
    agreement = ctx.agreement
    draft = latest_draft(agreement)
    agreement.frozen_draft_id = draft.id
    agreement.frozen_draft = draft
    agreement.frozen_pdf_sha256 = draft.pdf_sha256
    agreement.sent_for_signature_at = utcnow()
    if ctx.due_at is not None:
        for signatory in agreement.signatories:
            if signatory.status == SignatoryStatus.PENDING.value and signatory.due_at is None:
                signatory.due_at = ctx.due_at
        ctx.audit["due_at"] = ctx.due_at.isoformat()
    ctx.audit.update(frozen_draft_id=draft.id, frozen_draft_version=draft.version, frozen_pdf_sha256=draft.pdf_sha256)


# --- the table -----------------------------------------------------------------------------------


def _build_table() -> dict[tuple[str, str], Transition]:
    rules = [
        Transition(S.DRAFT.value, S.IN_REVIEW.value, (has_rendered_draft, parties_and_signatories_complete),
                   note_reviewed_draft),
        Transition(S.IN_REVIEW.value, S.DRAFT.value, (), clear_approval),
        Transition(S.IN_REVIEW.value, S.APPROVED.value, (has_rendered_draft, parties_and_signatories_complete, four_eyes),
                   record_approval),
        Transition(S.APPROVED.value, S.DRAFT.value, (), clear_approval),
        Transition(S.APPROVED.value, S.OUT_FOR_SIGNATURE.value,
                   (has_rendered_draft, parties_and_signatories_complete, no_due_date_passed, frozen_pdf_stored),
                   freeze_final_draft),
    ]
    signed_note = _l("it is reached automatically when signatures are recorded")
    for source in sorted(SIGNING_STATUSES):
        rules += [
            Transition(source, S.EXECUTED.value, (all_signed,), automatic=True,
                       automatic_reason=_l("it is reached automatically when every signatory has signed")),
            Transition(source, S.DECLINED.value, (someone_declined,), automatic=True,
                       automatic_reason=_l("it is reached automatically when a signatory declines")),
            Transition(source, S.EXPIRED.value, (some_signatory_overdue,)),
        ]
    rules.append(Transition(S.OUT_FOR_SIGNATURE.value, S.PARTIALLY_SIGNED.value, (some_signed_some_pending,),
                            automatic=True, automatic_reason=signed_note))
    for source in STATUSES:
        if source not in FINAL_STATUSES:
            rules.append(Transition(source, S.WITHDRAWN.value))
    return {(rule.source, rule.target): rule for rule in rules}


TRANSITIONS: dict[tuple[str, str], Transition] = _build_table()


def check_transition(ctx: TransitionContext, target: str) -> tuple[Transition | None, Refusal | None]:
    """The rule that would move the agreement to ``target`` and the first refusal, if any."""
    source = ctx.agreement.status
    rule = TRANSITIONS.get((source, target))
    if rule is None:
        if source == target:
            return None, Refusal(gettext("The agreement is already %(status)s.", status=target))
        if source in FINAL_STATUSES:
            return None, Refusal(gettext("The agreement is %(status)s, a final status: it cannot change any more.", status=source))
        return None, Refusal(gettext("An agreement cannot go from %(source)s to %(target)s.", source=source, target=target))
    if rule.automatic and not ctx.automatic:
        return rule, Refusal(gettext("%(status)s cannot be requested: %(reason)s.", status=target, reason=rule.automatic_reason))
    for guard in rule.guards:
        refusal = guard(ctx)
        if refusal is not None:
            return rule, refusal
    return rule, None


# Every status change, after its audit entry and the listeners below, inside the transition's transaction:
# ``agreement_status_changed.send(agreement, ctx=ctx, source=..., target=...)``. Subscribers (webhooks,
# notifications) must only record follow-up work (outbox rows), never do slow I/O here.
_signals = Namespace()
agreement_status_changed = _signals.signal("agreement-status-changed")
# A signatory's signature was recorded (sent by docmgr.signatures.services after the status moved on):
# ``signature_recorded.send(agreement, ctx=TransitionContext, signatory=...)``. The next step's
# invitations and the "signature recorded" mails hang on it.
signature_recorded = _signals.signal("signature-recorded")
# A wet-ink scan waits for legal's review: ``scan_submitted.send(agreement, session=..., signatory=...,
# submission=...)``; legal rejected one: ``scan_rejected.send(agreement, ctx=TransitionContext, signatory=...,
# submission=...)`` (signing mails the signatory why, with a fresh link for a link holder).
scan_submitted = _signals.signal("scan-submitted")
scan_rejected = _signals.signal("scan-rejected")

# Other modules react to transitions (signing: invitations when an agreement goes out for signature).
# A listener runs inside the transition's transaction, after the audit entry: fn(ctx, source, target).
_listeners: list[Callable[[TransitionContext, str, str], None]] = []


def on_transition(fn: Callable[[TransitionContext, str, str], None]) -> None:
    """Register ``fn`` once (create_app may run several times in one process)."""
    if fn not in _listeners:
        _listeners.append(fn)


def apply_transition(ctx: TransitionContext, target: str) -> Transition:
    """Move the agreement (guards first, then the effect and the audit entry), or raise 409."""
    source = ctx.agreement.status
    rule, refusal = check_transition(ctx, target)
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code, current_status=source, requested_status=target)
    if rule.effect is not None:
        rule.effect(ctx)
    ctx.agreement.status = target
    record(
        ctx.session, ctx.actor, "agreement.transition", ctx.agreement, agreement_id=ctx.agreement.id,
        from_status=source, to_status=target, reason=ctx.reason, automatic=ctx.automatic, **ctx.audit,
    )
    for listener in _listeners:
        listener(ctx, source, target)
    agreement_status_changed.send(ctx.agreement, ctx=ctx, source=source, target=target)
    return rule


def manual_targets(source: str) -> list[str]:
    """Statuses a legal officer may request from ``source`` (guards not yet applied)."""
    return [rule.target for (src, _), rule in TRANSITIONS.items() if src == source and not rule.automatic]
