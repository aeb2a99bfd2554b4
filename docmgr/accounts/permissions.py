"""Who may do what: roles and visibility rules, in one place.

* Admins, legal staff and the ministry read everything; a firm user reads its organisation's
  documents, the documents shared with it, and the agreements it is a party to.
* Everyone but the ministry writes (the ministry reads only); a firm changes only its own documents.
* Admins and legal staff ("staff") draft agreements, move them through their lifecycle and record
  signatures for any party; a firm records signatures for its own signatories only.
* The audit log and the task-force figures are for admins, legal staff and the ministry.

Services call these before they change or show anything; pages ask the same functions (they are
template globals under ``permissions``) so a button never offers what the service would refuse.
Refusals raise ``docmgr.errors``; "not yours" is answered like "missing" by the callers, so
nothing leaks.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import object_session

from docmgr.accounts.models import User
from docmgr.documents.models import Document, DocumentShare
from docmgr.drafting.models import Agreement, Signatory, agreement_parties, agreement_proposals
from docmgr.errors import Conflict, Forbidden, Unauthorized
from docmgr.vocab import READS_EVERYTHING_ROLES, STAFF_ROLES, WRITER_ROLES, AgreementStatus, Role

# --- roles ---------------------------------------------------------------------------------------


def require_role(actor: User | None, *roles: Role | str) -> User:
    """``actor`` if their role is one of ``roles``; 401 for nobody, 403 for another role."""
    if actor is None:
        raise Unauthorized(gettext("Please log in."), code="not_authenticated")
    allowed = {r.value if isinstance(r, Role) else r for r in roles}
    if actor.role not in allowed:
        raise Forbidden(gettext("Your role does not allow this action."), code="forbidden_role")
    return actor


def require_admin(actor: User | None) -> User:
    return require_role(actor, Role.ADMIN)


def is_staff(actor: User | None) -> bool:
    """Admins and legal staff: they draft agreements and act for every party."""
    return getattr(actor, "role", None) in STAFF_ROLES  # None or anonymous: no


def require_staff(actor: User | None) -> User:
    """Legal staff and admins draft and edit; everyone else gets 403 (the ministry included)."""
    return require_role(actor, *STAFF_ROLES)


def can_write(actor: User | None) -> bool:
    """Everyone but the ministry may change things (each within their own rules)."""
    return getattr(actor, "role", None) in WRITER_ROLES  # None or anonymous: no


def require_writer(actor: User | None) -> User:
    return require_role(actor, *WRITER_ROLES)


def sees_everything(actor: User | None) -> bool:
    """Admins, legal staff and the ministry read every document and agreement."""
    return getattr(actor, "role", None) in READS_EVERYTHING_ROLES  # None or anonymous: no


def reader_org_ids(actor: User) -> frozenset[int] | None:
    """The organisations whose documents ``actor`` reads: None for all, empty for none."""
    if sees_everything(actor):
        return None
    return frozenset() if actor.organization_id is None else frozenset({actor.organization_id})


# --- documents -----------------------------------------------------------------------------------


def document_visibility_clause(actor: User) -> Any:
    """The SQL condition for documents ``actor`` may read (None: everything)."""
    orgs = reader_org_ids(actor)
    if orgs is None:
        return None
    if not orgs:
        return Document.id.is_(None)  # nothing
    shared = exists().where(DocumentShare.document_id == Document.id, DocumentShare.organization_id.in_(orgs))
    return or_(Document.organization_id.in_(orgs), shared)


def can_read_document(actor: User, document: Document) -> bool:
    if document.deleted_at is not None:  # in the trash: only the trash page shows it
        return False
    orgs = reader_org_ids(actor)
    return orgs is None or bool(orgs & set(document.reader_organization_ids))


def executed_agreement_citing(document: Document) -> Agreement | None:
    """The executed agreement that lists ``document`` among its proposals, if any: what the parties signed
    refers to it, so it never changes and is never deleted."""
    session = object_session(document)
    if session is None or document.id is None:
        return None
    return session.scalar(
        select(Agreement).join(agreement_proposals, agreement_proposals.c.agreement_id == Agreement.id)
        .where(agreement_proposals.c.document_id == document.id, Agreement.status == AgreementStatus.EXECUTED.value)
        .order_by(Agreement.id).limit(1)
    )


def can_change_document(actor: User | None, document: Document) -> bool:
    """Writers may change documents; a firm only those its organisation owns (shared ones it reads). Nobody
    changes a sealed document (the executed copy of an agreement) or one an executed agreement cites."""
    if not can_write(actor) or document.sealed_at is not None or document.deleted_at is not None:
        return False
    if executed_agreement_citing(document) is not None:
        return False
    assert actor is not None
    return actor.role != Role.FIRM.value or document.organization_id == actor.organization_id


def require_can_change_document(actor: User | None, document: Document) -> None:
    require_writer(actor)
    if document.sealed_at is not None:
        # Security (issue 12): nobody adds a version to, or retitles, what the parties signed.
        raise Conflict(
            gettext("This is the executed copy of a signed agreement: its files and details cannot change. "
                    "Corrections need a new agreement or an addendum."),
            code="document_sealed",
        )
    cited_by = executed_agreement_citing(document)
    if cited_by is not None:
        raise Conflict(
            gettext("This document is part of the executed agreement “%(title)s”: what the parties signed refers "
                    "to it, so it can never be changed or deleted.", title=cited_by.title),
            code="document_in_executed_agreement",
        )
    if not can_change_document(actor, document):
        # Shared with the firm (an agreement it is party to) but not its own: it reads, not writes.
        raise Forbidden(gettext("Only the owning organisation or legal staff can change this document."))


# --- agreements ----------------------------------------------------------------------------------


def agreement_visibility_clause(actor: User) -> Any:
    """The SQL condition for agreements ``actor`` may read (None: everything)."""
    orgs = reader_org_ids(actor)
    if orgs is None:
        return None
    if not orgs:
        return Agreement.id.is_(None)
    return exists().where(
        agreement_parties.c.agreement_id == Agreement.id, agreement_parties.c.organization_id.in_(orgs)
    )


def can_read_agreement(actor: User, agreement: Agreement) -> bool:
    orgs = reader_org_ids(actor)
    return orgs is None or bool(orgs & agreement.party_ids)


def may_sign_for(actor: User, signatory: Signatory) -> bool:
    """Whether ``actor`` records signatures and declines for ``signatory`` (and the page offers it)."""
    if actor.role == Role.FIRM.value:
        return actor.organization_id == signatory.organization_id
    return is_staff(actor)


def require_can_sign_for(actor: User, signatory: Signatory) -> None:
    if actor.role == Role.FIRM.value:
        if actor.organization_id != signatory.organization_id:
            raise Forbidden(
                gettext("Firm users record signatures and declines for their own organisation's signatories only."),
                code="not_your_signatory",
            )
        return
    require_staff(actor)


# --- audit log and figures -----------------------------------------------------------------------


def can_read_audit(actor: User | None) -> bool:
    """The whole audit log (and the task-force figures) are for admins, legal staff and the ministry.
    An agreement's own events are for whoever reads the agreement."""
    return sees_everything(actor)


def require_audit_reader(actor: User | None) -> User:
    return require_role(actor, *READS_EVERYTHING_ROLES)


def can_read_figures(actor: User | None) -> bool:
    return sees_everything(actor)


def require_figures_reader(actor: User | None) -> User:
    return require_role(actor, *READS_EVERYTHING_ROLES)
