"""Rebuilding the whole index from the database (`reindex`, `init` after an upgrade) and `docmgr check`'s
comparison of the index with the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Flask, g
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.database import utcnow
from docmgr.extensions import db
from docmgr.search.engine import IndexEntry
from docmgr.search.indexers import INDEX_TASK, build_entry, get_engine, registered_types, state
from docmgr.tasks.models import OutboxStatus, OutboxTask


def expected_entries(session) -> Iterator[IndexEntry]:
    """Everything the index should hold, from the database, for every type that can list its ids."""
    indexers = state().indexers
    for object_type in registered_types():
        registration = indexers[object_type]
        if registration.all_ids is None:
            continue
        for object_id in list(registration.all_ids(session)):
            entry = build_entry(session, object_type, object_id)
            if entry is not None:
                yield entry
            session.expunge_all()


def _pending_objects(session) -> set[str]:
    """object keys ("document:3") with index work still pending in the outbox."""
    rows = session.scalars(select(OutboxTask.args).where(
        OutboxTask.task == INDEX_TASK, OutboxTask.status == OutboxStatus.PENDING.value))
    return {f"{args.get('object_type')}:{args.get('object_id')}" for args in rows}


def check_index(echo: Callable[[str], None]) -> int:
    """`docmgr check`: entries missing from the index, stale (the index holds an older version), or left
    in the index for objects gone from the database. Objects whose index work is still pending in the
    queue (and not yet overdue: the queue's own check reports that) count as pending, not as problems."""
    engine = get_engine()
    indexed = engine.doc_ids()
    expected: dict[str, IndexEntry] = {}
    g.docmgr_read_only = True  # a read transaction: it takes no write lock (nor waits for one)
    try:
        with Session(db.engine) as session:  # its own session: expected_entries() expunges as it goes
            for entry in expected_entries(session):
                current = expected.get(entry.uid)
                if current is None or entry.object_id > current.object_id:
                    expected[entry.uid] = entry
            queued = _pending_objects(session)
    finally:
        g.docmgr_read_only = False
    indexers = state().indexers
    checked_types = {t for t in registered_types() if indexers[t].all_ids is not None}
    problems = pending = 0
    for uid, entry in sorted(expected.items()):
        found = indexed.get(uid)
        if found is not None and found["stamp"] == entry.stamp and found["object_key"] == entry.object_key:
            continue
        if entry.object_key in queued:
            pending += 1
            continue
        problems += 1
        echo(f"index: {entry.object_key} is {'missing from' if found is None else 'stale in'} the index")
    for uid, found in sorted(indexed.items()):
        if uid in expected or found.get("doctype") not in checked_types:
            continue
        if found.get("object_key") in queued:
            pending += 1
            continue
        problems += 1
        echo(f"index: {found.get('object_key') or uid} is in the index but no longer in the database")
    echo(f"index: {len(expected)} entr(ies) expected, {len(indexed)} indexed, {pending} pending, {problems} problem(s)")
    return problems


def reindex(app: Flask | None = None, *, procs: int = 1, limitmb: int = 256) -> int:
    """Rebuild the whole index from the database into a fresh generation, then swap it in. Searches keep
    answering from the old generation meanwhile. The one-writer lock is held throughout, so index work
    committed during the rebuild waits and is applied right after the swap (it re-reads the database)."""
    engine = get_engine(app)
    caller = db.session()
    if not (caller.new or caller.dirty or caller.deleted):
        caller.rollback()  # a caller's read transaction must not hold the write lock we need below
    with engine.drain_lock(blocking=True), Session(db.engine) as session:
        g.docmgr_read_only = True  # one read transaction (no write lock): the snapshot the index is built from
        try:
            covered = list(session.scalars(select(OutboxTask.id).where(
                OutboxTask.task == INDEX_TASK, OutboxTask.status == OutboxStatus.PENDING.value)))
            count = engine.rebuild(expected_entries(session), procs=procs, limitmb=limitmb)
        finally:
            session.rollback()
            g.docmgr_read_only = False
        # Index work committed before the snapshot is covered by it; later work runs as usual.
        for row in session.scalars(select(OutboxTask).where(
                OutboxTask.id.in_(covered), OutboxTask.status == OutboxStatus.PENDING.value)):
            row.status = OutboxStatus.DONE.value
            row.done_at = utcnow()
        session.commit()
    return count


def reindex_if_outdated(app: Flask | None = None) -> int | None:
    """`reindex` when the live index was built by an older version of the schema or analysis (an init
    step, so an upgrade needs no extra step). Returns the count, or None."""
    if not get_engine(app).is_outdated():
        return None
    return reindex(app)
