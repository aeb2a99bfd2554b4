"""The index's single writer: indexers registered per object type, and the queue task that applies them.

A change records ``search.index`` work in its own transaction (:func:`enqueue_index`); the worker runs
:func:`index_task` over a batch of such rows. Requests never write the index. Under the one-writer lock
(``flock`` on ``INDEX_DIR/drain.lock``, also held by ``reindex``) the task reads the objects' current
state from the database and writes them, so the last write always reflects the last commit: two tasks
for the same object can never leave the older state in the index. Updates are keyed by uid, so running a
task twice changes nothing.

Modules register their indexers from ``init_app`` (:func:`register_indexer`): documents, drafts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from docmgr.extensions import db
from docmgr.search.engine import SCHEMA_VERSION, IndexBatch, IndexEntry, LockError, WhooshEngine
from docmgr.search.pgengine import PgBatch, PostgresEngine
from docmgr.search.query import QueryBuilder
from docmgr.tasks.queue import Deferred, enqueue, register_handler

INDEX_TASK = "search.index"
INDEX_BATCH = 200

# An indexer returns what to index for one object: an IndexEntry, or a dict with the keys
# {"title", "title_it", "title_ru", "text_it", "text_ru", "organization_names", "reader_org_ids",
#  "agreement_id", "created_at", …} (see entry_from_dict), or None when the object is gone.
Indexer = Callable[[Session, int], "IndexEntry | dict[str, Any] | None"]


ShownAs = Callable[[Session, str, int], "tuple[str, int] | None"]


@dataclass
class Registration:
    fn: Indexer
    all_ids: Callable[[Session], Iterable[int]] | None = None


@dataclass
class SearchState:
    engine: WhooshEngine | PostgresEngine
    queries: QueryBuilder
    indexers: dict[str, Registration] = field(default_factory=dict)
    shown_as_other: list[ShownAs] = field(default_factory=list)


BACKENDS = ("whoosh", "postgres")


def make_engine(app: Flask) -> WhooshEngine | PostgresEngine:
    """The engine ``SEARCH_BACKEND`` names: Whoosh in ``INDEX_DIR`` (the default), or PostgreSQL full-text
    search in the application's database, which must then be PostgreSQL."""
    backend = app.config.get("SEARCH_BACKEND") or "whoosh"
    if backend not in BACKENDS:
        raise RuntimeError(f"DOCMGR_SEARCH_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}.")
    if backend == "whoosh":
        return WhooshEngine(app.config["INDEX_DIR"])
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not url.startswith("postgresql"):
        raise RuntimeError("DOCMGR_SEARCH_BACKEND=postgres needs the application database on PostgreSQL "
                           "(DOCMGR_DATABASE_URL=postgresql+psycopg://…); it is not.")

    engines: list = []

    def connect():
        if not engines:
            with app.app_context():
                engines.append(db.engine)  # the app's engine (and pool) for its whole life
        return engines[0]

    return PostgresEngine(connect)


def state(app: Flask | None = None) -> SearchState:
    app = app or current_app._get_current_object()
    found = app.extensions.get("docmgr.search")
    if found is None:
        engine = make_engine(app)
        found = app.extensions["docmgr.search"] = SearchState(engine=engine, queries=QueryBuilder(engine.schema))
    return found


def get_engine(app: Flask | None = None) -> WhooshEngine | PostgresEngine:
    return state(app).engine


def register_indexer(
    app: Flask, object_type: str, fn: Indexer, all_ids: Callable[[Session], Iterable[int]] | None = None
) -> None:
    """Make ``object_type`` indexable: ``fn(session, object_id)`` returns an ``IndexEntry``, a dict of
    fields (see :func:`entry_from_dict`) or None (the object is gone: remove it from the index).
    ``all_ids(session)`` lists every object of the type, for ``reindex`` and ``check``.

    For "draft" entries the index keeps only the latest draft of each agreement: the entry's uid is
    ``agreement:<agreement_id>`` and a draft with a lower id never replaces a higher one."""
    state(app).indexers[object_type] = Registration(fn, all_ids)


def register_shown_as_other(app: Flask, fn: ShownAs) -> None:
    """``fn(session, object_type, object_id)`` names the object (type, id) that search shows in place of
    this one, or None: an agreement's executed copy is found as the agreement's latest draft, so it has
    no entry of its own, and indexing it re-indexes that draft (whose entry holds the copy's files)."""
    state(app).shown_as_other.append(fn)


def shown_as(session: Session, object_type: str, object_id: int) -> tuple[str, int] | None:
    for fn in state().shown_as_other:
        owner = fn(session, object_type, object_id)
        if owner is not None:
            return owner
    return None


def registered_types(app: Flask | None = None) -> list[str]:
    return sorted(state(app).indexers)


def enqueue_index(session: Session, object_type: str, object_id: int) -> None:
    """Bring the index up to date with this object once the current transaction commits (by the worker)."""
    enqueue(session, INDEX_TASK, object_type=object_type, object_id=int(object_id))


def entry_from_dict(object_type: str, object_id: int, data: dict[str, Any]) -> IndexEntry:
    """An ``IndexEntry`` from an indexer's plain dict (the shape the drafting module returns)."""
    title = data.get("title") or ""
    title_it = data.get("title_it", "" if re.search(r"[\u0400-\u04ff]", title) else title)
    title_ru = data.get("title_ru", title if re.search(r"[\u0400-\u04ff]", title) else "")
    files = list(data.get("files") or [])
    for language in ("it", "ru"):
        if data.get(f"text_{language}"):
            files.append({"id": data.get("file_id"), "language": language, "text": data[f"text_{language}"]})
    agreement_id = data.get("agreement_id")
    is_draft = object_type == "draft" and agreement_id is not None
    created_at = data.get("created_at") or datetime.now(UTC)
    return IndexEntry(
        uid=f"agreement:{agreement_id}" if is_draft else f"{object_type}:{object_id}",
        object_key=f"{object_type}:{object_id}", doctype=object_type, object_id=object_id, created_at=created_at,
        title_it=title_it, title_ru=title_ru, files=files, kind=data.get("kind", "agreement" if is_draft else ""),
        sectors=list(data.get("sectors") or []), languages=list(data.get("languages") or ["it", "ru"]),
        organization_id=data.get("organization_id"),
        organization_names=[n for n in data.get("organization_names") or [] if n],
        person_names=[n for n in data.get("person_names") or [] if n],
        reader_org_ids=[int(i) for i in data.get("reader_org_ids") or []],
        session_id=data.get("session_id"), session_name=data.get("session_name") or "",
        meta=list(data.get("meta") or []), document_id=data.get("document_id"), agreement_id=agreement_id,
        supersedes_by_object_id=is_draft, dated_on=data.get("dated_on"),
    )


def entry_stamp(entry: IndexEntry) -> str:
    """A fingerprint of everything indexed for an entry: ``check`` compares it with the index's."""
    data = asdict(entry)
    data.pop("stamp", None)
    data["schema_version"] = SCHEMA_VERSION  # an index built with another schema is stale as a whole
    created = entry.created_at
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    data["created_at"] = created.replace(tzinfo=None).isoformat()
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def build_entry(session: Session, object_type: str, object_id: int) -> IndexEntry | None:
    """What the registered indexer says to index for one object (None: remove it)."""
    result = state().indexers[object_type].fn(session, object_id)
    if result is None or shown_as(session, object_type, object_id) is not None:
        return None
    entry = result if isinstance(result, IndexEntry) else entry_from_dict(object_type, object_id, result)
    entry.stamp = entry_stamp(entry)
    return entry


def apply_entry(writer: IndexBatch | PgBatch, object_type: str, object_id: int, entry: IndexEntry | None) -> None:
    if entry is None:
        writer.delete_object(f"{object_type}:{object_id}")
    else:
        writer.put(entry)


def index_task(batch: list[dict[str, Any]]) -> None:
    """The ``search.index`` handler: index the objects named by a batch of rows, in one index commit."""
    objects = list(dict.fromkeys((str(args["object_type"]), int(args["object_id"])) for args in batch))
    unknown = [t for t, _ in objects if t not in state().indexers]
    if unknown:
        raise LookupError(f"No indexer is registered for {unknown[0]!r}.")
    engine = get_engine()
    with engine.drain_lock(blocking=True):
        # Read under the lock, in a fresh read-only transaction: what is written is the last committed state.
        session = db.session
        session.rollback()
        g.docmgr_read_only = True
        try:
            owners = [owner for key in objects if (owner := shown_as(session, *key)) is not None]
            work = [(key, build_entry(session, *key)) for key in dict.fromkeys([*objects, *owners])]
        finally:
            session.rollback()
            g.docmgr_read_only = False
        try:
            with engine.writer() as writer:
                for (object_type, object_id), entry in work:
                    apply_entry(writer, object_type, object_id, entry)
        except LockError:
            raise Deferred("The search index is busy (a rebuild?).", seconds=2) from None


def register(app: Flask) -> None:
    state(app)
    register_handler(app, INDEX_TASK, index_task, batch=INDEX_BATCH)
