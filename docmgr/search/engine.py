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
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import shutil
import threading
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.highlight import Fragment, PinpointFragmenter
from whoosh.index import LockError
from whoosh.query.spans import SpanFirst
from whoosh.scoring import BM25F
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from docmgr.search.text import (
    BODY,
    HEAD_POSITION,
    LanguageTokenizer,
    body_value,
    language_analyzer,
    name_analyzer,
    proper_names,
)

__all__ = ["EngineHit", "EngineResult", "InText", "IndexEntry", "LockError", "WhooshEngine", "build_schema"]

TEXT_LANGUAGES = ("it", "ru")
TITLE_FIELDS = ("title_it", "title_ru")
FACET_FIELDS = {"kind": "kind", "sector": "sector", "language": "lang", "organization": "organization_id",
                "session": "session_id", "year": "year"}
HIGHLIGHT_CHARLIMIT = 200_000


# Changes whenever the schema or the analysis changes: it is part of every entry's stamp, so
# `docmgr check` reports an index built by an older version as stale (fix: `docmgr reindex`).
SCHEMA_VERSION = "3"
VERSION_FILE = "schema-version"  # in each generation: the SCHEMA_VERSION that built it


def build_schema() -> Schema:
    it, ru, names = language_analyzer("it"), language_analyzer("ru"), name_analyzer()
    return Schema(
        uid=ID(unique=True, stored=True),  # "document:12", "agreement:5" (latest draft of agreement 5)
        object_key=ID(stored=True),  # "document:12", "draft:33": what the queue calls it
        doctype=ID(stored=True),
        title_it=TEXT(analyzer=it, stored=True, field_boost=3.0),
        title_ru=TEXT(analyzer=ru, stored=True, field_boost=3.0),
        # Organisation, session and file names, kind and sector labels in both languages. One field
        # is enough: stemming goes by script (see docmgr.search.text), only stop words differ.
        meta=TEXT(analyzer=it),
        # What plain words are scored on, and the only field holding the files' texts: texts of both
        # languages, then titles (weighing 3x) and meta, so each word costs one posting list instead
        # of five, and each text word is indexed once (a posting is most of what a rebuild costs).
        # `text:` is this field below HEAD_POSITION (see InText); highlights re-analyse the stored
        # text of the ten hits shown.
        body=TEXT(analyzer=language_analyzer(BODY)),
        names=TEXT(analyzer=names, phrase=False, field_boost=1.5),  # cross-script skeletons of names
        org=TEXT(analyzer=names, phrase=False),  # organisation names only: the `org:` filter
        kind=ID(stored=True),
        sector=KEYWORD(stored=True, commas=True, lowercase=True),
        lang=KEYWORD(stored=True, commas=True, lowercase=True),
        organization_id=ID(stored=True),
        readers=KEYWORD(stored=True, commas=True),  # organisation ids whose firm users may read it
        session_id=ID(stored=True),
        year=ID(stored=True),
        created=DATETIME(stored=True, sortable=True),
        stamp=STORED(),
        payload=STORED(),  # zlib-compressed JSON: texts for snippets, file offsets, display names
    )


@dataclass
class IndexEntry:
    """One searchable thing, as plain data. ``stamp`` fingerprints its content (see ``check``)."""

    uid: str
    object_key: str
    doctype: str
    object_id: int
    created_at: datetime
    title_it: str = ""
    title_ru: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)  # {"id", "language" (it|ru|bi), "text", "filename"}
    kind: str = ""
    sectors: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    organization_id: int | None = None
    organization_names: list[str] = field(default_factory=list)
    person_names: list[str] = field(default_factory=list)
    reader_org_ids: list[int] = field(default_factory=list)
    session_id: int | None = None
    session_name: str = ""
    meta: list[str] = field(default_factory=list)  # extra searchable words: labels, file names
    document_id: int | None = None
    agreement_id: int | None = None
    # Drafts of one agreement share a uid; a lower object_id never replaces a higher one.
    supersedes_by_object_id: bool = False
    stamp: str = ""


@dataclass
class EngineHit:
    uid: str
    doctype: str
    object_id: int
    document_id: int | None
    agreement_id: int | None
    title_it: str
    title_ru: str
    kind: str
    sectors: list[str]
    languages: list[str]
    organization_id: int | None
    organization: str
    session_id: int | None
    created_at: datetime | None
    score: float
    highlights: list[Markup] = field(default_factory=list)
    file_id: int | None = None
    snippet_language: str | None = None


@dataclass
class EngineResult:
    total: int
    hits: list[EngineHit]
    facets: dict[str, dict[str, int]]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _join_texts(files: list[dict[str, Any]], language: str) -> tuple[str, list[list[Any]]]:
    """The text of one language field and where each file sits in it ([file_id, start, end])."""
    parts, offsets, position = [], [], 0
    for file in files:
        if file.get("language") not in (language, "bi") or not file.get("text"):
            continue
        text = file["text"]
        offsets.append([file.get("id"), position, position + len(text)])
        parts.append(text)
        position += len(text) + 2
    return "\n\n".join(parts), offsets


def entry_fields(entry: IndexEntry) -> dict[str, Any]:
    """The Whoosh document of an entry."""
    text_it, offsets_it = _join_texts(entry.files, "it")
    text_ru, offsets_ru = _join_texts(entry.files, "ru")
    names = [*entry.organization_names, *entry.person_names]
    names += proper_names(" ".join([entry.title_it, entry.title_ru, text_it[:HIGHLIGHT_CHARLIMIT], text_ru[:HIGHLIGHT_CHARLIMIT]]))
    meta = " ".join([*entry.organization_names, entry.session_name, *entry.meta])
    payload = {
        "text_it": text_it, "text_ru": text_ru, "offsets_it": offsets_it, "offsets_ru": offsets_ru,
        # Where words mixing Latin and Cyrillic letters are: the one part of finding highlights
        # that costs a scan of the whole text whatever the query, so it is done once, here.
        "mixed_it": LanguageTokenizer.mixed_runs(text_it[:HIGHLIGHT_CHARLIMIT]),
        "mixed_ru": LanguageTokenizer.mixed_runs(text_ru[:HIGHLIGHT_CHARLIMIT]),
        "organization": entry.organization_names[0] if entry.organization_names else "",
        "session": entry.session_name, "object_id": entry.object_id, "document_id": entry.document_id,
        "agreement_id": entry.agreement_id,
    }
    created = entry.created_at
    if created.tzinfo is not None:
        created = created.astimezone(UTC).replace(tzinfo=None)
    fields: dict[str, Any] = {
        "uid": entry.uid, "object_key": entry.object_key, "doctype": entry.doctype,
        "title_it": entry.title_it, "title_ru": entry.title_ru,
        "meta": meta, "body": body_value([text_it, text_ru], [entry.title_it, entry.title_ru], [meta]),
        "names": " ".join(names), "org": " ".join(entry.organization_names),
        "kind": entry.kind, "sector": ",".join(entry.sectors), "lang": ",".join(entry.languages),
        "readers": ",".join(str(i) for i in sorted(set(entry.reader_org_ids))),
        "created": created, "year": str(created.year), "stamp": entry.stamp,
        "payload": zlib.compress(json.dumps(payload, ensure_ascii=False).encode("utf-8"), 3),
    }
    if entry.organization_id is not None:
        fields["organization_id"] = str(entry.organization_id)
    if entry.session_id is not None:
        fields["session_id"] = str(entry.session_id)
    return {name: value for name, value in fields.items() if value not in ("", None)}


def _payload(stored: dict[str, Any]) -> dict[str, Any]:
    raw = stored.get("payload")
    return json.loads(zlib.decompress(raw)) if raw else {}


class _MarkFormatter:
    """``<mark>`` around matches, everything else HTML-escaped."""

    @staticmethod
    def format(fragment: Fragment) -> Markup:
        text, index, out = fragment.text, fragment.startchar, []
        for token in sorted(fragment.matches, key=lambda t: (t.startchar, -(t.endchar - t.startchar))):
            if token.startchar < index:
                continue
            out.append(str(escape(text[index:token.startchar])))
            out.append("<mark>" + str(escape(text[token.startchar:token.endchar])) + "</mark>")
            index = token.endchar
        out.append(str(escape(text[index:fragment.endchar])))
        body = "".join(out).replace("\n", " ").strip()
        prefix = "… " if fragment.startchar > 0 else ""
        suffix = " …" if fragment.endchar < len(text) else ""
        return Markup(prefix + body + suffix)


class _Match:
    __slots__ = ("startchar", "endchar", "text")

    def __init__(self, startchar: int, endchar: int, text: str = ""):
        self.startchar, self.endchar, self.text = startchar, endchar, text


class WhooshEngine:
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
        if cached is not None and self._local.generation == current and cached.up_to_date():
            return cached
        # Not Searcher.refresh(): it reuses the readers of unchanged segments and so misses
        # documents deleted from them since.
        if cached is not None:
            cached.close()
        searcher = whoosh_index.open_dir(str(current)).searcher(weighting=BM25F())
        self._local.searcher, self._local.generation, self._local.facet_cache = searcher, current, {}
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

    def _term_docs(self, searcher: Searcher, fieldname: str) -> dict[str, frozenset[int]]:
        """term → docnums for a facet field, cached while the searcher is unchanged."""
        cache = self._local.facet_cache
        if fieldname not in cache:
            reader = searcher.reader()
            fieldobj = self.schema[fieldname]
            docs = {}
            for btext in reader.lexicon(fieldname):
                text = fieldobj.from_bytes(btext)
                docs[text] = frozenset(searcher.docs_for_query(wq.Term(fieldname, text)))
            cache[fieldname] = docs
        return cache[fieldname]

    TERM_CACHE_SIZE = 4096
    RESTRICT_SCORING_BELOW = 3000

    def _term_set(self, searcher: Searcher, fieldname: str, text) -> frozenset[int]:
        """The documents of one term, remembered while the searcher is unchanged (LRU)."""
        cache: OrderedDict = self._local.__dict__.setdefault("term_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        key = (fieldname, text)
        docs = cache.get(key)
        if docs is None:
            fieldobj = self.schema[fieldname] if fieldname in self.schema else None
            if fieldobj is not None and fieldobj.scorable:  # text: the block read scoring reuses
                docs = frozenset(self._postings(searcher, fieldname, text))
                deleted = self._deleted(searcher)
                if deleted:
                    docs -= deleted
            else:
                docs = frozenset(searcher.docs_for_query(wq.Term(fieldname, text)))
            cache[key] = docs
            if len(cache) > self.TERM_CACHE_SIZE:
                cache.move_to_end("__searcher__")  # the marker is not the oldest entry
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return docs

    def _deleted(self, searcher: Searcher) -> frozenset[int]:
        """The deleted documents still in the segments (their postings remain until a merge)."""

        def compute() -> frozenset[int]:
            deleted: set[int] = set()
            for subsearcher, offset in searcher.leaf_searchers():
                reader = subsearcher.reader()
                if reader.has_deletions():
                    live = set(reader.all_doc_ids())
                    deleted.update(offset + d for d in range(reader.doc_count_all()) if d not in live)
            return frozenset(deleted)

        return self._term_set_like(searcher, "__deleted__", compute)

    def _all_docs(self, searcher: Searcher) -> frozenset[int]:
        return self._term_set_like(searcher, "__all__", lambda: frozenset(searcher.reader().all_doc_ids()))

    def _term_set_like(self, searcher: Searcher, key: Hashable, compute) -> frozenset[int]:
        cache: OrderedDict = self._local.__dict__.setdefault("term_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def docset(self, searcher: Searcher, query: wq.Query) -> set[int]:
        """The documents matching ``query``, by set algebra over cached per-term document sets.

        Whoosh's matchers walk every posting of every field in Python; for totals and facets only
        the set is needed, and set operations run in C. Phrases and other positional queries are
        left to Whoosh."""
        if query is wq.NullQuery or isinstance(query, wq.NullQuery.__class__):
            return set()
        if isinstance(query, wq.Term):
            return set(self._term_set(searcher, query.fieldname, query.text))
        if isinstance(query, wq.Every):
            return set(self._all_docs(searcher))
        if isinstance(query, InText):  # positions are read: remembered, as a word's documents are
            return set(self._term_set_like(searcher, query, lambda: frozenset(searcher.docs_for_query(query))))
        if isinstance(query, (wq.Or, wq.DisjunctionMax)) and not getattr(query, "minmatch", 0):
            result: set[int] = set()
            for child in query.subqueries:
                result |= self.docset(searcher, child)
            return result
        if isinstance(query, wq.And):
            positives = [c for c in query.subqueries if not isinstance(c, wq.Not)]
            negatives = [c.query for c in query.subqueries if isinstance(c, wq.Not)]
            result = self.docset(searcher, positives[0]) if positives else set(self._all_docs(searcher))
            for child in positives[1:]:
                if not result:
                    return result
                result &= self.docset(searcher, child)
            for child in negatives:
                result -= self.docset(searcher, child)
            return result
        if isinstance(query, wq.AndNot):
            return self.docset(searcher, query.a) - self.docset(searcher, query.b)
        if isinstance(query, wq.AndMaybe):
            return self.docset(searcher, query.a)
        if isinstance(query, wq.Not):
            return set(self._all_docs(searcher)) - self.docset(searcher, query.query)
        return set(searcher.docs_for_query(query))

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
    ) -> EngineResult:
        """Matching entries the filter allows: exact total, one page of hits, facet counts.
        ``rewrite(query, reader)`` may bound the query against the index (wildcard expansion)."""
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
                hits = [self._hit(searcher, query, hit, with_highlights) for hit in top]
                return EngineResult(len(matched), hits, facets)
        options: dict[str, Any] = {"limit": page * per_page}
        scored = query
        if len(matched) <= self.RESTRICT_SCORING_BELOW:
            # Few matches (typical for firm users, and for several words): let Whoosh leapfrog to
            # exactly these documents instead of walking every posting of every word and field.
            scored = wq.And([query, _DocSetQuery(searcher, matched)])
        elif filter_query is not None:
            options["filter"] = matched
        if sort == "date":
            options.update(sortedby="created", reverse=True)
        results = searcher.search(scored, **options)
        top = results[(page - 1) * per_page: page * per_page]
        hits = [self._hit(searcher, query, hit, with_highlights) for hit in top]
        return EngineResult(len(matched), hits, facets)

    # --- scoring -----------------------------------------------------------------------------------

    POSTINGS_CACHE_SIZE = 256

    def _fast_top(self, searcher: Searcher, query: wq.Query, matched: set[int], limit: int) -> list[_Hit] | None:
        """The best ``limit`` of ``matched`` by the BM25F score Whoosh would give them, or None for
        queries this does not cover (phrases, wildcards left unexpanded, anything unusual).

        ``matched`` is already known (set algebra in ``docset``), so scoring only needs, per word,
        the posting list's weights and the documents' field lengths: read block by block and summed
        in plain loops, instead of Whoosh's matcher tree calling a scorer per posting per field."""
        scores = self._scores(searcher, query, matched)
        if scores is None:
            return None
        candidates: Iterable[int] = matched
        if len(scores) > limit:
            # Only documents scoring at least the limit-th best score can rank: found on the bare
            # scores (in C), then ordered by (score, docnum) among themselves.
            cutoff = heapq.nlargest(limit, scores.values())[-1]
            if cutoff > 0.0:
                candidates = [docnum for docnum, score in scores.items() if score >= cutoff]
        ranked = heapq.nsmallest(limit, candidates, key=lambda d: (-scores.get(d, 0.0), d))
        return [_Hit(searcher, docnum, scores.get(docnum, 0.0)) for docnum in ranked]

    def _scores(self, searcher: Searcher, node: wq.Query, matched: set[int]) -> dict[int, float] | None:
        """docnum → score of ``node`` for the documents of ``matched`` it matches, as Whoosh scores
        them: a word's BM25F times its boost, summed over the words of ``Or``/``And``/``AndMaybe``,
        the first part of ``AndNot``, nothing for ``Not``; None when a part is not covered."""
        if isinstance(node, wq.Term):
            scores = self._term_scores(searcher, node.fieldname, node.text, matched)
        elif isinstance(node, InText):  # the inner word's score, where it occurs in the text
            scores = self._scores(searcher, node.q, matched & self.docset(searcher, node))
        elif isinstance(node, wq.Not) or node is wq.NullQuery or isinstance(node, wq.NullQuery.__class__):
            return {}
        elif isinstance(node, wq.AndNot):
            scores = self._scores(searcher, node.a, matched)
        elif isinstance(node, (wq.And, wq.AndMaybe)) or (isinstance(node, wq.Or) and not getattr(node, "minmatch", 0)
                                                         and getattr(node, "scale", None) is None):
            scores = {}
            for child in node.children():
                part = self._scores(searcher, child, matched)
                if part is None:
                    return None
                if not scores:
                    scores = dict(part)
                    continue
                get = scores.get
                for docnum, score in part.items():
                    scores[docnum] = get(docnum, 0.0) + score
        else:
            return None
        if scores is None:
            return None
        boost = getattr(node, "boost", 1.0)
        if boost != 1.0 and scores:
            scores = {docnum: score * boost for docnum, score in scores.items()}
        return scores

    def _term_scores(self, searcher: Searcher, fieldname: str, text, matched: set[int]) -> dict[int, float] | None:
        if fieldname not in self.schema:
            return {}
        fieldobj = self.schema[fieldname]
        if not fieldobj.scorable or not isinstance(searcher.weighting, BM25F):
            return None
        postings = self._postings(searcher, fieldname, text)
        if not postings:
            return {}
        weighting = searcher.weighting
        b = weighting._field_B.get(fieldname, weighting.B)
        k1 = weighting.K1
        norms = self._length_norms(searcher, fieldname, b, k1)
        idf = searcher.idf(fieldname, text) * (k1 + 1)
        return {docnum: idf * weight / (weight + norms[docnum])
                for docnum, weight in postings.items() if docnum in matched}

    def _postings(self, searcher: Searcher, fieldname: str, text) -> dict[int, float]:
        """docnum → weight of one term (deleted documents included: callers intersect), cached."""
        cache: OrderedDict = self._local.__dict__.setdefault("postings_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        key = (fieldname, text)
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
        btext = self.schema[fieldname].to_bytes(text)
        found = {}
        for subsearcher, offset in searcher.leaf_searchers():
            reader = subsearcher.reader()
            if (fieldname, btext) not in reader:
                continue
            matcher = reader.postings(fieldname, btext)
            while not hasattr(matcher, "_read_ids") and hasattr(matcher, "child"):
                matcher = matcher.child  # deletion filters: ``matched`` has no deleted documents
            if hasattr(matcher, "_read_ids") and hasattr(matcher, "_next_block"):
                while matcher.is_active():  # whole blocks at a time (whoosh3 leaf matcher)
                    matcher._read_ids()
                    matcher._read_weights()
                    if offset:
                        found.update(zip([d + offset for d in matcher._ids], matcher._weights, strict=True))
                    else:
                        found.update(zip(matcher._ids, matcher._weights, strict=True))
                    matcher._next_block()
            else:
                while matcher.is_active():
                    found[matcher.id() + offset] = matcher.weight()
                    matcher.next()
        cache[key] = found
        if len(cache) > self.POSTINGS_CACHE_SIZE:
            cache.move_to_end("__searcher__")  # the marker is not the oldest entry
            cache.popitem(last=False)
        return found

    def _length_norms(self, searcher: Searcher, fieldname: str, b: float, k1: float) -> list[float]:
        """Per docnum, the BM25 length part ``K1 * (1 - B + B * length / average)`` of one field."""
        cache = self._local.__dict__.setdefault("norm_cache", {})
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        key = (fieldname, b, k1)
        if key not in cache:
            avgfl = searcher.avg_field_length(fieldname) or 1
            norms: list[float] = []
            for subsearcher, _offset in searcher.leaf_searchers():
                for length in _field_lengths(subsearcher.reader(), fieldname):
                    norms.append(k1 * ((1 - b) + b * length / avgfl))
            cache[key] = norms
        return cache[key]

    # Below this many matches facets are counted by set intersections, one per facet value; above
    # it, by looking up each matching document's values (two hundred organisations make hundreds
    # of intersections, where one pass over the matches does).
    FACETS_BY_DOCUMENT_ABOVE = 2000

    def _facets(self, searcher: Searcher, matched: set[int]) -> dict[str, dict[str, int]]:
        facets: dict[str, dict[str, int]] = {}
        for name, fieldname in FACET_FIELDS.items():
            if len(matched) > self.FACETS_BY_DOCUMENT_ABOVE:
                counts = Counter()
                for values, count in Counter(map(self._doc_values(searcher, fieldname).__getitem__, matched)).items():
                    if isinstance(values, str):
                        counts[values] += count
                    elif values:
                        for value in values:
                            counts[value] += count
            else:
                counts = {}
                for value, docs in self._term_docs(searcher, fieldname).items():
                    count = len(matched & docs) if len(docs) < len(matched) else len(docs & matched)
                    if count:
                        counts[value] = count
            facets[name] = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        return facets

    def _doc_values(self, searcher: Searcher, fieldname: str) -> list[str | tuple[str, ...] | None]:
        """docnum → the value of one facet field (a tuple when it has several, None when none),
        cached while the searcher is unchanged. Counting strings, whose hash is cached, is what
        makes one pass over the matches cheap."""
        cache = self._local.facet_cache
        key = ("by document", fieldname)
        if key not in cache:
            by_doc: list[tuple[str, ...]] = [()] * searcher.doc_count_all()
            for value, docs in self._term_docs(searcher, fieldname).items():
                for docnum in docs:
                    by_doc[docnum] += (value,)
            cache[key] = [values[0] if len(values) == 1 else values or None for values in by_doc]
        return cache[key]

    def _hit(self, searcher: Searcher, query: wq.Query, hit, with_highlights: bool) -> EngineHit:
        stored = hit.fields()
        payload = _payload(stored)
        result = EngineHit(
            uid=stored["uid"], doctype=stored.get("doctype", ""), object_id=payload.get("object_id") or 0,
            document_id=payload.get("document_id"), agreement_id=payload.get("agreement_id"),
            title_it=stored.get("title_it", ""), title_ru=stored.get("title_ru", ""), kind=stored.get("kind", ""),
            sectors=[s for s in stored.get("sector", "").split(",") if s],
            languages=[s for s in stored.get("lang", "").split(",") if s],
            organization_id=_int_or_none(stored.get("organization_id")), organization=payload.get("organization", ""),
            session_id=_int_or_none(stored.get("session_id")),
            created_at=stored["created"].replace(tzinfo=UTC) if stored.get("created") else None,
            score=round(float(hit.score or 0.0), 4),
        )
        if with_highlights:
            self._highlight(query, stored, payload, result)
        return result

    # --- highlighting ------------------------------------------------------------------------------

    @staticmethod
    def _query_terms(query: wq.Query, fieldname: str) -> set[str]:
        """The words the query looks for in one field (positive parts only; negated ones are not
        highlighted). Words looked for in ``body`` count for the title fields too: the analysis is
        the same but for stop words."""
        terms: set[str] = set()
        fieldnames = {fieldname, BODY}

        def walk(node: wq.Query) -> None:
            if isinstance(node, wq.Not):
                return
            if isinstance(node, wq.AndNot):
                walk(node.a)
                return
            if isinstance(node, wq.Term):
                if node.fieldname in fieldnames:
                    terms.add(node.text)
                return
            if isinstance(node, wq.Phrase):
                if node.fieldname in fieldnames:
                    terms.update(node.words)
                return
            for child in node.children():
                walk(child)

        walk(query)
        return terms

    def _highlight(self, query: wq.Query, stored: dict[str, Any], payload: dict[str, Any], result: EngineHit) -> None:
        """Up to three snippets from the best-matching text field, mapped back to the file they
        come from; the highlighted title when only the title matched."""
        fragmenter = PinpointFragmenter(maxchars=220, surround=70, autotrim=True, charlimit=HIGHLIGHT_CHARLIMIT)
        best: tuple[int, str, list[Fragment]] | None = None
        terms = self._query_terms(query, BODY)
        for language in TEXT_LANGUAGES if terms else ():
            text = payload.get("text_" + language, "")
            # The words are found again in the stored text (the index keeps no character offsets:
            # they would double what a rebuild writes), as the body field analysed them.
            matches = [_Match(start, end, form) for start, end, form
                       in _HIGHLIGHT_TOKENIZER.find(text[:HIGHLIGHT_CHARLIMIT], terms, payload.get("mixed_" + language))]
            if not matches:
                continue
            fragments = list(fragmenter.fragment_matches(text, matches))
            fragments.sort(key=lambda f: (-len({m.text for m in f.matches}), -len(f.matches), f.startchar))
            chosen = sorted(fragments[:3], key=lambda f: f.startchar)
            weight = len({m.text for m in matches})
            if best is None or weight > best[0]:
                best = (weight, language, chosen)
        if best is not None:
            _weight, language, fragments = best
            result.highlights = [_MarkFormatter.format(f) for f in fragments]
            result.snippet_language = language
            offsets = payload.get("offsets_" + language, [])
            start = fragments[0].matches[0].startchar if fragments and fragments[0].matches else 0
            for file_id, begin, end in offsets:
                if begin <= start < end:
                    result.file_id = file_id
                    break
            return
        for fieldname in TITLE_FIELDS:
            terms = self._query_terms(query, fieldname)
            title = stored.get(fieldname, "")
            if not terms or not title:
                continue
            analyzer = self.schema[fieldname].analyzer
            matches = [_Match(t.startchar, t.endchar, t.text)
                       for t in analyzer(title, chars=True, mode="index", removestops=False) if t.text in terms]
            if matches:
                result.highlights = [_MarkFormatter.format(Fragment(title, matches, 0, len(title)))]
                result.snippet_language = fieldname[-2:]
                return

    # --- more like this ----------------------------------------------------------------------------

    def more_like_this(
        self, uid: str, *, filter_query: wq.Query | None = None, top: int = 30, numterms: int = 16
    ) -> list[tuple[EngineHit, float]]:
        """Entries whose text is most like ``uid``'s (key terms by Bo1 over both languages), within
        the filter, never ``uid`` itself."""
        searcher = self.searcher()
        if searcher is None:
            return []
        docnum = searcher.document_number(uid=uid)
        if docnum is None:
            return []
        stored = searcher.stored_fields(docnum)
        payload = _payload(stored)
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
        results = searcher.search(wq.Or(subqueries), filter=filter_query, mask=wq.Term("uid", uid), limit=top)
        return [(self._hit(searcher, wq.NullQuery, hit, False), float(hit.score or 0.0)) for hit in results]


_BYTE_TO_LENGTH = [byte_to_length(i) for i in range(256)]


def _field_lengths(reader, fieldname: str) -> list[int]:
    """Every document's length of one field in one segment, as ``doc_field_length`` gives it (1 when
    unknown, as Whoosh's scorers ask): the whole column at once when it is the whoosh3 one."""
    count = reader.doc_count_all()
    try:
        column = reader._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
    except AttributeError:
        return [reader.doc_field_length(d, fieldname, 1) or 1 for d in range(count)]
    lengths = [_BYTE_TO_LENGTH[byte] or 1 for byte in raw]
    return lengths + [1] * (count - len(lengths))


_HIGHLIGHT_TOKENIZER = LanguageTokenizer(BODY)


class InText(SpanFirst):
    """``q`` (a word or a span query on ``body``) where it occurs in the files' texts, not in the
    titles and labels: its positions below ``HEAD_POSITION`` (see docmgr.search.text)."""

    def __init__(self, q: wq.Query):
        super().__init__(q, limit=HEAD_POSITION - 1)

    def children(self):
        return iter([self.q])

    def estimate_size(self, ixreader) -> int:
        return self.q.estimate_size(ixreader)

    def estimate_min_size(self, ixreader) -> int:
        return 0  # every occurrence may be in a title

    def apply(self, fn) -> wq.Query:
        """Wildcard expansion turns the word into ``Or`` of words: keep each one inside."""
        inner = fn(self.q)
        if inner is wq.NullQuery or isinstance(inner, wq.NullQuery.__class__):
            return wq.NullQuery
        if isinstance(inner, wq.Or):
            return wq.Or([InText(child) for child in inner.subqueries], boost=inner.boost)
        return InText(inner)


class _Hit:
    """What ``_hit`` needs of a Whoosh hit."""

    __slots__ = ("searcher", "docnum", "score")

    def __init__(self, searcher: Searcher, docnum: int, score: float):
        self.searcher, self.docnum, self.score = searcher, docnum, score

    def fields(self) -> dict[str, Any]:
        return self.searcher.stored_fields(self.docnum)


class _DocSetQuery(wq.Query):
    """Matches a given set of (global) document numbers, scoring nothing: ANDed with a query, it
    makes Whoosh skip straight to those documents."""

    def __init__(self, searcher: Searcher, docnums: set[int]):
        self._by_reader: dict[int, list[int]] = {}
        ordered = sorted(docnums)
        for subsearcher, offset in searcher.leaf_searchers():
            end = offset + subsearcher.doc_count_all()
            self._by_reader[id(subsearcher.reader())] = [d - offset for d in ordered if offset <= d < end]
        self.boost = 1.0

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def is_leaf(self) -> bool:
        return True

    def estimate_size(self, ixreader) -> int:
        return len(self._by_reader.get(id(ixreader), ()))

    def matcher(self, searcher, context=None):
        from whoosh.matching import ListMatcher, NullMatcher

        ids = self._by_reader.get(id(searcher.reader()))
        return ListMatcher(ids, all_weights=0.0) if ids else NullMatcher()


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
        return _payload(stored).get("object_id") if stored else None

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
