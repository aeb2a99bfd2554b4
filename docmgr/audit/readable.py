"""The audit log for people: filtered, paginated, each entry in words.

An entry names its actor by id and its object by class name and id; here they become names (the
user's name or e-mail, the document's title…), the action becomes its label from
``docmgr.vocab.AUDIT_ACTION_LABELS``, and a status change becomes "from → to". Object classes are
found through the models' registry by the name ``audit.record`` stored, so this module imports no
other domain package (the audit log sits below all of them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.accounts.permissions import require_audit_reader
from docmgr.audit.models import AuditEvent
from docmgr.database import Base
from docmgr.errors import Invalid
from docmgr.vocab import AGREEMENT_STATUS_LABELS, AUDIT_ACTION_LABELS, AUDIT_OBJECT_LABELS

MAX_PER_PAGE = 200
# Attributes that name an object, in order of preference.
_NAME_ATTRIBUTES = ("name", "title", "title_it", "filename", "email", "key", "url")
# Data keys that hold a status change (agreement transitions).
_STATUS_CHANGE = ("from_status", "to_status")


@dataclass
class AuditFilter:
    """What the reader asked for; every part optional."""

    actor_id: int | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 50

    def is_empty(self) -> bool:
        return not any((self.actor_id, self.action, self.object_type, self.object_id, self.date_from, self.date_to))


@dataclass
class ReadableEvent:
    event: AuditEvent
    action_label: str
    actor_name: str
    object_label: str
    object_name: str
    status_from: str | None = None
    status_to: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 1:
        raise Invalid(gettext("Choose a value from the list."), field=name)
    return number


def _date(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise Invalid(gettext("Give a date as YYYY-MM-DD."), field=name) from None


def parse_filter(args: Any) -> AuditFilter:
    """The filter from query arguments (a page's or the API's), refusing values that are not ids, dates or
    known actions, with the field named."""
    action = (args.get("action") or "").strip() or None
    if action is not None and action not in AUDIT_ACTION_LABELS:
        raise Invalid(gettext("Choose a value from the list."), field="action")
    object_type = (args.get("object_type") or "").strip() or None
    if object_type is not None and object_type not in AUDIT_OBJECT_LABELS:
        raise Invalid(gettext("Choose a value from the list."), field="object_type")
    audit_filter = AuditFilter(
        actor_id=_int(args.get("actor_id"), "actor_id"), action=action, object_type=object_type,
        object_id=_int(args.get("object_id"), "object_id"),
        date_from=_date(args.get("date_from"), "date_from"), date_to=_date(args.get("date_to"), "date_to"),
        page=_int(args.get("page"), "page") or 1, per_page=min(_int(args.get("per_page"), "per_page") or 50, MAX_PER_PAGE),
    )
    if audit_filter.date_from and audit_filter.date_to and audit_filter.date_from > audit_filter.date_to:
        raise Invalid(gettext("The start date is after the end date."), field="date_to")
    return audit_filter


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def search_events(session: Session, actor: User, audit_filter: AuditFilter) -> tuple[list[AuditEvent], int]:
    """One page of the events that match, newest first, and how many match. Audit readers only (as the
    whole log always was)."""
    require_audit_reader(actor)
    conditions = []
    if audit_filter.actor_id is not None:
        conditions.append(AuditEvent.actor_id == audit_filter.actor_id)
    if audit_filter.action is not None:
        conditions.append(AuditEvent.action == audit_filter.action)
    if audit_filter.object_type is not None:
        conditions.append(AuditEvent.object_type == audit_filter.object_type)
    if audit_filter.object_id is not None:
        conditions.append(AuditEvent.object_id == audit_filter.object_id)
    if audit_filter.date_from is not None:
        conditions.append(AuditEvent.created_at >= _day_start(audit_filter.date_from))
    if audit_filter.date_to is not None:  # the whole last day
        conditions.append(AuditEvent.created_at < _day_start(audit_filter.date_to + timedelta(days=1)))
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    events = list(session.scalars(
        select(AuditEvent).where(*conditions).order_by(AuditEvent.id.desc())
        .offset((audit_filter.page - 1) * audit_filter.per_page).limit(audit_filter.per_page)
    ))
    return events, total


def _model(class_name: str) -> type | None:
    for mapper in Base.registry.mappers:
        if mapper.class_.__name__ == class_name:
            return mapper.class_
    return None


def _name_of(obj: Any) -> str:
    if isinstance(obj, User):
        return obj.name or obj.email
    for attribute in _NAME_ATTRIBUTES:
        value = getattr(obj, attribute, None)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def object_names(session: Session, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """(class name, id) → a human name, one query per class."""
    by_type: dict[str, set[int]] = {}
    for object_type, object_id in pairs:
        by_type.setdefault(object_type, set()).add(object_id)
    names: dict[tuple[str, int], str] = {}
    for object_type, ids in by_type.items():
        model = _model(object_type)
        if model is None or not hasattr(model, "id"):
            continue
        for obj in session.scalars(select(model).where(model.id.in_(ids))):
            names[(object_type, obj.id)] = _name_of(obj)
    return names


def action_label(action: str) -> str:
    label = AUDIT_ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def describe(session: Session, events: list[AuditEvent]) -> list[ReadableEvent]:
    """Each event in words: who by name, what by label, which object by name, status from → to."""
    actor_ids = {e.actor_id for e in events if e.actor_id}
    people = {u.id: u.name or u.email for u in session.scalars(select(User).where(User.id.in_(actor_ids)))} if actor_ids else {}
    names = object_names(session, {(e.object_type, e.object_id) for e in events if e.object_type and e.object_id})
    readable = []
    for event in events:
        data = json.loads(event.data or "{}")
        status_from, status_to = (data.get(k) for k in _STATUS_CHANGE)
        if event.actor_id:
            who = people.get(event.actor_id) or event.actor_email
        else:
            who = gettext("system")
        object_label = AUDIT_OBJECT_LABELS.get(event.object_type)
        object_name = names.get((event.object_type, event.object_id or 0), "")
        if not object_name and event.object_id:
            object_name = f"#{event.object_id}"
        readable.append(ReadableEvent(
            event=event, action_label=action_label(event.action), actor_name=who,
            object_label=str(object_label) if object_label is not None else event.object_type,
            object_name=object_name,
            status_from=str(AGREEMENT_STATUS_LABELS.get(status_from, status_from)) if status_from else None,
            status_to=str(AGREEMENT_STATUS_LABELS.get(status_to, status_to)) if status_to else None,
            details={k: v for k, v in data.items() if k not in _STATUS_CHANGE},
        ))
    return readable


def people_for_filter(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name, User.email)))
