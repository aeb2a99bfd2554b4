"""The figures the task force reports per session, and the dashboard of legal staff and the ministry.

Definitions (shown on the dashboard and returned by the API, so nobody has to guess):

* proposals — documents of kind "proposal";
* partnership projects — agreements under way or concluded: every agreement that is not
  withdrawn, declined or expired (a proposal becomes a project once an agreement is drafted for it);
* agreements signed — agreements whose status is "executed".

Only legal staff, administrators and the ministry see these task-force-wide figures; firm users get
403 (they see their own agreements on the agreements pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session, selectinload

from docmgr.accounts.models import COUNTRIES, Organization, User
from docmgr.accounts.permissions import require_figures_reader
from docmgr.database import utcnow
from docmgr.documents.models import Document, DocumentKind, TaskForceSession
from docmgr.drafting.models import Agreement, AgreementStatus, Signatory, SignatoryStatus, agreement_parties
from docmgr.errors import Invalid
from docmgr.signatures.lifecycle import SIGNING_STATUSES, STATUSES

NOT_PROJECTS = frozenset({AgreementStatus.WITHDRAWN.value, AgreementStatus.DECLINED.value, AgreementStatus.EXPIRED.value})
DEFINITIONS = {
    "proposals": "documents of kind 'proposal'",
    "partnership_projects": "agreements that are not withdrawn, declined or expired (in preparation, out for signature or executed)",
    "agreements_signed": "agreements with status 'executed'",
    "organizations_by_country": "all organisations; with session_id, those with a proposal or an agreement in that session",
}


def _check_session(session: Session, session_id: int | None) -> TaskForceSession | None:
    if session_id is None:
        return None
    forum_session = session.get(TaskForceSession, session_id)
    if forum_session is None:
        raise Invalid(gettext("No such task-force session."), field="session_id")
    return forum_session


def _agreements_by_status(session: Session, session_id: int | None) -> dict[str, int]:
    query = select(Agreement.status, func.count()).group_by(Agreement.status)
    if session_id is not None:
        query = query.where(Agreement.session_id == session_id)
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(query):
        counts[status] = count
    return counts


def _proposal_count(session: Session, session_id: int | None) -> int:
    query = select(func.count()).select_from(Document).where(
        Document.kind == DocumentKind.PROPOSAL.value, Document.deleted_at.is_(None))  # not those in the trash
    if session_id is not None:
        query = query.where(Document.session_id == session_id)
    return session.scalar(query) or 0


def _organizations_by_country(session: Session, session_id: int | None) -> dict[str, int]:
    query = select(Organization.country, func.count()).group_by(Organization.country)
    if session_id is not None:
        involved = union(
            select(Document.organization_id.label("org_id")).where(Document.session_id == session_id),
            select(agreement_parties.c.organization_id.label("org_id"))
            .join(Agreement, Agreement.id == agreement_parties.c.agreement_id)
            .where(Agreement.session_id == session_id),
        ).subquery()
        query = query.where(Organization.id.in_(select(involved.c.org_id)))
    counts = dict.fromkeys(COUNTRIES, 0)
    for country, count in session.execute(query):
        counts[country] = count
    return counts


def _figures(session: Session, session_id: int | None) -> dict:
    by_status = _agreements_by_status(session, session_id)
    return {
        "session_id": session_id,
        "proposals": _proposal_count(session, session_id),
        "partnership_projects": sum(n for status, n in by_status.items() if status not in NOT_PROJECTS),
        "agreements_signed": by_status[AgreementStatus.EXECUTED.value],
        "agreements_total": sum(by_status.values()),
        "agreements_by_status": by_status,
        "organizations_by_country": _organizations_by_country(session, session_id),
    }


def task_force_figures(session: Session, actor: User, session_id: int | None = None) -> dict:
    """``GET /stats``: counts of proposals, agreements by status and organisations by country."""
    require_figures_reader(actor)
    _check_session(session, session_id)
    figures = _figures(session, session_id)
    figures["definitions"] = DEFINITIONS
    return figures


# --- the dashboard ---------------------------------------------------------------------------------


@dataclass
class WaitingSignature:
    signatory: Signatory
    agreement: Agreement
    is_overdue: bool


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    series: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    groups: list[tuple[float, str]]  # (x of the label, session name)
    baseline: float
    top: int


SERIES = ("proposals", "partnership_projects", "agreements_signed")


def bar_chart(rows: list[tuple[str, dict]], height: int = 220) -> Chart:
    """Geometry of a grouped bar chart (one group per session, one bar per series), drawn as SVG
    by the template: no script, no external asset."""
    bar_width, gap, group_gap, margin_top, margin_bottom = 22, 4, 30, 16, 40
    top = max([1] + [figures[s] for _, figures in rows for s in SERIES])
    plot = height - margin_top - margin_bottom
    bars, groups = [], []
    x = 10.0
    for name, figures in rows:
        start = x
        for series in SERIES:
            value = figures[series]
            h = plot * value / top
            bars.append(Bar(x, margin_top + plot - h, bar_width, h, value, series))
            x += bar_width + gap
        groups.append(((start + x - gap) / 2, name))
        x += group_gap
    return Chart(int(max(x, 200)), height, bars, groups, margin_top + plot, top)


def dashboard(session: Session, actor: User, session_id: int | None = None) -> dict:
    require_figures_reader(actor)
    selected = _check_session(session, session_id)
    forum_sessions = list(session.scalars(select(TaskForceSession).order_by(TaskForceSession.starts_on)))
    per_session = [(s, _figures(session, s.id)) for s in forum_sessions]
    now: datetime = utcnow()

    agreements_query = select(Agreement).options(
        selectinload(Agreement.signatories).selectinload(Signatory.organization), selectinload(Agreement.session)
    ).order_by(Agreement.id.desc())
    if session_id is not None:
        agreements_query = agreements_query.where(Agreement.session_id == session_id)
    agreements = list(session.scalars(agreements_query))
    by_status: dict[str, list[Agreement]] = {status: [] for status in STATUSES}
    for agreement in agreements:
        by_status.setdefault(agreement.status, []).append(agreement)

    waiting = [
        WaitingSignature(s, a, s.due_at is not None and s.due_at < now)
        for a in agreements if a.status in SIGNING_STATUSES
        for s in a.signatories if s.status == SignatoryStatus.PENDING.value
    ]
    waiting.sort(key=lambda w: (not w.is_overdue, w.signatory.due_at or datetime.max.replace(tzinfo=now.tzinfo), w.agreement.id))
    return {
        "selected": selected,
        "sessions": forum_sessions,
        "figures": _figures(session, session_id),
        "per_session": per_session,
        "chart": bar_chart([(s.name, figures) for s, figures in per_session]),
        "by_status": by_status,
        "waiting": waiting,
        "overdue_count": sum(1 for w in waiting if w.is_overdue),
        "definitions": DEFINITIONS,
    }
