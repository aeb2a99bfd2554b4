"""Search: the index queue and its drain, indexers, permission-filtered search, similar documents,
the index check and the rebuild.

The queue (:class:`IndexTask`) is written in the same transaction as the change it describes
(:func:`enqueue`). After the transaction commits, the index catches up in :func:`drain`:

* one writer at a time across processes — ``flock`` on ``INDEX_DIR/drain.lock``, non-blocking: a
  process that finds it held simply leaves the work to the holder;
* a task is deleted only after the index commit that covers it, so a crash at any point loses
  nothing: the next drain (any process, or ``reindex``) indexes the object again, and since updates
  are keyed by a unique id, doing it twice is harmless;
* nothing a user does ever fails because the index is busy: drains run after the response's
  transaction (request teardown), swallow and log their errors, and leave the tasks queued.

Drains are triggered after every request that committed index tasks, before every search that
finds the queue non-empty (so results are consistent with what was committed), and by a small
poller thread per process (``INDEX_POLL``) that picks up work left behind by a crashed process.

Indexers are registered per object type (:func:`register_indexer`); the "document" indexer lives
here, the "draft" one in ``docmgr.drafting``. A task whose type has no indexer stays queued.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from flask import Flask, current_app, g, has_app_context
from flask_babel import gettext
from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload
from whoosh import query as wq
from whoosh.query.qcore import QueryError

from docmgr.search.engine import SCHEMA_VERSION, EngineHit, IndexBatch, IndexEntry, LockError, WhooshEngine
from docmgr.search.models import IndexTask
from docmgr.search.query import QueryBuilder, bound_expansions

log = logging.getLogger(__name__)

DRAIN_BATCH = 200
DRAIN_MAX_ROUNDS = 50
POLL_INTERVAL_SECONDS = 1.0
QUEUE_BUSY_TIMEOUT_MS = 3000


def enqueue(session: Session, object_type: str, object_id: int, action: str = "update") -> None:
    """Ask the index to catch up with this object once the current transaction commits."""
    session.add(IndexTask(object_type=object_type, object_id=object_id, action=action))
    session.info["docmgr_index_pending"] = True


# --- indexers ---------------------------------------------------------------------------------------

# An indexer returns what to index for one object: an IndexEntry, or a dict with the keys
# {"title", "title_it", "title_ru", "text_it", "text_ru", "organization_names", "reader_org_ids",
#  "agreement_id", "created_at", …} (see entry_from_dict), or None when the object is gone.
Indexer = Callable[[Session, int], "IndexEntry | dict[str, Any] | None"]


@dataclass
class _Registration:
    fn: Indexer
    all_ids: Callable[[Session], Iterable[int]] | None = None


_INDEXERS: dict[str, _Registration] = {}


def register_indexer(
    object_type: str, fn: Indexer, all_ids: Callable[[Session], Iterable[int]] | None = None
) -> None:
    """Make ``object_type`` tasks indexable: ``fn(session, object_id)`` returns an ``IndexEntry``, a
    dict of fields (see :func:`entry_from_dict`) or None (the object is gone: remove it from the
    index). ``all_ids(session)`` lists every object of the type, for ``reindex`` and ``check``.

    For "draft" entries the index keeps only the latest draft of each agreement: the entry's uid is
    ``agreement:<agreement_id>`` and a draft with a lower id never replaces a higher one."""
    _INDEXERS[object_type] = _Registration(fn, all_ids)


def registered_types() -> list[str]:
    return sorted(_INDEXERS)


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
        supersedes_by_object_id=is_draft,
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
    registration = _INDEXERS[object_type]
    result = registration.fn(session, object_id)
    if result is None:
        return None
    entry = result if isinstance(result, IndexEntry) else entry_from_dict(object_type, object_id, result)
    entry.stamp = entry_stamp(entry)
    return entry


def index_object(writer: IndexBatch, object_type: str, object_id: int, session: Session | None = None) -> bool:
    """Bring the index up to date with one object through its registered indexer. Returns False
    (and changes nothing) when no indexer is registered for ``object_type``."""
    if object_type not in _INDEXERS:
        return False
    if session is None:
        with queue_session() as own_session:
            entry = build_entry(own_session, object_type, object_id)
    else:
        entry = build_entry(session, object_type, object_id)
    _apply(writer, object_type, object_id, entry)
    return True


def _apply(writer: IndexBatch, object_type: str, object_id: int, entry: IndexEntry | None) -> None:
    if entry is None:
        writer.delete_object(f"{object_type}:{object_id}")
    else:
        writer.put(entry)


# --- the document indexer ---------------------------------------------------------------------------

# Words a user may type for a kind or sector, in both languages (and English), so "proposta",
# "предложение" or "energia" find documents by their category too.
KIND_WORDS = {
    "proposal": "proposta partenariato proposal предложение партнерство",
    "agreement": "accordo agreement соглашение договор",
    "annex": "allegato annex приложение",
    "other": "",
}
SECTOR_WORDS = {
    "energy": "energia energy энергетика",
    "construction": "costruzioni edilizia construction строительство",
    "mechanics": "meccanica meccatronica mechanics машиностроение механика мехатроника",
    "nanotech": "nanotecnologie nanotechnology нанотехнологии",
    "biotech": "biotecnologie biotechnology биотехнологии",
    "other": "",
}


def document_entry(session: Session, document_id: int) -> IndexEntry | None:
    from docmgr.documents.models import Document

    document = session.scalar(
        select(Document).where(Document.id == document_id).options(
            selectinload(Document.files), selectinload(Document.sector_rows), selectinload(Document.shares),
            selectinload(Document.organization), selectinload(Document.session),
        )
    )
    if document is None:
        return None
    files = [
        {"id": f.id, "language": f.language, "text": f.text or "", "filename": f.filename}
        for f in document.current_files()
    ]
    org = document.organization
    return IndexEntry(
        uid=f"document:{document.id}", object_key=f"document:{document.id}", doctype="document",
        object_id=document.id, document_id=document.id, created_at=document.created_at,
        title_it=document.title_it or "", title_ru=document.title_ru or "", files=files, kind=document.kind,
        sectors=document.sectors, languages=sorted({f["language"] for f in files}),
        organization_id=document.organization_id,
        organization_names=[name for name in (org.name, org.name_alt) if name],
        reader_org_ids=document.reader_organization_ids, session_id=document.session_id,
        session_name=document.session.name if document.session else "",
        meta=[KIND_WORDS.get(document.kind, ""), *(SECTOR_WORDS.get(s, "") for s in document.sectors),
              *(f["filename"] for f in files)],
    )


def all_document_ids(session: Session) -> Iterator[int]:
    from docmgr.documents.models import Document

    yield from session.scalars(select(Document.id).order_by(Document.id))


register_indexer("document", document_entry, all_document_ids)


# --- the engine and the queue's own database connections --------------------------------------------


@dataclass
class _SearchState:
    engine: WhooshEngine
    queries: QueryBuilder
    queue_engine: Engine | None = None
    poller: threading.Thread | None = None
    poller_pid: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _state(app: Flask | None = None) -> _SearchState:
    app = app or current_app._get_current_object()
    state = app.extensions.get("docmgr.search")
    if state is None:
        engine = WhooshEngine(app.config["INDEX_DIR"])
        state = _SearchState(engine=engine, queries=QueryBuilder(engine.schema))
        app.extensions["docmgr.search"] = state
    return state


def get_engine(app: Flask | None = None) -> WhooshEngine:
    return _state(app).engine


def _queue_engine(app: Flask | None = None) -> Engine:
    """The queue's own connection pool. On SQLite its transactions begin DEFERRED with a short busy
    timeout: the app's connections begin IMMEDIATE in writing requests, and a drain running at the
    end of such a request must neither wait on nor hold the write lock longer than it needs to."""
    from docmgr.extensions import db

    state = _state(app)
    with state.lock:
        if state.queue_engine is None:
            if db.engine.dialect.name != "sqlite":
                state.queue_engine = db.engine
            else:
                engine = create_engine(db.engine.url, connect_args={"timeout": QUEUE_BUSY_TIMEOUT_MS / 1000})

                @event.listens_for(engine, "connect")
                def _on_connect(dbapi_connection, _record):
                    dbapi_connection.isolation_level = None
                    cursor = dbapi_connection.cursor()
                    cursor.execute("PRAGMA foreign_keys=ON")
                    cursor.execute(f"PRAGMA busy_timeout={QUEUE_BUSY_TIMEOUT_MS}")
                    cursor.close()

                @event.listens_for(engine, "begin")
                def _on_begin(connection):
                    connection.exec_driver_sql("BEGIN")

                state.queue_engine = engine
    return state.queue_engine


def queue_session() -> Session:
    return Session(_queue_engine(), expire_on_commit=False)


def pending_count(session: Session | None = None) -> int:
    """Tasks waiting for an indexer that is registered."""
    query = select(func.count()).select_from(IndexTask).where(IndexTask.object_type.in_(registered_types()))
    if session is not None:
        return session.scalar(query) or 0
    with queue_session() as own:
        return own.scalar(query) or 0


def _release_clean_session() -> None:
    """End the app session's read-only transaction, if it has one, so it holds no database lock
    while the drain writes (under SQLite, a writing request's session begins IMMEDIATE and keeps
    the write lock until it ends). Never touches a session with unflushed or uncommitted changes."""
    from docmgr.extensions import db

    if not has_app_context():
        return
    try:
        session = db.session()
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            session.rollback()
    except Exception:  # noqa: BLE001 - best effort
        log.debug("could not release the request session", exc_info=True)


# --- draining ---------------------------------------------------------------------------------------


def drain(app: Flask | None = None, *, blocking: bool = False) -> int:
    """Index every queued task of a registered type; returns how many tasks were done. Returns 0 at
    once when another process or thread is draining (unless ``blocking``) or the index is busy."""
    state = _state(app)
    done_total = 0
    _release_clean_session()
    with state.engine.drain_lock(blocking=blocking) as acquired:
        if not acquired:
            return 0
        for _round in range(DRAIN_MAX_ROUNDS):
            done = _drain_round(state.engine)
            if done is None:
                break
            done_total += done
    return done_total


def _drain_round(engine: WhooshEngine) -> int | None:
    """One batch: read tasks and build entries (one read transaction), write and commit the index,
    then delete exactly the tasks handled. None when there was nothing to do or it must stop."""
    types = registered_types()
    with queue_session() as session:
        tasks = list(session.scalars(
            select(IndexTask).where(IndexTask.object_type.in_(types)).order_by(IndexTask.id).limit(DRAIN_BATCH)
        ))
        if not tasks:
            return None
        latest: dict[tuple[str, int], IndexTask] = {}
        for task in tasks:
            latest[(task.object_type, task.object_id)] = task
        work = [(key, build_entry(session, *key)) for key in latest]
        task_ids = [task.id for task in tasks]
        session.rollback()
    try:
        with engine.writer() as batch:
            for (object_type, object_id), entry in work:
                _apply(batch, object_type, object_id, entry)
    except LockError:
        log.info("search index busy; %d task(s) stay queued", len(task_ids))
        return None
    try:
        with queue_session() as session:
            session.execute(delete(IndexTask).where(IndexTask.id.in_(task_ids)))
            session.commit()
    except Exception:  # noqa: BLE001 - the tasks stay queued and are indexed again (idempotent)
        log.warning("could not remove %d indexed task(s) from the queue; they will be redone", len(task_ids),
                    exc_info=True)
        return None
    return len(task_ids)


def catch_up(app: Flask | None = None) -> None:
    """Before answering a search: index what was committed and not yet indexed. Never raises."""
    try:
        if pending_count():
            drain(app)
    except Exception:  # noqa: BLE001 - a search answers from the index as it is
        log.warning("search index catch-up failed", exc_info=True)


# --- wiring into the app ----------------------------------------------------------------------------


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("docmgr_index_pending", False) and has_app_context():
        g.docmgr_index_dirty = True


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("docmgr_index_pending", None)


def init_app(app: Flask) -> None:
    """Drain after each request (and CLI command) that committed index tasks, and start the
    per-process poller when ``INDEX_POLL`` is set."""
    _state(app)

    def _drain_if_dirty(_exc: BaseException | None = None) -> None:
        if not g.pop("docmgr_index_dirty", False) or not app.config.get("INDEX_SYNC", True):
            return
        try:
            drain(app)
        except Exception:  # noqa: BLE001 - the queue keeps the tasks; the poller or next drain retries
            log.warning("draining the search index queue failed", exc_info=True)

    app.teardown_request(_drain_if_dirty)
    app.teardown_appcontext(_drain_if_dirty)

    def _ensure_poller() -> None:
        start_poller(app)

    app.before_request(_ensure_poller)
    start_poller(app)


def start_poller(app: Flask) -> None:
    """One daemon thread per process (started again after a fork) that drains every second."""
    if not app.config.get("INDEX_POLL"):
        return
    state = _state(app)
    if state.poller is not None and state.poller_pid == os.getpid() and state.poller.is_alive():
        return
    with state.lock:
        if state.poller is not None and state.poller_pid == os.getpid() and state.poller.is_alive():
            return
        thread = threading.Thread(
            target=_poll, args=(weakref.ref(app), float(app.config.get("INDEX_POLL_SECONDS", POLL_INTERVAL_SECONDS))),
            name="docmgr-index-poller", daemon=True,
        )
        state.poller, state.poller_pid = thread, os.getpid()
        thread.start()


def _poll(app_ref: weakref.ReferenceType, interval: float) -> None:
    failures = 0
    while True:
        time.sleep(interval * (1 + min(failures, 30)))
        app = app_ref()
        if app is None:
            return
        try:
            with app.app_context():
                if pending_count():
                    drain(app)
            failures = 0
        except Exception:  # noqa: BLE001 - keep polling, more slowly
            failures += 1
            log.warning("search index poller failed (%d in a row)", failures, exc_info=failures == 1)
        finally:
            del app


# --- searching --------------------------------------------------------------------------------------


@dataclass
class SearchFilters:
    kind: str | None = None
    sector: str | None = None
    language: str | None = None
    organization_id: int | None = None
    session_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def validate(self) -> SearchFilters:
        from docmgr.documents.services import check_filter_values
        from docmgr.errors import Invalid

        check_filter_values(kind=self.kind, sector=self.sector, language=self.language)
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise Invalid(gettext("'date_to' cannot be before 'date_from'."), field="date_to")
        return self


def parse_date(value: str | None, field_name: str) -> date | None:
    """An ISO date (YYYY-MM-DD) or None; 422 naming the field otherwise."""
    from docmgr.errors import Invalid

    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise Invalid(gettext("'%(field)s' must be a date as YYYY-MM-DD.", field=field_name), field=field_name) from None


SORTS = ("relevance", "date")


@dataclass
class SearchPage:
    total: int
    page: int
    per_page: int
    hits: list[EngineHit]
    facets: dict[str, dict[str, int]]
    labels: dict[str, dict[str, str]]
    query: str = ""


def permission_filter(actor) -> wq.Query | None:
    """The filter query of what ``actor`` may see: None for everything; NullQuery for nothing."""
    if actor.sees_everything:
        return None
    if actor.organization_id is None:
        return wq.NullQuery
    return wq.Term("readers", str(actor.organization_id))


def _filter_query(actor, filters: SearchFilters) -> wq.Query | None:
    parts: list[wq.Query] = []
    allowed = permission_filter(actor)
    if allowed is not None:
        parts.append(allowed)
    if filters.kind:
        parts.append(wq.Term("kind", filters.kind))
    if filters.sector:
        parts.append(wq.Term("sector", filters.sector))
    if filters.language:
        parts.append(wq.Term("lang", filters.language))
    if filters.organization_id:
        parts.append(wq.Term("organization_id", str(filters.organization_id)))
    if filters.session_id:
        parts.append(wq.Term("session_id", str(filters.session_id)))
    if filters.date_from or filters.date_to:
        start = datetime.combine(filters.date_from, dtime.min) if filters.date_from else None
        end = datetime.combine(filters.date_to + timedelta(days=1), dtime.min) - timedelta(microseconds=1) \
            if filters.date_to else None
        parts.append(wq.DateRange("created", start, end))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


def search(
    session: Session, actor, q: str | None, filters: SearchFilters, *, page: int = 1, per_page: int = 20,
    sort: str = "relevance",
) -> SearchPage:
    """One page of what ``actor`` may see matching ``q`` and the filters, with facet counts over
    the same set. Permissions are a filter query inside the search, so totals, hits and facets
    never count what the user may not read."""
    from docmgr.errors import Invalid

    filters.validate()
    if sort not in SORTS:
        raise Invalid(gettext("Sort must be one of %(choices)s.", choices=", ".join(SORTS)), field="sort")
    state = _state()
    query = state.queries.parse(q)
    if permission_filter(actor) is wq.NullQuery or query is wq.NullQuery:
        return SearchPage(0, page, per_page, [], {}, {}, q or "")
    filter_query = _filter_query(actor, filters)
    catch_up()
    if not (q or "").strip() and sort == "relevance":
        sort = "date"
    try:
        result = state.engine.search(
            query, filter_query=filter_query, page=page, per_page=per_page, sort=sort, rewrite=bound_expansions,
        )
    except QueryError:  # a structure Whoosh cannot run: search the plain words instead
        result = state.engine.search(
            state.queries.plain(re.findall(r"\w+", q or "")), filter_query=filter_query, page=page,
            per_page=per_page, sort=sort, rewrite=bound_expansions,
        )
    return SearchPage(result.total, page, per_page, result.hits, result.facets,
                      _facet_labels(session, result.facets), q or "")


def _facet_labels(session: Session, facets: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    """Names for the organisation and session ids of the facets, read from the database once per
    index generation (per searcher): facet ids only change when the index does. A renamed
    organisation shows its new name after the next index change (renaming reindexes its documents)."""
    names = get_engine().per_searcher("facet labels", lambda: _label_names(session))
    labels: dict[str, dict[str, str]] = {}
    for facet in ("organization", "session"):
        found = {value: names[facet][value] for value in facets.get(facet, {}) if value in names[facet]}
        if found:
            labels[facet] = found
    return labels


def _label_names(session: Session) -> dict[str, dict[str, str]]:
    from docmgr.accounts.models import Organization
    from docmgr.documents.models import TaskForceSession

    return {
        "organization": {str(i): name for i, name in session.execute(select(Organization.id, Organization.name))},
        "session": {str(i): name for i, name in session.execute(select(TaskForceSession.id, TaskForceSession.name))},
    }


@dataclass
class SimilarDocument:
    hit: EngineHit
    score: float
    same_sector: bool
    other_organization: bool


def similar_documents(session: Session, actor, document_id: int, limit: int = 5) -> list[SimilarDocument]:
    """Proposals most like this document that ``actor`` may see: the seed of matchmaking.

    Candidates are the proposals whose text shares key terms with this one (Bo1 over both
    languages). They are shown in tiers — other organisations in the same sector, then other
    organisations, then the document's own organisation — and by similarity within a tier: a
    firm looking at its proposal wants partners, not its own papers."""
    from docmgr.documents.services import get_document

    document = get_document(session, actor, document_id)
    catch_up()
    parts: list[wq.Query] = [wq.Term("doctype", "document"), wq.Term("kind", "proposal")]
    allowed = permission_filter(actor)
    if allowed is wq.NullQuery:
        return []
    if allowed is not None:
        parts.append(allowed)
    candidates = get_engine().more_like_this(f"document:{document.id}", filter_query=wq.And(parts), top=50)
    sectors = set(document.sectors)
    ranked = []
    for hit, score in candidates:
        same_sector = bool(sectors & set(hit.sectors))
        other_org = hit.organization_id != document.organization_id
        ranked.append(SimilarDocument(hit, round(score, 4), same_sector, other_org))
    ranked.sort(key=lambda item: (not item.other_organization, not item.same_sector, -item.score, item.hit.object_id))
    return ranked[:limit]


# --- check and rebuild ------------------------------------------------------------------------------


def expected_entries(session: Session) -> Iterator[IndexEntry]:
    """Everything the index should hold, from the database, for every type that can list its ids."""
    for object_type in registered_types():
        registration = _INDEXERS[object_type]
        if registration.all_ids is None:
            continue
        for object_id in list(registration.all_ids(session)):
            entry = build_entry(session, object_type, object_id)
            if entry is not None:
                yield entry
            session.expunge_all()


def check_index(echo: Callable[[str], None]) -> int:
    """`docmgr check`: entries missing from the index, stale (the index holds an older version),
    or left in the index for objects gone from the database. Objects with a task still queued are
    reported as pending, not as problems; tasks of registered types queued for over 10 minutes are."""
    engine = get_engine()
    indexed = engine.doc_ids()
    with queue_session() as session:
        expected: dict[str, IndexEntry] = {}
        for entry in expected_entries(session):
            current = expected.get(entry.uid)
            if current is None or entry.object_id > current.object_id:
                expected[entry.uid] = entry
        tasks = list(session.execute(select(IndexTask.object_type, IndexTask.object_id, IndexTask.created_at)))
        checked_types = {t for t in registered_types() if _INDEXERS[t].all_ids is not None}
    queued = {f"{object_type}:{object_id}" for object_type, object_id, _ in tasks}
    problems = pending = 0
    for uid, entry in sorted(expected.items()):
        state = indexed.get(uid)
        if state is not None and state["stamp"] == entry.stamp and state["object_key"] == entry.object_key:
            continue
        if entry.object_key in queued:
            pending += 1
            continue
        problems += 1
        echo(f"index: {entry.object_key} is {'missing from' if state is None else 'stale in'} the index")
    for uid, state in sorted(indexed.items()):
        if uid in expected or state.get("doctype") not in checked_types:
            continue
        if state.get("object_key") in queued:
            pending += 1
            continue
        problems += 1
        echo(f"index: {state.get('object_key') or uid} is in the index but no longer in the database")
    stuck_before = datetime.now(UTC) - timedelta(minutes=10)
    stuck = [t for t in tasks if t[0] in _INDEXERS and t[2] is not None and t[2] < stuck_before]
    for object_type, object_id, created_at in stuck:
        problems += 1
        echo(f"index: task {object_type}:{object_id} queued since {created_at.isoformat()} was never indexed")
    echo(f"index: {len(expected)} entr(ies) expected, {len(indexed)} indexed, {pending} pending, {problems} problem(s)")
    return problems


def reindex(app: Flask | None = None, *, procs: int = 1, limitmb: int = 256) -> int:
    """Rebuild the whole index from the database into a fresh generation, then swap it in.
    Searches keep answering from the old generation meanwhile. The drain lock is held throughout,
    so changes committed during the rebuild stay queued and are indexed right after the swap."""
    state = _state(app)
    _release_clean_session()
    with state.engine.drain_lock(blocking=True):
        with queue_session() as session:
            # One read transaction: the snapshot the new index is built from, and the tasks it covers.
            last_task_id = session.scalar(select(func.max(IndexTask.id))) or 0
            count = state.engine.rebuild(expected_entries(session), procs=procs, limitmb=limitmb)
            session.rollback()
        with queue_session() as session:
            session.execute(delete(IndexTask).where(
                IndexTask.id <= last_task_id, IndexTask.object_type.in_(registered_types())))
            session.commit()
    drain(app)
    return count


def reindex_if_outdated(app: Flask | None = None) -> int | None:
    """`reindex` when the live index was built by an older version of the schema or analysis
    (called by `docmgr init`, so an upgrade needs no extra step). Returns the count, or None."""
    if not _state(app).engine.is_outdated():
        return None
    return reindex(app)


def _register_check() -> None:
    from docmgr.maintenance import CHECKS

    if check_index not in CHECKS:
        CHECKS.append(check_index)


_register_check()

__all__ = [
    "SearchFilters", "SearchPage", "SimilarDocument", "catch_up", "check_index", "drain", "enqueue",
    "entry_from_dict", "get_engine", "index_object", "init_app", "parse_date", "pending_count", "register_indexer",
    "reindex", "search", "similar_documents",
]
