"""Recording and verifying the audit chain.

Each entry's hash covers its own position (id), time, actor, action, object, data and the previous
entry's hash, so an edited, removed or reordered entry breaks the chain at a place we can name.
Services call ``record`` explicitly, in the same transaction as the change it describes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit import anchor
from docmgr.audit.models import AuditEvent
from docmgr.database import serialize_writers, utcnow

GENESIS = "0" * 64


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def compute_hash(event: AuditEvent) -> str:
    payload = _canonical(
        {
            "id": event.id,
            "created_at": event.created_at.isoformat(),
            "actor_id": event.actor_id,
            "actor_email": event.actor_email,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "agreement_id": event.agreement_id,
            "data": event.data,
            "prev_hash": event.prev_hash,
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: User | None,
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    agreement_id: int | None = None,
    **data: Any,
) -> AuditEvent:
    """Append one event. ``obj`` (a model instance) fills object_type and object_id."""
    if obj is not None:
        session.flush()
        object_type = object_type or obj.__class__.__name__
        object_id = object_id if object_id is not None else obj.id
    serialize_writers(session, "audit.chain")  # one next link at a time (PostgreSQL; SQLite's write lock already)
    last = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    event = AuditEvent(
        id=(last.id + 1) if last else 1,
        created_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else "",
        action=action,
        object_type=object_type or "",
        object_id=object_id,
        agreement_id=agreement_id,
        data=_canonical(data),
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = compute_hash(event)
    anchor.seal(session, event)
    session.add(event)
    session.flush()
    return event


@dataclass
class ChainReport:
    ok: bool
    events: int
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "problems": self.problems}


def verify_chain(session: Session, *, seals: bool = True, heads: bool = True) -> ChainReport:
    """Walk the chain in order; name every entry that was edited, and every gap or reordering. With ``seals``,
    every entry's HMAC is checked with this instance's key; with ``heads``, every head recorded in the heads
    file must still be in the chain (truncation and re-hashing are found this way: docmgr.audit.anchor)."""
    problems: list[dict[str, Any]] = []
    expected_prev = GENESIS
    expected_id = 1
    count = 0
    key = anchor.audit_key() if seals or heads else b""
    hashes: dict[int, str] = {}
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        count += 1
        if heads:
            hashes[event.id] = event.hash
        if seals:
            problems += anchor.link_problems(event, key)
        if event.id != expected_id:
            problems.append(
                {"id": event.id, "problem": "missing_entries", "message": f"entries {expected_id}..{event.id - 1} are missing"}
            )
        if event.prev_hash != expected_prev:
            problems.append(
                {"id": event.id, "problem": "broken_link", "message": f"entry {event.id} does not follow the entry before it (removed or reordered)"}
            )
        if compute_hash(event) != event.hash:
            problems.append({"id": event.id, "problem": "altered", "message": f"entry {event.id} was altered"})
        expected_prev = event.hash
        expected_id = event.id + 1
    if heads:
        problems += anchor.head_problems(hashes, key, anchor.read_heads())
    return ChainReport(ok=not problems, events=count, problems=problems)


# --- reading and exporting (added with the signatures module) --------------------------------------

EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_COLUMNS = (
    "id", "created_at", "actor_id", "actor_email", "action", "object_type", "object_id", "agreement_id", "data",
    "prev_hash", "hash", "mac",
)
HEAD_MARK = "audit_head"  # the last line (JSON) or row (CSV) of an export: the chain's head when it was made


def event_dict(event: AuditEvent, *, raw_data: bool = False) -> dict[str, Any]:
    """One event as JSON. ``raw_data`` keeps ``data`` as the exact canonical string that was hashed,
    so an exported log can be re-verified outside docmgr."""
    created_at = event.created_at.isoformat()
    return {
        "id": event.id,
        "created_at": created_at if raw_data else created_at.replace("+00:00", "Z"),
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "agreement_id": event.agreement_id,
        "data": event.data if raw_data else json.loads(event.data or "{}"),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "mac": event.mac,
    }


def iter_events(session: Session, agreement_id: int | None = None, up_to: int | None = None):
    query = select(AuditEvent).order_by(AuditEvent.id)
    if up_to is not None:
        query = query.where(AuditEvent.id <= up_to)
    if agreement_id is not None:
        query = query.where(AuditEvent.agreement_id == agreement_id)
    return session.scalars(query.execution_options(yield_per=1000))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula: text starting with = + - @, a tab or a carriage
    return gets a leading apostrophe (OWASP's advice). Numbers are left alone. (JSON lines are the format to
    re-verify the chain with: there every field is exactly as hashed.)"""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_lines(session: Session, fmt: str, agreement_id: int | None = None):
    """The log as JSON lines or CSV, one event per line, with the hashed fields exactly as stored
    (``created_at`` in ISO form, ``data`` as its canonical JSON string). The last line is the chain's head
    at the time of the export (``{"audit_head": {"id", "hash", "mac"}}``; in CSV a row whose id is
    ``audit_head``), which ``docmgr check --head HASH`` confirms later."""
    import csv
    import io

    head = anchor.current_head(session) or {"id": 0, "hash": GENESIS, "mac": None}
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        yield buffer.getvalue()
        for event in iter_events(session, agreement_id, head["id"]):
            buffer.seek(0)
            buffer.truncate()
            row = event_dict(event, raw_data=True)
            writer.writerow([csv_cell("" if row[c] is None else row[c]) for c in EXPORT_COLUMNS])
            yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        trailer = {"id": HEAD_MARK, "object_id": head["id"], "hash": head["hash"], "data": _canonical({"mac": head["mac"]})}
        writer.writerow([trailer.get(c, "") for c in EXPORT_COLUMNS])
        yield buffer.getvalue()
    else:
        for event in iter_events(session, agreement_id, head["id"]):
            yield _canonical(event_dict(event, raw_data=True)) + "\n"
        yield _canonical({HEAD_MARK: head}) + "\n"
