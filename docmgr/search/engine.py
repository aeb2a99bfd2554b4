"""The search engine behind a small interface: Whoosh today, something else tomorrow.

Nothing here knows about Flask, the database or users. :class:`WhooshEngine` stores
:class:`IndexEntry` objects (one per searchable thing: a document, or the latest draft of an
agreement) and answers queries built by :mod:`docmgr.search.query` with a separate filter query
(permissions and facet filters are never mixed into the user's query).

On disk, ``INDEX_DIR`` holds generations: ``gen-<n>/`` directories and a ``current`` symlink to
the live one. ``rebuild`` writes a fresh generation and swaps the symlink atomically
(``os.replace``), so searches keep working on the old generation until the new one is complete;
readers notice the swap on their next search. ``drain.lock`` in ``INDEX_DIR`` is the one-writer
lock shared by every process (see :func:`WhooshEngine.drain_lock`).

The engine is put together from one module per concern: :mod:`docmgr.search.schema` (fields,
entries, hits, the ``text:`` span), :mod:`docmgr.search.scoring` (document sets and BM25F top N),
:mod:`docmgr.search.facets` and :mod:`docmgr.search.highlights`; the names callers import from
here are re-exported.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.reading import TermNotFound
from whoosh.scoring import BM25F
from whoosh.searching import Searcher

from docmgr.search.facets import FACET_FIELDS, Facets
from docmgr.search.highlights import Highlighting
from docmgr.search.schema import (
    HIGHLIGHT_CHARLIMIT,
    SCHEMA_VERSION,
    TEXT_LANGUAGES,
    TITLE_FIELDS,
    VERSION_FILE,
    EngineHit,
    EngineResult,
    IndexEntry,
    InText,
    build_schema,
    entry_fields,
    int_or_none,
    payload_of,
)
from docmgr.search.scoring import DocSetQuery, Scoring, SearchTimeout
from docmgr.search.text import BODY

__all__ = [
    "FACET_FIELDS", "HIGHLIGHT_CHARLIMIT", "SCHEMA_VERSION", "TEXT_LANGUAGES", "TITLE_FIELDS", "EngineHit",
    "EngineResult", "InText", "IndexBatch", "IndexEntry", "LockError", "SearchTimeout", "WhooshEngine", "build_schema",
    "entry_fields",
]


def _mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class WhooshEngine(Scoring, Facets, Highlighting):
    """The index in one directory. Thread-safe for searching; writing is serialised by callers
    through :meth:`drain_lock` (one writer across processes)."""

    def __init__(self, index_dir: Path | str):
        self.root = Path(index_dir)
        self.schema = build_schema()
        self._local = threading.local()

    # --- layout ------------------------------------------------------------------------------------

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    def current_dir(self) -> Path | None:
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        return self.root / target

    def _new_generation(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = f"gen-{time.time_ns()}-{os.getpid()}"
        path = self.root / stamp
        path.mkdir()
        whoosh_index.create_in(str(path), self.schema)
        (path / VERSION_FILE).write_text(SCHEMA_VERSION + "\n", encoding="utf-8")
        return path

    def _swap_to(self, generation: Path) -> None:
        tmp_link = self.root / f"current.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp_link.unlink(missing_ok=True)
        os.symlink(generation.name, tmp_link)
        os.replace(tmp_link, self.current_link)

    def _remove_old_generations(self, keep: int = 2) -> None:
        """Keep the live generation and the one before it (a reader may still have it open)."""
        current = self.current_dir()
        generations = sorted(
            (p for p in self.root.glob("gen-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
        )
        kept = 0
        for path in generations:
            if current is not None and path.name == current.name:
                continue
            kept += 1
            if kept >= keep:
                shutil.rmtree(path, ignore_errors=True)

    def is_outdated(self) -> bool:
        """Whether the live generation was built with an older schema or analysis (generations
        from before the version file count as older): `docmgr init` rebuilds it then."""
        current = self.current_dir()
        if current is None or not current.is_dir():
            return False
        try:
            return (current / VERSION_FILE).read_text(encoding="utf-8").strip() != SCHEMA_VERSION
        except FileNotFoundError:
            return True

    def ensure(self) -> Path:
        """The live generation, created empty if there is none yet (call with the drain lock held)."""
        current = self.current_dir()
        if current is not None and current.is_dir():
            return current
        generation = self._new_generation()
        self._swap_to(generation)
        return generation

    @contextmanager
    def drain_lock(self, blocking: bool = False) -> Iterator[bool]:
        """The one-writer lock across processes: ``flock`` on ``drain.lock``. Yields whether it was
        acquired; when another process holds it (non-blocking), that process is writing already."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "drain.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- writing -----------------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[IndexBatch]:
        """A batch of updates committed together. Raises whoosh ``LockError`` if the index is busy."""
        ix = whoosh_index.open_dir(str(self.ensure()))
        writer = ix.writer(timeout=0.0)
        batch = IndexBatch(writer)
        try:
            yield batch
        except BaseException:
            writer.cancel()
            raise
        writer.commit(optimize=False)

    def index_document(self, batch: IndexBatch, entry: IndexEntry) -> None:
        batch.put(entry)

    def delete(self, batch: IndexBatch, object_key: str) -> None:
        batch.delete_object(object_key)

    def rebuild(self, entries: Iterable[IndexEntry], *, procs: int = 1, limitmb: int = 256) -> int:
        """Index ``entries`` into a fresh generation, then make it the live one. Returns the count.
        Call with the drain lock held so no drain writes to the old generation meanwhile."""
        generation = self._new_generation()
        ix = whoosh_index.open_dir(str(generation))
        options: dict[str, Any] = {"limitmb": limitmb}
        if procs > 1:
            options.update(procs=procs, multisegment=True)
        writer = ix.writer(**options)
        latest: dict[str, int] = {}
        count = 0
        try:
            for entry in entries:
                if entry.supersedes_by_object_id:
                    if latest.get(entry.uid, -1) > entry.object_id:
                        continue
                    if entry.uid in latest:
                        writer.delete_by_term("uid", entry.uid)
                    latest[entry.uid] = entry.object_id
                writer.add_document(**entry_fields(entry))
                count += 1
            writer.commit()
        except BaseException:
            writer.cancel()
            shutil.rmtree(generation, ignore_errors=True)
            raise
        self._swap_to(generation)
        self._remove_old_generations()
        return count

    # --- reading -----------------------------------------------------------------------------------

    def searcher(self) -> Searcher | None:
        """A searcher on the live generation, reused by this thread while the index is unchanged."""
        current = self.current_dir()
        if current is None or not current.is_dir():
            return None
        cached = getattr(self._local, "searcher", None)
        if cached is not None and self._local.generation == current:
            # A commit adds a table of contents and segment files to the generation's folder, which
            # changes the folder's modification time: one stat() per search instead of Whoosh's
            # up_to_date() (a listing and a pattern match over every file of the index) when nothing
            # moved. Folder times come from a coarse clock, so the stat alone is trusted only once a
            # full check has run at least a second after the folder's last change.
            stamp = _mtime_ns(current)
            if stamp is not None and stamp == self._local.stamp and self._local.checked_ns - stamp >= 1_000_000_000:
                return cached
            checked_ns = time.time_ns()
            if cached.up_to_date():
                self._local.stamp, self._local.checked_ns = stamp, checked_ns
                return cached
        # Not Searcher.refresh(): it reuses the readers of unchanged segments and so misses
        # documents deleted from them since.
        if cached is not None:
            cached.close()
        stamp, checked_ns = _mtime_ns(current), time.time_ns()  # before opening: a commit meanwhile shows next time
        # Plain file reads, not Whoosh's memory map: Whoosh copies a mapped compound segment's postings
        # and columns into each reader's own buffer, so with one searcher per thread every thread held a
        # copy of the index (1.4 GB at 50,000 documents) and took 0.46 s to reopen it after each commit.
        storage = FileStorage(str(current), supports_mmap=False, readonly=True)
        searcher = storage.open_index().searcher(weighting=BM25F())
        self._local.searcher, self._local.generation, self._local.facet_cache = searcher, current, {}
        self._local.stamp, self._local.checked_ns = stamp, checked_ns
        return searcher

    def doc_ids(self) -> dict[str, dict[str, Any]]:
        """Every entry in the index: uid → {"object_key", "stamp", "doctype"} (for ``check``)."""
        searcher = self.searcher()
        if searcher is None:
            return {}
        found = {}
        reader = searcher.reader()
        for docnum in reader.all_doc_ids():  # (reader.all_stored_fields() includes deleted documents)
            stored = reader.stored_fields(docnum)
            found[stored["uid"]] = {"object_key": stored.get("object_key"), "stamp": stored.get("stamp"),
                                    "doctype": stored.get("doctype")}
        return found

    def search(
        self,
        query: wq.Query,
        *,
        filter_query: wq.Query | None = None,
        page: int = 1,
        per_page: int = 20,
        sort: str = "relevance",
        with_facets: bool = True,
        with_highlights: bool = True,
        rewrite: Callable[[wq.Query, Any], wq.Query] | None = None,
        timeout: float | None = None,
    ) -> EngineResult:
        """Matching entries the filter allows: exact total, one page of hits, facet counts.
        ``rewrite(query, reader)`` may bound the query against the index (wildcard expansion).
        Raises :class:`SearchTimeout` when the search runs past ``timeout`` seconds."""
        self._local.deadline = time.monotonic() + timeout if timeout else None
        try:
            return self._search(query, filter_query=filter_query, page=page, per_page=per_page, sort=sort,
                                with_facets=with_facets, with_highlights=with_highlights, rewrite=rewrite)
        finally:
            self._local.deadline = None

    def _search(
        self, query: wq.Query, *, filter_query: wq.Query | None, page: int, per_page: int, sort: str,
        with_facets: bool, with_highlights: bool, rewrite: Callable[[wq.Query, Any], wq.Query] | None,
    ) -> EngineResult:
        searcher = self.searcher()
        if searcher is None:
            return EngineResult(0, [], {name: {} for name in FACET_FIELDS})
        if rewrite is not None:
            query = rewrite(query, searcher.reader())
        query = query.normalize()
        matched = self.docset(searcher, query)
        if filter_query is not None:
            matched &= self.docset(searcher, filter_query.normalize())
        facets = self._facets(searcher, matched) if with_facets else {}
        if not matched:
            return EngineResult(0, [], facets)
        if sort == "relevance":
            top_hits = self._fast_top(searcher, query, matched, page * per_page)
            if top_hits is not None:
                top = top_hits[(page - 1) * per_page: page * per_page]
                return EngineResult(len(matched), self._hits(searcher, query, top, with_highlights), facets)
        options: dict[str, Any] = {"limit": page * per_page}
        scored = query
        if len(matched) <= self.RESTRICT_SCORING_BELOW:
            # Few matches (typical for firm users, and for several words): let Whoosh leapfrog to
            # exactly these documents instead of walking every posting of every word and field.
            scored = wq.And([query, DocSetQuery(searcher, matched)])
        elif filter_query is not None:
            options["filter"] = matched
        if sort == "date":
            options.update(sortedby="created", reverse=True)
        left = self._check_deadline()
        if left is None:
            results = searcher.search(scored, **options)
        else:  # Whoosh's timed collector: checked between matches, no signals (threads, gunicorn)
            collector = TimeLimitCollector(searcher.collector(**options), timelimit=left, use_alarm=False)
            try:
                searcher.search_with_collector(scored, collector)
            except TimeLimit:
                raise SearchTimeout from None
            results = collector.results()
        top = results[(page - 1) * per_page: page * per_page]
        return EngineResult(len(matched), self._hits(searcher, query, top, with_highlights), facets)

    # Characters of stored texts kept decoded per thread (about 2–4 bytes each), for documents
    # shown again while the index is unchanged.
    DOCUMENT_CACHE_CHARS = 4_000_000

    def _document(self, searcher: Searcher, docnum: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stored fields and decoded payload of one document, remembered (LRU, bounded by the
        length of the texts) while the searcher is unchanged: reading a long document's texts
        back is most of what showing it costs."""
        cache: OrderedDict = self._local.__dict__.setdefault("document_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
            self._local.document_chars = 0
        found = cache.get(docnum)
        if found is not None:
            cache.move_to_end(docnum)
            return found[0], found[1]
        stored = searcher.stored_fields(docnum)
        payload = payload_of(stored)
        size = len(payload.get("text_it", "")) + len(payload.get("text_ru", "")) + 1
        cache[docnum] = (stored, payload, size)
        self._local.document_chars += size
        while self._local.document_chars > self.DOCUMENT_CACHE_CHARS and len(cache) > 2:
            cache.move_to_end("__searcher__", last=False)  # the marker is not the oldest entry
            oldest = next(key for key in cache if key != "__searcher__")
            self._local.document_chars -= cache.pop(oldest)[2]
        return stored, payload

    # Hits whose texts are longer than this (characters) get their highlights placed from the positions
    # the index keeps for the query's words; shorter ones are scanned (reading postings costs more).
    LOCATE_ABOVE_CHARS = 6_000
    LOCATE_TERMS = 16  # at most this many words to read positions for (wildcards may expand further)

    def _hits(self, searcher: Searcher, query: wq.Query, top, with_highlights: bool) -> list[EngineHit]:
        positions = self._positions(searcher, query, [hit.docnum for hit in top]) if with_highlights else {}
        return [self._hit(searcher, query, hit, with_highlights, positions.get(hit.docnum)) for hit in top]

    def _positions(self, searcher: Searcher, query: wq.Query, docnums: list[int]) -> dict[int, dict[str, list[int]]]:
        """docnum → term → the ``body`` positions of the query's words, for the long documents
        among ``docnums``: one walk through each word's postings for all of them, so placing
        highlights costs what the snippet holds, not what the document holds."""
        long_ones = []
        for docnum in docnums:
            payload = self._document(searcher, docnum)[1]
            if len(payload.get("text_it", "")) + len(payload.get("text_ru", "")) > self.LOCATE_ABOVE_CHARS:
                long_ones.append(docnum)
        terms = self._query_terms(query, BODY) if long_ones else set()
        if not terms or len(terms) > self.LOCATE_TERMS:
            return {}
        long_ones.sort()
        reader = searcher.reader()
        found: dict[int, dict[str, list[int]]] = {docnum: {} for docnum in long_ones}
        for term in sorted(terms):
            try:
                matcher = reader.postings(BODY, term)
            except TermNotFound:
                continue
            for docnum in long_ones:
                if not matcher.is_active():
                    break
                if matcher.id() < docnum:
                    matcher.skip_to(docnum)
                if matcher.is_active() and matcher.id() == docnum:
                    found[docnum][term] = matcher.value_as("positions")
        return found

    def _hit(self, searcher: Searcher, query: wq.Query, hit, with_highlights: bool,
             positions: dict[str, list[int]] | None = None) -> EngineHit:
        stored, payload = self._document(searcher, hit.docnum)
        result = EngineHit(
            uid=stored["uid"], doctype=stored.get("doctype", ""), object_id=payload.get("object_id") or 0,
            document_id=payload.get("document_id"), agreement_id=payload.get("agreement_id"),
            title_it=stored.get("title_it", ""), title_ru=stored.get("title_ru", ""), kind=stored.get("kind", ""),
            sectors=[s for s in stored.get("sector", "").split(",") if s],
            languages=[s for s in stored.get("lang", "").split(",") if s],
            organization_id=int_or_none(stored.get("organization_id")), organization=payload.get("organization", ""),
            session_id=int_or_none(stored.get("session_id")),
            created_at=stored["created"].replace(tzinfo=UTC) if stored.get("created") else None,
            score=round(float(hit.score or 0.0), 4),
        )
        if with_highlights:
            self._highlight(query, stored, payload, result, positions)
        return result

    # --- more like this ----------------------------------------------------------------------------

    def more_like_this(
        self, uid: str, *, filter_query: wq.Query | None = None, top: int = 30, numterms: int = 16
    ) -> list[tuple[EngineHit, float]]:
        """Entries whose text is most like ``uid``'s (key terms by Bo1 over both languages), within
        the filter, never ``uid`` itself; ranked as Whoosh's collector ranks them, by the engine's own
        set algebra and BM25F loops (:mod:`docmgr.search.scoring`): Whoosh's matcher tree walked every
        posting of 48 words, 1.5–2 s a call at 50,000 documents."""
        searcher = self.searcher()
        if searcher is None:
            return []
        docnum = searcher.document_number(uid=uid)
        if docnum is None:
            return []
        stored = searcher.stored_fields(docnum)
        payload = payload_of(stored)
        subqueries: list[wq.Query] = []
        # Key terms of each language's text and of the titles separately, so that both languages
        # are represented whatever their share of the document (Italian–Russian matchmaking).
        for source in (payload.get("text_it", ""), payload.get("text_ru", ""),
                       " ".join([stored.get("title_it", ""), stored.get("title_ru", "")]).strip()):
            if not source:
                continue
            for term, weight in searcher.key_terms_from_text(BODY, source[:20_000], numterms=numterms):
                subqueries.append(wq.Term(BODY, term, boost=float(weight)))
        if not subqueries:
            return []
        query = wq.Or(subqueries)
        matched = self.docset(searcher, query)
        if filter_query is not None:
            matched &= self.docset(searcher, filter_query)
        matched.discard(docnum)
        hits = self._fast_top(searcher, query, matched, top)
        if hits is None:  # (not expected: key words are plain terms) Whoosh's own collector
            hits = searcher.search(query, filter=filter_query, mask=wq.Term("uid", uid), limit=top)
        return [(self._hit(searcher, wq.NullQuery, hit, False), float(hit.score or 0.0)) for hit in hits]


class IndexBatch:
    """Updates to apply in one Whoosh commit; what registered indexers write to."""

    def __init__(self, writer):
        self.writer = writer
        self._written: dict[str, int] = {}
        self._searcher = None

    def _indexed_object_id(self, uid: str) -> int | None:
        if uid in self._written:
            return self._written[uid]
        if self._searcher is None:
            self._searcher = self.writer.searcher()
        stored = self._searcher.document(uid=uid)
        return payload_of(stored).get("object_id") if stored else None

    def put(self, entry: IndexEntry) -> bool:
        """Add or replace the entry (keyed by uid). A superseding entry older than the indexed one
        is skipped. Returns whether it was written."""
        if entry.supersedes_by_object_id:
            indexed = self._indexed_object_id(entry.uid)
            if indexed is not None and indexed > entry.object_id:
                return False
        fields = entry_fields(entry)
        if "body" not in self.writer.schema:  # an index of an older schema, until `reindex` replaces it
            fields = {name: value for name, value in fields.items() if name in self.writer.schema}
        self.writer.update_document(**fields)
        self._written[entry.uid] = entry.object_id
        return True

    def delete_object(self, object_key: str) -> None:
        self.writer.delete_by_term("object_key", object_key)

    def delete_uid(self, uid: str) -> None:
        self.writer.delete_by_term("uid", uid)
