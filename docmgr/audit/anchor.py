"""Anchors of the audit chain outside the database, so that an insider who can write the database cannot
quietly rewrite the trail.

* **Seal of every link.** Each entry carries ``mac`` = HMAC-SHA256(key, "id:hash"). The entry's hash covers
  its content and the previous entry's hash, so the seal authenticates the whole chain up to it. The key is
  never in the database: ``DOCMGR_AUDIT_KEY``, or a file ``audit_key`` (0600) in the storage folder. Whoever
  rewrites a row and recomputes the hashes cannot recompute the seals.
* **Heads file.** After each commit that added entries, the new head (id, hash, seal) is appended as one JSON
  line to an append-only file (``AUDIT_HEADS_PATH``, default ``storage/audit_heads.jsonl``). Deleting the last
  rows leaves a head there that the database no longer holds.
* **Heads seen earlier.** Every export and completion certificate prints the head; ``docmgr check --head HASH``
  confirms that the chain still holds it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.audit.models import AuditEvent
from docmgr.config import _secret_key
from docmgr.database import utcnow

_PENDING = "docmgr_audit_heads"  # session.info key: heads to append once the transaction commits


def audit_key() -> bytes:
    """The instance's audit key (never stored in the database): ``AUDIT_KEY``, else the storage folder's
    ``audit_key`` file, made once (0600) on first use."""
    if not current_app.config.get("AUDIT_KEY"):
        current_app.config["AUDIT_KEY"] = _secret_key(Path(current_app.config["STORAGE_DIR"]), "audit_key")
    return str(current_app.config["AUDIT_KEY"]).encode("utf-8")


def heads_path() -> Path:
    return Path(current_app.config["AUDIT_HEADS_PATH"])


def link_mac(event_id: int, event_hash: str, key: bytes | None = None) -> str:
    """The seal of one link: HMAC-SHA256 over its position and hash."""
    return hmac.new(key if key is not None else audit_key(), f"{event_id}:{event_hash}".encode(), hashlib.sha256).hexdigest()


def seal(session: Session, event: AuditEvent) -> None:
    """Seal a new entry and remember it as the head to append once its transaction commits."""
    event.mac = link_mac(event.id, event.hash)
    session.info.setdefault(_PENDING, []).append((heads_path(), event.id, event.hash, event.mac))


def reseal_all(session: Session, *, only_unsealed: bool = False) -> int:
    """Seal every entry again with this instance's key (after a verified import from another instance), or,
    with ``only_unsealed``, the entries written before seals existed (``docmgr seal-audit`` after an upgrade).
    Returns how many entries were sealed."""
    key = audit_key()
    count = 0
    last: AuditEvent | None = None
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        last = event
        if only_unsealed and event.mac is not None:
            continue
        event.mac = link_mac(event.id, event.hash, key)
        count += 1
    if last is not None:
        session.info.setdefault(_PENDING, []).append((heads_path(), last.id, last.hash, last.mac))
    return count


def set_heads_aside() -> Path | None:
    """Before an import replaces the whole chain: the old heads file is renamed (kept, not deleted), and the
    restored chain's head starts a new one."""
    path = heads_path()
    if not path.exists():
        return None
    aside = path.with_name(f"{path.name}.before-import-{utcnow().strftime('%Y%m%dT%H%M%S%f')}")
    os.replace(path, aside)
    return aside


def _append_head(path: Path, event_id: int, event_hash: str, mac: str) -> None:
    """One line, appended with O_APPEND (a single write: lines from several workers never interleave)."""
    line = json.dumps({"id": event_id, "hash": event_hash, "mac": mac, "at": utcnow().isoformat()}) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        path, event_id, event_hash, mac = pending[-1]  # the last entry of the transaction is the head
        _append_head(path, event_id, event_hash, mac)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def read_heads(path: Path | None = None) -> list[dict[str, Any]]:
    """The recorded heads; a line that cannot be read is returned as ``{"line": n, "unreadable": True}``."""
    path = path or heads_path()
    heads: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return heads
    for number, line in enumerate(lines, 1):
        try:
            head = json.loads(line)
            heads.append({"line": number, "id": int(head["id"]), "hash": str(head["hash"]), "mac": str(head["mac"])})
        except (ValueError, KeyError, TypeError):
            heads.append({"line": number, "unreadable": True})
    return heads


def link_problems(event: AuditEvent, key: bytes) -> list[dict[str, Any]]:
    """A problem when the entry's seal is missing or wrong: it was written without the key."""
    if event.mac and hmac.compare_digest(event.mac, link_mac(event.id, event.hash, key)):
        return []
    return [{"id": event.id, "problem": "unsealed",
             "message": f"entry {event.id} has no valid seal (written or re-hashed without the audit key)"}]


def head_problems(hashes: dict[int, str], key: bytes, heads: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every recorded head must still be in the chain, unchanged. ``hashes``: id → hash of the chain."""
    problems: list[dict[str, Any]] = []
    last_id = max(hashes, default=0)
    for head in heads:
        if head.get("unreadable"):
            problems.append({"id": None, "problem": "heads_file_damaged",
                             "message": f"line {head['line']} of the heads file cannot be read"})
            continue
        if not hmac.compare_digest(head["mac"], link_mac(head["id"], head["hash"], key)):
            problems.append({"id": head["id"], "problem": "forged_head",
                             "message": f"line {head['line']} of the heads file has no valid seal"})
        elif head["id"] > last_id:
            problems.append({"id": head["id"], "problem": "truncated",
                             "message": f"the chain ends at entry {last_id}, but entry {head['id']} was recorded "
                                        "as its head: entries were removed from the end"})
        elif hashes.get(head["id"]) != head["hash"]:
            problems.append({"id": head["id"], "problem": "rewritten",
                             "message": f"entry {head['id']} is not the one recorded as the chain's head "
                                        "(the chain was rewritten)"})
    return problems


def check_head(session: Session, value: str) -> list[dict[str, Any]]:
    """A head seen earlier (``HASH`` or ``ID:HASH``, from an export or a certificate) must still be in the chain."""
    event_id, _, event_hash = value.strip().lower().rpartition(":")
    query = select(AuditEvent.id, AuditEvent.hash).where(AuditEvent.hash == event_hash)
    found = session.execute(query).first()
    if found is None or (event_id and str(found.id) != event_id):
        return [{"id": int(event_id) if event_id.isdigit() else None, "problem": "head_not_found",
                 "message": f"the head {value.strip()} seen earlier is not in the chain (rewritten or truncated)"}]
    return []


def current_head(session: Session) -> dict[str, Any] | None:
    """The chain's last entry as printed in exports and certificates: id, hash and seal."""
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash, AuditEvent.mac).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return None if last is None else {"id": last.id, "hash": last.hash, "mac": last.mac}


