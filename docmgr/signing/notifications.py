"""Status mails: when an agreement is executed, declined or expires, the legal officer who drafted it and
the parties' firm users get a message in their own language (a lifecycle listener; the mail goes out
through the queue, so a mail problem never touches the agreement)."""

from __future__ import annotations

from sqlalchemy import select

from docmgr.accounts.models import User
from docmgr.drafting.models import SignatoryStatus
from docmgr.mail.services import compose_for_user
from docmgr.vocab import AgreementStatus, Role

NOTIFIED = {AgreementStatus.EXECUTED.value, AgreementStatus.DECLINED.value, AgreementStatus.EXPIRED.value}


def recipients(session, agreement) -> list[User]:
    """The drafting legal officer and the active firm users of every party, each once."""
    people: dict[int, User] = {}
    if agreement.created_by is not None and agreement.created_by.is_active:
        people[agreement.created_by.id] = agreement.created_by
    party_ids = list(agreement.party_ids)
    if party_ids:
        for user in session.scalars(select(User).where(User.organization_id.in_(party_ids),
                                                       User.role == Role.FIRM.value).order_by(User.id)):
            if user.is_active:
                people.setdefault(user.id, user)
    return list(people.values())


def notify_status(ctx, source: str, target: str) -> None:
    if target not in NOTIFIED:
        return
    agreement = ctx.agreement
    declined = [s for s in agreement.signatories if s.status == SignatoryStatus.DECLINED.value]
    reason = ctx.reason or (declined[0].decline_reason if declined else "") or ""
    for user in recipients(ctx.session, agreement):
        compose_for_user(ctx.session, "agreement_status", user, title=agreement.title, status=target,
                         reason=reason, agreement_id=agreement.id,
                         declined_by=declined[0].name if declined else "")
