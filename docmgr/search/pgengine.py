"""The PostgreSQL full-text search backend (``DOCMGR_SEARCH_BACKEND=postgres``): the interface
:class:`docmgr.search.engine.WhooshEngine` implements, on the application's PostgreSQL database, so every
web node and worker of a cluster searches and writes the same index.

* Entries are rows of ``search_entries`` (:mod:`docmgr.search.pgschema`, :mod:`docmgr.search.pgindex`);
  queries and permission filters are translated to SQL by :mod:`docmgr.search.pgquery`.
* The one-writer lock is a PostgreSQL advisory lock (any node); a write batch is one transaction, so
  searches see a batch entirely or not at all; a rebuild replaces every row in one transaction (searches
  keep reading the old rows until it commits).
* Facets are ``GROUP BY`` counts over the same condition; highlights are made from the stored texts of the
  page's hits by the same code as Whoosh's (:class:`docmgr.search.highlights.Highlighting`).
* A ``generation`` counter, bumped by every write, stands for Whoosh's searcher in :meth:`per_searcher`.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from whoosh import query as wq

from docmgr.limits import forkserver_context
from docmgr.search.facets import FACET_FIELDS
from docmgr.search.highlights import Highlighting
from docmgr.search.pgindex import COLUMNS, entry_row, entry_rows, payload_json
from docmgr.search.pgquery import compile_query, lexeme
from docmgr.search.pgschema import (
    ENTRIES,
    META,
    SHADOW,
    TERMS,
    create_schema,
    create_shadow,
    has_rum_index,
    schema_exists,
    swap_in_shadow,
)
from docmgr.search.schema import SCHEMA_VERSION, EngineHit, EngineResult, IndexEntry, build_schema
from docmgr.search.scoring import SearchTimeout

LOCK_KEY = 0x646F636D  # "docm": the advisory lock of the index's one writer
# ts_rank weights for {D, C, B, A}: texts and labels 1, names 1.5, titles 3 (Whoosh's field boosts).
RANK_WEIGHTS = "{0.333333, 0.5, 0.333333, 1.0}"
RANK_NORMALIZATION = 1  # divided by 1 + log(length): long texts do not win by length alone
RERANK = 200  # candidates the RUM index's order hands to ts_rank (see search_sql)
_BODY_WEIGHTS = "ARRAY['A','B','D']::text[]"
_LEXICON_OF = (f"SELECT DISTINCT u.lexeme FROM {ENTRIES} e, unnest(e.tsv) u WHERE e.{{key}} = :key "
               f"AND u.weights && {_BODY_WEIGHTS}")
_HIT_NAMES = ("uid", "doctype", "object_id", "title_it", "title_ru", "kind", "sectors", "langs", "organization_id",
              "session_id", "created")
_HIT_COLUMNS = ", ".join(f"e.{name}" for name in _HIT_NAMES)  # of the entries table as ``e``


class PostgresEngine(Highlighting):
    """The index in the application's PostgreSQL database (``connect()`` returns its SQLAlchemy engine)."""

    def __init__(self, connect: Callable[[], Engine]):
        self._connect = connect
        self.schema = build_schema()  # analyzers and the query parser's fields: the same as Whoosh's
        self._local = threading.local()
        self._ready = False
        # Candidates the RUM index's order hands to ts_rank: RERANK when the index exists (set by ensure()), 0:
        # ts_rank over every match.
        self.rerank = 0
        self._cache: dict[str, tuple[int, Any]] = {}
        self._cache_lock = threading.Lock()
        self._documents: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()  # "uid\x1fstamp" → payload
        self._document_chars = 0

    # Characters of stored texts kept decoded (as Whoosh's engine does), for hits shown again: a search sends
    # the keys it has, and the database leaves those payloads out of its answer.
    DOCUMENT_CACHE_CHARS = 4_000_000

    def known_documents(self) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """The keys of the payloads kept, and a snapshot of them (a concurrent eviction cannot lose one)."""
        with self._cache_lock:
            snapshot = {key: payload for key, (payload, _size) in self._documents.items()}
        return list(snapshot), snapshot

    def _remember(self, key: str, payload: dict[str, Any]) -> None:
        size = len(payload.get("text_it", "")) + len(payload.get("text_ru", "")) + 1
        with self._cache_lock:
            if key in self._documents:
                self._documents.move_to_end(key)
                return
            self._documents[key] = (payload, size)
            self._document_chars += size
            while self._document_chars > self.DOCUMENT_CACHE_CHARS and len(self._documents) > 1:
                _key, (_payload, old) = self._documents.popitem(last=False)
                self._document_chars -= old

    @property
    def db(self) -> Engine:
        return self._connect()

    def ensure(self) -> None:
        """Create the tables when the database was made without the migration (``create_all``)."""
        if self._ready:
            return
        with self.db.begin() as connection:
            if not schema_exists(connection):
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY + 1})
                create_schema(connection)
            self.rerank = RERANK if has_rum_index(connection) else 0
        self._ready = True

    def is_outdated(self) -> bool:
        """Whether the rows were built with an older schema or analysis (`docmgr init` rebuilds them then)."""
        self.ensure()
        with self.db.connect() as connection:
            version = connection.execute(text(f"SELECT value FROM {META} WHERE key = 'schema_version'")).scalar()
            if version is None:
                return connection.execute(text(f"SELECT EXISTS (SELECT 1 FROM {ENTRIES})")).scalar_one()
        return version != SCHEMA_VERSION

    @contextmanager
    def drain_lock(self, blocking: bool = False) -> Iterator[bool]:
        """The one-writer lock across processes and nodes: a session advisory lock."""
        self.ensure()
        with self.db.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if blocking:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
                acquired = True
            else:
                acquired = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar_one()
            try:
                yield bool(acquired)
            finally:
                if acquired:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})

    # --- writing -------------------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[PgBatch]:
        """A batch of updates committed together (one transaction)."""
        self.ensure()
        with self.db.begin() as connection:
            batch = PgBatch(connection, self)
            yield batch
            _bump_generation(connection)

    def index_document(self, batch: PgBatch, entry: IndexEntry) -> None:
        batch.put(entry)

    def delete(self, batch: PgBatch, object_key: str) -> None:
        batch.delete_object(object_key)

    def rebuild(self, entries: Iterable[IndexEntry], *, procs: int = 1, limitmb: int = 256) -> int:
        """Replace every row by ``entries`` in one transaction: ``COPY`` into a new table with no secondary index,
        its indexes built once (``limitmb`` of ``maintenance_work_mem``; a RUM index maintained row by row made
        the load about twice as slow), the lexicon, then the new table in the old one's place. Searches read
        the old rows until the commit. ``procs`` > 1: the analysis (:func:`entry_row`, most of the cost) runs
        in that many worker processes, on chunks of entries, while this process reads the entries and writes
        the rows in their order."""
        self.ensure()
        latest: dict[str, dict[str, Any]] = {}  # uid -> the row of its latest draft
        count = 0
        with self.db.begin() as connection:
            rum = has_rum_index(connection)
            create_shadow(connection)
            connection.execute(text(f"SET LOCAL maintenance_work_mem = '{max(int(limitmb), 64)}MB'"))
            cursor = connection.connection.driver_connection.cursor()
            pending: list[dict[str, Any]] = []

            def flush() -> None:
                with cursor.copy(f"COPY {SHADOW} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in pending:
                        copy.write_row([row[c] for c in COLUMNS])
                pending.clear()

            for entry, row in self._analysed(_latest_drafts(entries), procs):
                if entry.supersedes_by_object_id:  # drafts: the latest of each agreement (older ones never come)
                    count += entry.uid not in latest
                    latest[entry.uid] = row
                    continue
                pending.append(row)
                count += 1
                if len(pending) >= 500:
                    flush()
            pending.extend(latest.values())
            if pending:
                flush()
            swap_in_shadow(connection, rum)
            connection.execute(text(f"DELETE FROM {TERMS}"))
            connection.execute(text(
                f"INSERT INTO {TERMS} (lexeme, ndoc) SELECT u.lexeme, count(*) FROM {ENTRIES} e, unnest(e.tsv) u "
                f"WHERE u.weights && {_BODY_WEIGHTS} GROUP BY u.lexeme"))
            connection.execute(text(
                f"INSERT INTO {META} (key, value) VALUES ('schema_version', :v) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"), {"v": SCHEMA_VERSION})
            _bump_generation(connection)
        with self.db.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
            autocommit.execute(text(f"ANALYZE {ENTRIES}"))
        return count

    REBUILD_CHUNK = 16  # entries per task of a parallel rebuild (a few hundred milliseconds of analysis)

    def _analysed(self, entries: Iterable[IndexEntry], procs: int) -> Iterator[tuple[IndexEntry, dict[str, Any]]]:
        """(entry, row) in the entries' order; the rows made here (``procs`` <= 1) or by ``procs`` worker
        processes of the fork server, with at most two chunks per process in flight (memory stays bounded
        and the entries are read in this thread: the caller's database session is not shared)."""
        if procs <= 1:
            for entry in entries:
                yield entry, entry_row(self.schema, entry)
            return
        pool = ProcessPoolExecutor(max_workers=procs, mp_context=forkserver_context())
        try:
            window: deque[tuple[list[IndexEntry], Future[list[dict[str, Any]]]]] = deque()
            iterator = iter(entries)
            while chunk := list(islice(iterator, self.REBUILD_CHUNK)):
                window.append((chunk, pool.submit(entry_rows, chunk)))
                if len(window) > 2 * procs:
                    done, future = window.popleft()
                    yield from zip(done, future.result(), strict=True)
            while window:
                done, future = window.popleft()
                yield from zip(done, future.result(), strict=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # --- reading -------------------------------------------------------------------------------------

    def generation(self, connection: Connection | None = None) -> int:
        if connection is None:
            with self.db.connect() as own:
                return self.generation(own)
        return int(connection.execute(text(f"SELECT value FROM {META} WHERE key = 'generation'")).scalar() or 0)

    def per_searcher(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered while the index is unchanged (the generation the last search of this
        thread read, else read now)."""
        generation = getattr(self._local, "generation", None)
        if generation is None:
            self.ensure()
            generation = self.generation()
        with self._cache_lock:
            found = self._cache.get(key)
        if found is not None and found[0] == generation:
            return found[1]
        value = compute()
        with self._cache_lock:
            self._cache[key] = (generation, value)
        return value

    def doc_ids(self) -> dict[str, dict[str, Any]]:
        """Every entry: uid → {"object_key", "stamp", "doctype"} (for ``check``)."""
        self.ensure()
        with self.db.connect() as connection:
            rows = connection.execute(text(f"SELECT uid, object_key, stamp, doctype FROM {ENTRIES}"))
            return {uid: {"object_key": key, "stamp": stamp, "doctype": doctype} for uid, key, stamp, doctype in rows}

    def wildcard_terms(self, fieldname: str, pattern: str, limit: int) -> list[str]:
        """Up to ``limit`` indexed words matching a wildcard pattern (``*`` and ``?``), from the lexicon."""
        literal = re.split(r"[*?]", pattern, maxsplit=1)[0]
        like = literal.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        regex = "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"
        with self.db.connect() as connection:
            return list(connection.execute(text(
                f"SELECT lexeme FROM {TERMS} WHERE lexeme LIKE :like AND ndoc > 0 AND lexeme ~ :regex "
                "ORDER BY lexeme LIMIT :limit"), {"like": like, "regex": regex, "limit": limit}).scalars())

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
        """Matching entries the filter allows: exact total, one page of hits, facet counts. ``rewrite(query,
        self)`` bounds wildcards against the lexicon. Raises :class:`SearchTimeout` past ``timeout`` seconds."""
        self.ensure()
        if rewrite is not None:
            query = rewrite(query, self)
        query = query.normalize()
        compiled = compile_query(query, filter_query.normalize() if filter_query is not None else None)
        keys, known = self.known_documents()
        ranked = bool(compiled.rank) and sort == "relevance"
        try:
            # A filter (a firm's permissions, a facet chosen) leaves few matches: ts_rank reads their vectors
            # (cheaper than walking the RUM index's order past the matches the filter refuses).
            rerank = self.rerank if filter_query is None else 0
            settings = self.planner_settings(compiled.where, ranked, filter_query is not None)
            with self.reader(timeout) as connection, self.planned(connection, settings):
                row = connection.execute(text(search_sql(compiled.where, ranked, with_facets, rerank=rerank)),
                                         {**compiled.params, "rank": compiled.rank, "limit": per_page,
                                          "offset": (page - 1) * per_page, "known": keys}).one()
        except OperationalError as error:
            if type(error.orig).__name__ == "QueryCanceled":
                raise SearchTimeout from None
            raise
        return self.result_of(row, query, with_facets, with_highlights, known)

    def result_of(self, row: Any, query: wq.Query, with_facets: bool, with_highlights: bool,
                  known: dict[str, dict[str, Any]] | None = None) -> EngineResult:
        """The result of the row :func:`search_sql` returns (highlights for ``query``); ``known``: the payloads
        the statement was told it need not send."""
        total, facet_rows, hit_rows, generation = row
        self._local.generation = int(generation or 0)
        facets: dict[str, dict[str, int]] = {}
        if with_facets:
            counts: dict[str, dict[str, int]] = {name: {} for name in FACET_FIELDS}
            for name, value, count in facet_rows or []:
                counts[name][value] = count
            facets = {name: dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))
                      for name, found in counts.items()}
        hits = []
        for hit in hit_rows or []:
            key = f"{hit['uid']}\x1f{hit['stamp']}"
            if hit["payload"] is None and known is not None and key in known:
                payload = known[key]
            else:
                payload = payload_json(hit["payload"])
            self._remember(key, payload)
            hits.append(self._hit(hit, query, with_highlights, payload))
        return EngineResult(total or 0, hits, facets)

    @contextmanager
    def reader(self, timeout: float | None = None) -> Iterator[Connection]:
        """A pooled connection in autocommit mode (one statement is one snapshot: no BEGIN/ROLLBACK round
        trips), with the statement timeout set once per connection."""
        milliseconds = max(1, int(timeout * 1000)) if timeout else 0
        with self.db.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if connection.info.get("docmgr.statement_timeout") != milliseconds:
                # jit off: a search's statement costs enough to be JIT-compiled, which takes longer than it runs
                connection.execute(text(f"SET statement_timeout = {milliseconds}"))
                connection.execute(text("SET jit = off"))
                connection.info["docmgr.statement_timeout"] = milliseconds
            yield connection

    def planner_settings(self, where: str, ranked: bool, filtered: bool) -> list[str]:
        """What a search statement needs of the planner, which does not count the cost of reading a match's
        vector (kilobytes, compressed, out of line): matches are found by the index, never by reading every
        vector (a sequential scan, chosen for words in most documents); without a permission filter, where the
        RUM index exists, the ranked candidates are taken in the index's order rather than by sorting every
        match by ``<=>``. With a filter (a firm's few documents) its own choice stays."""
        settings = []
        if "tsv @@" in where:
            settings.append("enable_seqscan")
        if ranked and not filtered and self.rerank:
            settings.append("enable_sort")
        return settings

    @contextmanager
    def planned(self, connection: Connection, settings: list[str]) -> Iterator[None]:
        """``settings`` (planner methods, on by default) off around one statement on ``connection``, then on
        again (one round trip each way)."""
        if not settings:
            yield
            return
        connection.execute(text("SELECT " + ", ".join(f"set_config('{name}', 'off', false)" for name in settings)))
        try:
            yield
        finally:
            connection.execute(text("SELECT " + ", ".join(f"set_config('{name}', 'on', false)" for name in settings)))

    def _hit(self, row: Any, query: wq.Query, with_highlights: bool,
             payload: dict[str, Any] | None = None) -> EngineHit:
        """A hit from a row (a mapping, or the JSON object :func:`search_sql` returns)."""
        if payload is None:
            payload = payload_json(row["payload"])
        created = row["created"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        result = EngineHit(
            uid=row["uid"], doctype=row["doctype"], object_id=payload.get("object_id") or row["object_id"],
            document_id=payload.get("document_id"), agreement_id=payload.get("agreement_id"),
            title_it=row["title_it"], title_ru=row["title_ru"], kind=row["kind"], sectors=list(row["sectors"] or []),
            languages=list(row["langs"] or []), organization_id=row["organization_id"],
            organization=payload.get("organization", ""), session_id=row["session_id"],
            created_at=created.replace(tzinfo=UTC) if created else None,
            score=round(float(row["score"] or 0.0), 4),
        )
        if with_highlights:
            self._highlight(query, {"title_it": row["title_it"], "title_ru": row["title_ru"]}, payload, result)
        return result

    # --- more like this ------------------------------------------------------------------------------

    def more_like_this(
        self, uid: str, *, filter_query: wq.Query | None = None, top: int = 30, numterms: int = 16
    ) -> list[tuple[EngineHit, float]]:
        """Entries whose words are most like ``uid``'s, within the filter, never ``uid`` itself: the key
        words (frequency in the document × rarity in the index) of its Italian text, its Russian text and
        its titles, each group kept apart so both languages are represented.

        A candidate's score is the sum of the weights of the key words it contains, found word by word in
        the GIN index, divided by the square root of its vector's stored size (as BM25 does for Whoosh, a long
        document that holds every topic's words is not everybody's likest): no candidate's vector is read
        (``pg_column_size`` reads its header; ``ts_rank`` over an OR of 48 words read nearly every row's
        vector, 1.1–1.4 s a call at 50,000 documents). Words are taken by weight until their documents
        add up to ``MLT_POSTINGS``; a word found in more documents is passed over (it tells little about
        likeness, and it would make the cost grow with the archive), except that the rarest words are
        kept when every key word is that common."""
        self.ensure()
        with self.db.connect() as connection:
            seed = connection.execute(text(
                f"SELECT u.lexeme, cardinality(u.positions), u.weights, coalesce(t.ndoc, 1) "
                f"FROM {ENTRIES} e, unnest(e.tsv) u LEFT JOIN {TERMS} t ON t.lexeme = u.lexeme "
                "WHERE e.uid = :uid AND u.weights && ARRAY['A','D']::text[]"), {"uid": uid}).all()
            if not seed:
                return []
            total = connection.execute(text(f"SELECT count(*) FROM {ENTRIES}")).scalar_one() or 1
            words = _key_words(seed, total, numterms)
            if not words:
                return []
            compiled = compile_query(wq.Every(), filter_query)
            rows = connection.execute(text(
                "WITH k AS (SELECT CAST(w AS tsquery) AS q, weight FROM unnest(CAST(:words AS text[]), "
                "CAST(:weights AS float8[])) AS k(w, weight)), "
                "s AS (SELECT m.uid, m.created, sum(k.weight) / sqrt(m.size) AS score FROM k CROSS JOIN LATERAL "
                f"(SELECT uid, created, pg_column_size(tsv) AS size FROM {ENTRIES} "
                f"WHERE tsv @@ k.q AND uid <> :uid AND {compiled.where}) m "
                "GROUP BY m.uid, m.created, m.size ORDER BY score DESC, m.created, m.uid LIMIT :top) "
                f"SELECT {_HIT_COLUMNS}, e.payload, s.score FROM s "
                f"JOIN {ENTRIES} e ON e.uid = s.uid ORDER BY s.score DESC, s.created, s.uid"),
                {**compiled.params, "words": [lexeme(word) for word, _ in words],
                 "weights": [weight for _, weight in words], "uid": uid, "top": top}).mappings().all()
        return [(self._hit(row, wq.NullQuery, False), float(row["score"])) for row in rows]


MLT_POSTINGS = 20_000  # "similar documents": at most this many (word, document) pairs read a call


def _key_words(seed: Iterable[tuple[str, int, list[str], int]], total: int, numterms: int) -> list[tuple[str, float]]:
    """The seed document's key words and their weights (see ``PostgresEngine.more_like_this``): the best
    ``numterms`` of each group (Italian text, Russian text, titles) by frequency × rarity, then, best first,
    as many as ``MLT_POSTINGS`` allows (at least the three rarest)."""
    groups: dict[str, list[tuple[float, str, int]]] = {"it": [], "ru": [], "title": []}
    for word, frequency, weights, ndoc in seed:
        if len(word) < 3 or word.isdigit():
            continue
        weight = (frequency or 1) * math.log(1 + total / max(1, ndoc))
        if "A" in weights:
            groups["title"].append((weight, word, ndoc))
        if "D" in weights:
            groups["ru" if re.search(r"[\u0400-\u04ff]", word) else "it"].append((weight, word, ndoc))
    best: dict[str, tuple[float, int]] = {}
    for group in groups.values():
        for weight, word, ndoc in sorted(group, reverse=True)[:numterms]:
            best[word] = (max(weight, best.get(word, (0.0, 0))[0]), ndoc)
    chosen, postings = [], 0
    for word, (weight, ndoc) in sorted(best.items(), key=lambda item: (-item[1][0], item[0])):
        if postings + ndoc <= MLT_POSTINGS:
            chosen.append((word, weight))
            postings += ndoc
    if len(chosen) < 3:
        rarest = sorted(best.items(), key=lambda item: (item[1][1], item[0]))[:3]
        chosen = [(word, weight) for word, (weight, _) in rarest]
    return chosen


_HIT_JSON = ", ".join(f"'{name}', e.{name}" for name in _HIT_NAMES)
# Facet counts: one pass over the matches (GROUPING SETS: a hash table per facet; the arrays grouped whole,
# then unnested once per distinct array, not once per match). ``gs`` tells the sets apart (GROUPING's bits).
_FACET_GROUPS = (", g AS (SELECT GROUPING(kind, sectors, langs, organization_id, session_id, year) AS gs, kind, "
                 "sectors, langs, organization_id, session_id, year, count(*) AS c FROM m GROUP BY GROUPING SETS "
                 "((kind), (sectors), (langs), (organization_id), (session_id), (year)))")
_FACETS_SQL = (
    "(SELECT json_agg(json_build_array(n, v, c)) FROM ("
    "SELECT 'kind' AS n, kind AS v, c FROM g WHERE gs = 31 AND kind <> '' "
    "UNION ALL SELECT 'sector', s, sum(c) FROM g, unnest(g.sectors) s WHERE gs = 47 GROUP BY s "
    "UNION ALL SELECT 'language', l, sum(c) FROM g, unnest(g.langs) l WHERE gs = 55 GROUP BY l "
    "UNION ALL SELECT 'organization', organization_id::text, c FROM g WHERE gs = 59 AND organization_id IS NOT NULL "
    "UNION ALL SELECT 'session', session_id::text, c FROM g WHERE gs = 61 AND session_id IS NOT NULL "
    "UNION ALL SELECT 'year', year, c FROM g WHERE gs = 62 AND year <> '') f)"
)


def search_sql(where: str, ranked: bool, with_facets: bool, top: str | None = None, order: str | None = None,
               rerank: int = 0) -> str:
    """One statement for a whole search (each round trip costs most on a loaded machine): the total, facet
    counts (GROUP BY over the matches), the page of hits (ranked on narrow columns, then only the page's rows
    read whole) and the index generation.

    Ranking: ``rerank`` > 0 (the RUM index exists): the index's own order (``tsv <=> rank``, computed from its
    posting lists, no vector read) picks the best ``rerank`` candidates (at least a page's end), and ``ts_rank``
    with the backend's weights orders those; the matches without a ranked word (matched by a column condition
    alone: score 0) follow by date when the candidates do not fill the page. Exact while a query has at most
    ``rerank`` ranked matches. Else ``ts_rank`` over every match (each match's vector read: the cost that grows
    with the corpus). ``top`` (a query of ``uid, created, score`` with ``:limit`` and ``:offset``) and ``order``
    (of ``top``'s columns) replace the default ranking: bench/pg_search_bench.py measures other designs through
    them."""
    score = f"ts_rank('{RANK_WEIGHTS}', tsv, CAST(:rank AS tsquery), {RANK_NORMALIZATION})" if ranked else "0.0"
    columns, candidates = "", ""
    if top is None and ranked and rerank:
        order = "score DESC, created, uid"
        candidates = (f", c AS (SELECT uid, created, {score} AS score FROM {ENTRIES} WHERE {where} "
                      "AND tsv @@ CAST(:rank AS tsquery) ORDER BY tsv <=> CAST(:rank AS tsquery) "
                      f"LIMIT GREATEST({int(rerank)}, :limit + :offset))")
        top = ("SELECT uid, created, score FROM (SELECT uid, created, score FROM c UNION ALL "
               "SELECT uid, created, CAST(0 AS real) FROM m WHERE (SELECT count(*) FROM c) < :limit + :offset "
               f"AND uid NOT IN (SELECT uid FROM c)) t ORDER BY {order} LIMIT :limit OFFSET :offset")
    elif top is None:
        order = "score DESC, created, uid" if ranked else "created DESC, uid"
        top = f"SELECT uid, created, score FROM m ORDER BY {order} LIMIT :limit OFFSET :offset"
        columns = f", {score} AS score"
    outer = ", ".join(f"top.{part.strip()}" for part in (order or "score DESC").split(","))
    return (
        f"WITH m AS MATERIALIZED (SELECT uid, created, kind, sectors, langs, organization_id, session_id, year"
        f"{columns} FROM {ENTRIES} WHERE {where}){_FACET_GROUPS if with_facets else ''}{candidates}, top AS ({top}) "
        f"SELECT (SELECT count(*) FROM m), {_FACETS_SQL if with_facets else 'NULL::json'}, "
        f"(SELECT json_agg(json_build_object({_HIT_JSON}, 'stamp', e.stamp, 'payload', CASE WHEN e.uid || chr(31) "
        f"|| e.stamp = ANY(CAST(:known AS text[])) THEN NULL ELSE e.payload END, 'score', top.score) ORDER BY {outer}) "
        f"FROM top JOIN {ENTRIES} e ON e.uid = top.uid), (SELECT value FROM {META} WHERE key = 'generation')"
    )


class PgBatch:
    """Updates applied in one transaction; what registered indexers write to (as Whoosh's IndexBatch)."""

    def __init__(self, connection: Connection, engine: PostgresEngine):
        self.connection = connection
        self.engine = engine

    def _forget_words(self, key: str, value: str) -> None:
        """Count the lexicon's words of the rows about to change out (``key`` is uid or object_key)."""
        self.connection.execute(text(
            f"UPDATE {TERMS} t SET ndoc = t.ndoc - 1 FROM ({_LEXICON_OF.format(key=key)}) o "
            "WHERE t.lexeme = o.lexeme"), {"key": value})

    def put(self, entry: IndexEntry) -> bool:
        """Add or replace the entry (by uid). A superseding entry older than the indexed one is skipped."""
        if entry.supersedes_by_object_id:
            indexed = self.connection.execute(text(f"SELECT object_id FROM {ENTRIES} WHERE uid = :uid FOR UPDATE"),
                                              {"uid": entry.uid}).scalar()
            if indexed is not None and indexed > entry.object_id:
                return False
        row = entry_row(self.engine.schema, entry)
        self._forget_words("uid", entry.uid)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "uid")
        values = ", ".join(f"CAST(:{c} AS tsvector)" if c == "tsv" else f":{c}" for c in COLUMNS)
        self.connection.execute(text(
            f"INSERT INTO {ENTRIES} ({', '.join(COLUMNS)}) VALUES ({values}) ON CONFLICT (uid) DO UPDATE SET {updates}"),
            row)
        self.connection.execute(text(
            f"INSERT INTO {TERMS} (lexeme, ndoc) SELECT lexeme, 1 FROM ({_LEXICON_OF.format(key='uid')}) o "
            f"ON CONFLICT (lexeme) DO UPDATE SET ndoc = {TERMS}.ndoc + 1"), {"key": entry.uid})
        return True

    def delete_object(self, object_key: str) -> None:
        self._forget_words("object_key", object_key)
        self.connection.execute(text(f"DELETE FROM {ENTRIES} WHERE object_key = :key"), {"key": object_key})

    def delete_uid(self, uid: str) -> None:
        self._forget_words("uid", uid)
        self.connection.execute(text(f"DELETE FROM {ENTRIES} WHERE uid = :key"), {"key": uid})


def _latest_drafts(entries: Iterable[IndexEntry]) -> Iterator[IndexEntry]:
    """``entries`` without the superseding ones older than one already seen (never analysed)."""
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.supersedes_by_object_id:
            if seen.get(entry.uid, -1) > entry.object_id:
                continue
            seen[entry.uid] = entry.object_id
        yield entry


def _bump_generation(connection: Connection) -> None:
    connection.execute(text(
        f"INSERT INTO {META} (key, value) VALUES ('generation', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = (" + META + ".value::bigint + 1)::text"))
    connection.execute(text(
        f"INSERT INTO {META} (key, value) VALUES ('schema_version', :v) ON CONFLICT (key) DO NOTHING"),
        {"v": SCHEMA_VERSION})

