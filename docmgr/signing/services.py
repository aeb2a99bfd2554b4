"""Invitations: personal signing links, the one-time code that opens them, revocation and locking.

* :func:`invite` (legal) makes a new link for a pending signatory of an agreement out for signature,
  revokes the signatory's earlier links and e-mails the link (``mail/invitation``) in the signatory's
  organisation's language. The token has 256 random bits; only its SHA-256 is stored.
* :func:`resolve` answers what a token is worth now: ``ok`` or why not (unknown, expired, revoked,
  locked, withdrawn — the agreement is no longer out for signature — or used — the signatory acted).
* :func:`send_code` e-mails a 6-digit one-time code (valid ``SIGNING_CODE_MINUTES``);
  :func:`check_code` accepts it once; ``SIGNING_CODE_TRIES`` wrong codes lock the link until legal
  sends a new invitation. Everything is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import Organization, User
from docmgr.accounts.permissions import require_staff
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.drafting.models import Agreement, Signatory, SignatoryStatus
from docmgr.errors import Conflict, Invalid
from docmgr.mail.services import compose, mail_language
from docmgr.signatures.lifecycle import SIGNING_STATUSES, has_turn
from docmgr.signatures.services import SignatoryActor, decline, get_signatory, record_signature
from docmgr.signing.models import SigningLink

LINK_STATES = ("ok", "unknown", "expired", "revoked", "locked", "withdrawn", "used")


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def signatory_language(session: Session, signatory: Signatory) -> str:
    org = session.get(Organization, signatory.organization_id)
    return mail_language({"IT": "it", "RU": "ru"}.get(((org.country if org else "") or "").upper()))


def live_links(session: Session, signatory_id: int) -> list[SigningLink]:
    return list(session.scalars(select(SigningLink).where(
        SigningLink.signatory_id == signatory_id, SigningLink.revoked_at.is_(None))))


def invite(session: Session, actor: User, agreement_id: int, signatory_id: int) -> tuple[SigningLink, str]:
    """A new personal link for the signatory (earlier ones revoked), e-mailed to them. Returns the link
    and its URL (shown once, to the legal officer who asked)."""
    signatory = get_signatory(session, actor, agreement_id, signatory_id)  # 404 first: say nothing of others' rows
    require_staff(actor)
    agreement = signatory.agreement
    if agreement.status not in SIGNING_STATUSES:
        raise Conflict(gettext("Invitations are sent only while the agreement is out for signature."),
                       code="not_out_for_signature")
    if signatory.status != SignatoryStatus.PENDING.value:
        raise Conflict(gettext("%(name)s has already acted on this agreement.", name=signatory.name),
                       code=f"signatory_{signatory.status}")
    if not signatory.email:
        raise Invalid(gettext("%(name)s has no e-mail address: add one to the signatory first.", name=signatory.name),
                      field="email", code="signatory_without_email")
    if not has_turn(agreement, signatory):
        raise Conflict(gettext("%(name)s signs at a later step: the invitation goes out when the earlier steps "
                               "have signed.", name=signatory.name), code="not_signatory_turn")
    link, url = issue_link(session, signatory, actor)
    record(session, actor, "signing.invited", link, agreement_id=agreement.id, signatory_id=signatory.id,
           email=signatory.email, expires_at=link.expires_at.isoformat())
    return link, url


def issue_link(session: Session, signatory: Signatory, sender: User, *, kind: str = "invitation",
               now: datetime | None = None, **context) -> tuple[SigningLink, str]:
    """A new personal link for the signatory (earlier ones revoked), e-mailed with the ``kind`` template
    (``invitation`` or ``reminder``). ``sender`` is the legal officer the link acts for."""
    agreement = signatory.agreement
    now = now or utcnow()
    for old in live_links(session, signatory.id):
        old.revoked_at = now
    secret = secrets.token_urlsafe(32)
    days = float(current_app.config["SIGNING_LINK_DAYS"])
    link = SigningLink(token_sha256=token_hash(secret), agreement_id=agreement.id, signatory_id=signatory.id,
                       created_by_id=sender.id, created_at=now, expires_at=now + timedelta(days=days),
                       code_sha256="", failed_codes=0)
    session.add(link)
    session.flush()
    url = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/sign/{secret}"
    compose(session, kind, signatory.email, to_name=signatory.name,
            language=signatory_language(session, signatory), url=url, title=agreement.title,
            expires_at=link.expires_at, sign_by=agreement.sign_by, **context)
    if kind == "invitation":
        signatory.invited_at = now
    else:
        signatory.reminded_at = now
    return link, url


def revoke(session: Session, actor: User, agreement_id: int, signatory_id: int) -> int:
    """Revoke the signatory's live links; returns how many."""
    signatory = get_signatory(session, actor, agreement_id, signatory_id)  # 404 first: say nothing of others' rows
    require_staff(actor)
    links = live_links(session, signatory.id)
    now = utcnow()
    for link in links:
        link.revoked_at = now
    record(session, actor, "signing.revoked", signatory, agreement_id=signatory.agreement_id, links=len(links))
    return len(links)


def resolve(session: Session, secret: str) -> tuple[SigningLink | None, str]:
    """The link a token names and its state (one of :data:`LINK_STATES`)."""
    if not secret or len(secret) > 100:
        return None, "unknown"
    link = session.scalar(select(SigningLink).where(SigningLink.token_sha256 == token_hash(secret)))
    if link is None:
        return None, "unknown"
    if link.revoked_at is not None:
        return link, "revoked"
    if link.locked_at is not None:
        return link, "locked"
    signatory = session.get(Signatory, link.signatory_id)
    agreement = session.get(Agreement, link.agreement_id)
    if signatory is None or agreement is None:
        return link, "unknown"
    if signatory.status != SignatoryStatus.PENDING.value:
        return link, "used"
    if agreement.status not in SIGNING_STATUSES:
        return link, "withdrawn"
    if link.expires_at <= utcnow():
        return link, "expired"
    return link, "ok"


def send_code(session: Session, link: SigningLink) -> None:
    """E-mail a fresh one-time code for the link (the previous code stops working)."""
    signatory = session.get(Signatory, link.signatory_id)
    code = f"{secrets.randbelow(10**6):06d}"
    minutes = float(current_app.config["SIGNING_CODE_MINUTES"])
    link.code_sha256 = token_hash(f"{link.id}:{code}")
    link.code_expires_at = utcnow() + timedelta(minutes=minutes)
    compose(session, "signing_code", signatory.email, to_name=signatory.name,
            language=signatory_language(session, signatory), code=code, minutes=int(minutes))
    record(session, None, "signing.code_sent", link, agreement_id=link.agreement_id, signatory_id=link.signatory_id)


def check_code(session: Session, link: SigningLink, code: str) -> bool:
    """True (and the code is spent) for the right, unexpired code; a wrong one counts, and the last
    allowed wrong one locks the link. The caller commits either way."""
    code = (code or "").strip()
    session.refresh(link, with_for_update=True)  # PostgreSQL: two guesses at once both count (a row lock)
    good = bool(link.code_sha256) and link.code_expires_at is not None and link.code_expires_at > utcnow()
    if good and hmac.compare_digest(link.code_sha256, token_hash(f"{link.id}:{code}")):
        link.code_sha256 = ""
        link.code_expires_at = None
        link.failed_codes = 0
        link.verified_at = utcnow()
        record(session, None, "signing.code_verified", link, agreement_id=link.agreement_id,
               signatory_id=link.signatory_id)
        return True
    link.failed_codes += 1
    if link.failed_codes >= int(current_app.config["SIGNING_CODE_TRIES"]):
        link.locked_at = utcnow()
        link.code_sha256 = ""
    record(session, None, "signing.code_refused", link, agreement_id=link.agreement_id,
           signatory_id=link.signatory_id, failed=link.failed_codes, locked=link.locked_at is not None)
    return False


# --- acting through a link ------------------------------------------------------------------------------------
# The link holder has no account: they act as the signatory (signatures.services.SignatoryActor), only on their
# own row, through the same services as the signature page (verification included). The audit entries name the
# signatory, the link, the address, the browser and when the one-time code was verified; a ``signing.via_link``
# entry after each action says which action it was.


def link_actor(session: Session, link: SigningLink, ip: str = "", user_agent: str = "") -> SignatoryActor:
    sender = session.get(User, link.created_by_id) if link.created_by_id else None
    if sender is None or not sender.is_active:
        raise Conflict(gettext("The invitation's sender can no longer act; ask the legal office for a new link."),
                       code="invitation_sender_inactive")
    return SignatoryActor(signatory_id=link.signatory_id, agreement_id=link.agreement_id, link_id=link.id, ip=ip,
                          user_agent=user_agent, code_verified_at=link.verified_at, sender=sender)


def link_holder(session: Session, link: SigningLink, ip: str = "", user_agent: str = "") -> SignatoryActor:
    """The link holder for an audit entry, whether or not the sender can still act."""
    return SignatoryActor(signatory_id=link.signatory_id, agreement_id=link.agreement_id, link_id=link.id, ip=ip,
                          user_agent=user_agent, code_verified_at=link.verified_at)


def record_via_link(session: Session, link: SigningLink, actor: SignatoryActor, action: str, **data) -> None:
    """The ``signing.via_link`` entry that follows an action through a link."""
    record(session, None, "signing.via_link", link, agreement_id=link.agreement_id, signatory_id=link.signatory_id,
           via=action, **actor.audit(), **data)


def upload_via_link(session: Session, link: SigningLink, *, stream, filename: str, method: str | None,
                    ip: str = "", user_agent: str = ""):
    """The signatory's signed PDF (verified exactly as on the signature page) or wet-ink scan."""
    actor = link_actor(session, link, ip, user_agent)
    outcome = record_signature(session, actor, link.agreement_id, link.signatory_id,
                               stream=stream, filename=filename, method=method)
    record_via_link(session, link, actor, "signature" if outcome.is_valid else "signature_rejected",
                    submission_id=outcome.submission.id, sha256=outcome.submission.sha256, method=method)
    return outcome


def decline_via_link(session: Session, link: SigningLink, reason: str | None, *, ip: str = "",
                     user_agent: str = "") -> Signatory:
    actor = link_actor(session, link, ip, user_agent)
    signatory = decline(session, actor, link.agreement_id, link.signatory_id, reason)
    record_via_link(session, link, actor, "decline", reason=signatory.decline_reason)
    return signatory


def invite_on_send(ctx, source: str, target: str) -> None:
    """A lifecycle listener: when an agreement goes out for signature, every pending signatory with an
    e-mail address whose turn it is gets a link (those without one are invited by hand once an address
    is added; in a sequential agreement the later steps when the earlier ones have signed)."""
    from docmgr.vocab import AgreementStatus

    if target != AgreementStatus.OUT_FOR_SIGNATURE.value or ctx.actor is None:
        return
    for signatory in ctx.agreement.signatories:
        if signatory.status == SignatoryStatus.PENDING.value and signatory.email and has_turn(ctx.agreement, signatory):
            invite(ctx.session, ctx.actor, ctx.agreement.id, signatory.id)
