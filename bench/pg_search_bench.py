"""PostgreSQL full-text search against Whoosh on the same corpus, in one run (issue 15, "Speed").

    .venv/bin/python bench/pg_search_bench.py --docs 500                 # a quick look
    nice .venv/bin/python bench/pg_search_bench.py --docs 10000 50000    # growth between two sizes
    nice -n 19 .venv/bin/python bench/pg_search_bench.py --docs 50000 --replicate 500000 --procs 2 \
        --pg-data bench/out/pg-cluster --whoosh-index bench/out/search-corpus-v1-s5-50000-20130611/big/index \
        --designs gin_rank rum rum_rerank two_stage                       # issue 15's two sizes

The corpus is bench/search_bench.py's (same generator, seed and queries: imported, not copied). For each
size, a private PostgreSQL 15 cluster (tests/servers.py) gets the PostgreSQL backend's table, built by
``PostgresEngine.rebuild`` (what ``docmgr reindex`` runs), and Whoosh its index (``WhooshEngine.rebuild``).
Then every query runs, in turn, on each of these designs (top 10 with highlights and facet counts, as
everything and as a firm, whose permission filter is ``readers @> {org}``):

* ``gin_rank`` — the backend without the RUM index: GIN on the weighted tsvector, ``ts_rank`` over every match;
* ``rum`` — a RUM index on the same tsvector, ``ORDER BY tsv <=> query LIMIT 10``;
* ``two_stage`` — ``ts_rank`` on at most 500 candidates: the matches in titles and labels (the query with
  weights A/B only), then the newest matches, so the ranking reads a bounded number of vectors;
* ``per_language`` — ``docmgr_it``/``docmgr_ru`` configurations (italian/russian Snowball + unaccent) on
  separate Italian and Russian vectors (title A + text), each under GIN, ranked in its language only
  (a different analysis: no cross-script names, no per-script stemming: a speed yardstick);
* ``rum_rerank`` — the backend where the RUM index exists (``PostgresEngine.search`` with ``rerank=RERANK``):
  without a filter, the RUM index's ``<=>`` order picks the best ``RERANK`` candidates from the index (no
  vector read), then ``ts_rank`` (the backend's weights) orders those: exact while a query has at most
  ``RERANK`` matches, and reads that many vectors at most; with a filter (the firm) as ``gin_rank``;
* ``whoosh`` — ``WhooshEngine.search``, today's default.

Options for the big sizes (issue 15: 50,000 and 500,000 documents):

* ``--procs N``: the PostgreSQL build analyses in N processes (``PostgresEngine.rebuild(procs=N)``);
* ``--pg-data DIR``: the PostgreSQL cluster lives in DIR and is kept: each built database (``bench_<docs>_<seed>``,
  a ``bench_built`` row in ``search_meta`` with the build's figures) and each variant's index is reused by a
  later run instead of being built again (a crash or a second run does not cost the build again);
* ``--whoosh-index PATH``: Whoosh's index of the same corpus (search_bench.py's cache, same generator and seed)
  is copied and opened instead of built; its document count must equal the corpus's;
* ``--replicate N``: a REPLICATED corpus of N documents made in SQL from the largest built size (N a multiple
  of it): its analysed rows copied N/size − 1 times with new uids/object keys/ids, organisations and readers
  shifted to other organisations (``(id − 1 + 37·k) mod 200 + 1``) and dates continuing the generator's spacing
  (``created`` = 2013-01-01 + 2 h × id), the lexicon's counts multiplied. Match sets grow exactly N/size times
  as in a real corpus of that size, though the texts repeat (the JSON says ``"replicated": true``). A full
  Python build of 500,000 documents (≈ 6 G characters) does not fit a session on this machine.

``--similar N`` also times "similar documents" (``more_like_this``, the proposals like one, top 50, as the
document page asks) for N random proposals, as everything and as a firm, on PostgreSQL and Whoosh.

Facets are the same ``GROUP BY`` in every PostgreSQL design (the engine's). Prints one JSON summary (progress
on stderr): p50/p95 per design, ratios to Whoosh's p95 and between sizes, build throughput, sizes on disk.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from whoosh import query as wq  # noqa: E402

from bench.search_bench import (  # noqa: E402
    FIRM_ORG_ID,
    TAGGED,
    dir_size,
    generate,
    load_language,
    log,
    percentile,
    pick_queries,
)
from docmgr.search.engine import WhooshEngine  # noqa: E402
from docmgr.search.pgengine import RANK_NORMALIZATION, RANK_WEIGHTS, RERANK, PostgresEngine, search_sql  # noqa: E402
from docmgr.search.pgquery import compile_query  # noqa: E402
from docmgr.search.pgschema import DDL, ENTRIES, META, TERMS  # noqa: E402
from docmgr.search.query import QueryBuilder, bound_expansions  # noqa: E402
from tests.servers import start_postgres  # noqa: E402

CANDIDATES = 500

PG_SETTINGS = {"shared_buffers": "1GB", "maintenance_work_mem": "1GB", "max_wal_size": "8GB",
               "checkpoint_timeout": "30min"}
DESIGNS = ["gin_rank", "rum", "rum_rerank", "two_stage", "per_language"]
SETUP = [
    "CREATE TEXT SEARCH CONFIGURATION docmgr_it (COPY = italian)",
    "ALTER TEXT SEARCH CONFIGURATION docmgr_it ALTER MAPPING FOR hword, hword_part, word WITH unaccent, italian_stem",
    "CREATE TEXT SEARCH CONFIGURATION docmgr_ru (COPY = russian)",
    "ALTER TEXT SEARCH CONFIGURATION docmgr_ru ALTER MAPPING FOR hword, hword_part, word WITH unaccent, russian_stem",
]
VARIANT_DDL = {
    "rum": ["CREATE INDEX IF NOT EXISTS ix_bench_rum ON search_entries USING rum (tsv rum_tsvector_ops)"],
    "per_language": [
        "ALTER TABLE search_entries ADD COLUMN tsv_it tsvector, ADD COLUMN tsv_ru tsvector",
        """UPDATE search_entries SET
              tsv_it = setweight(to_tsvector('docmgr_it', title_it), 'A') || to_tsvector('docmgr_it', payload::json->>'text_it'),
              tsv_ru = setweight(to_tsvector('docmgr_ru', title_ru), 'A') || to_tsvector('docmgr_ru', payload::json->>'text_ru')""",
        "CREATE INDEX ix_bench_it ON search_entries USING gin (tsv_it)",
        "CREATE INDEX ix_bench_ru ON search_entries USING gin (tsv_ru)",
    ],
}


def heads_of(rank: str) -> str:
    """The ranking tsquery with each word restricted to titles and labels (weights A, B)."""
    def restrict(match: re.Match) -> str:
        return match.group(1) + ":" + ("*" if "*" in (match.group(2) or "") else "") + "AB"

    return re.sub(r"('(?:[^']|'')*')(:\*?[A-D]*)?", restrict, rank) or "''"


class Designs:
    """One query, top 10 with highlights and facets, by each design."""

    def __init__(self, engine: PostgresEngine, whoosh: WhooshEngine | None, builder: QueryBuilder):
        self.engine, self.whoosh, self.builder = engine, whoosh, builder

    def _run(self, query, filter_query, where: str | None, top: str, order: str, extra: dict) -> int:
        """One statement, as the engine's: facets and total over the matches, the top 10 by ``top``."""
        compiled = compile_query(query, filter_query)
        where = where or compiled.where
        keys, known = self.engine.known_documents()
        with self.engine.reader() as connection:
            row = connection.execute(text(search_sql(where, True, True, top.replace("{where}", where), order)),
                                     {**compiled.params, "rank": compiled.rank, "limit": 10, "offset": 0,
                                      "known": keys, **extra}).one()
        return self.engine.result_of(row, query, True, True, known).total

    def gin_rank(self, q: str, filter_query) -> int:
        self.engine.rerank = 0  # ts_rank over every match, even where the RUM index exists
        return self.engine.search(self.builder.parse(q), filter_query=filter_query, page=1, per_page=10,
                                  rewrite=bound_expansions).total

    def rum(self, q: str, filter_query) -> int:
        query = bound_expansions(self.builder.parse(q), self.engine).normalize()
        return self._run(query, filter_query, None, (
            f"SELECT uid, created, tsv <=> CAST(:rank AS tsquery) AS score FROM {ENTRIES} WHERE {{where}} "
            "ORDER BY score LIMIT :limit OFFSET :offset"), "score, created, uid", {})

    def rum_rerank(self, q: str, filter_query) -> int:
        """The engine's statement with ``rerank`` (what the backend runs when its RUM index exists)."""
        self.engine.rerank = RERANK
        return self.engine.search(self.builder.parse(q), filter_query=filter_query, page=1, per_page=10,
                                  rewrite=bound_expansions).total

    def two_stage(self, q: str, filter_query) -> int:
        query = bound_expansions(self.builder.parse(q), self.engine).normalize()
        return self._run(query, filter_query, None, (
            f"SELECT uid, created, ts_rank('{RANK_WEIGHTS}', tsv, CAST(:rank AS tsquery), {RANK_NORMALIZATION}) "
            f"AS score FROM {ENTRIES} WHERE uid IN (("
            f"SELECT uid FROM {ENTRIES} WHERE {{where}} AND tsv @@ CAST(:heads AS tsquery) LIMIT {CANDIDATES}) UNION ("
            f"SELECT uid FROM m ORDER BY created DESC LIMIT {CANDIDATES})) "
            "ORDER BY score DESC LIMIT :limit OFFSET :offset"), "score DESC",
            {"heads": heads_of(compile_query(query).rank or "")})

    def per_language(self, q: str, filter_query) -> int:
        where = ("(tsv_it @@ plainto_tsquery('docmgr_it', :q) OR tsv_ru @@ plainto_tsquery('docmgr_ru', :q))"
                 + (" AND readers @> ARRAY[:org]::integer[]" if filter_query is not None else ""))
        return self._run(self.builder.parse(q), None, where, (
            "SELECT uid, created, ts_rank(tsv_it, plainto_tsquery('docmgr_it', :q)) "
            f"+ ts_rank(tsv_ru, plainto_tsquery('docmgr_ru', :q)) AS score FROM {ENTRIES} WHERE {{where}} "
            "ORDER BY score DESC LIMIT :limit OFFSET :offset"), "score DESC", {"q": q, "org": FIRM_ORG_ID})

    def whoosh_search(self, q: str, filter_query) -> int:
        return self.whoosh.search(self.builder.parse(q), filter_query=filter_query, page=1, per_page=10,
                                  rewrite=bound_expansions).total


def sizes(engine: PostgresEngine) -> dict:
    with engine.db.connect() as connection:
        rows = connection.execute(text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "WHERE c.relname LIKE 'search_%' OR c.relname LIKE 'ix_search_%' OR c.relname LIKE 'ix_bench_%'")).all()
        table = connection.execute(text("SELECT pg_table_size('search_entries')")).scalar()
        tsv = connection.execute(text("SELECT sum(pg_column_size(tsv)) FROM search_entries")).scalar()
    return {"table_mb": round(table / 1e6, 1), "tsv_column_mb": round((tsv or 0) / 1e6, 1),
            **{name + "_mb": round(size / 1e6, 1) for name, size in rows if name.startswith("ix_")}}


def summary(latencies: list[float]) -> dict:
    return {"p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1)}


def _admin(server, sql: str, params: tuple = ()) -> list:
    with psycopg.connect(server.admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _database(server, name: str, template: str = "template_docmgr") -> tuple[str, bool]:
    """The URL of database ``name`` and whether it was there already (else created from ``template``)."""
    if _admin(server, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
        return server.url_for(name), True
    _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return server.url_for(name), False


def _marker(sa_engine, key: str) -> dict | None:
    with sa_engine.connect() as connection:
        value = connection.execute(text(f"SELECT value FROM {META} WHERE key = :k"), {"k": key}).scalar()
    return json.loads(value) if value else None


def _set_marker(sa_engine, key: str, value: dict) -> None:
    with sa_engine.begin() as connection:
        connection.execute(text(f"INSERT INTO {META} (key, value) VALUES (:k, :v) ON CONFLICT (key) DO UPDATE "
                                "SET value = EXCLUDED.value"), {"k": key, "v": json.dumps(value)})


def build(server, docs: int, args, sentences) -> tuple[str, dict]:
    """The database of the generated corpus of ``docs`` documents, built by ``PostgresEngine.rebuild`` (or
    found built in ``--pg-data``). Returns its URL and the build's figures."""
    it_sentences, ru_sentences = sentences
    name = f"bench_{docs}_{args.seed}"
    url, existed = _database(server, name) if args.pg_data else (server.create_database("bench"), False)
    sa_engine = create_engine(url, pool_size=2)
    engine = PostgresEngine(lambda: sa_engine)
    engine.ensure()
    built = _marker(sa_engine, "bench_built") if existed else None
    if built is None:
        with sa_engine.begin() as connection:
            if not _has_configs(connection):
                for statement in SETUP:
                    connection.execute(text(statement))
        log(f"{docs}: PostgreSQL rebuild, {args.procs} process(es)")
        started = time.perf_counter()
        with engine.drain_lock(blocking=True):
            count = engine.rebuild(generate(docs, args.seed, it_sentences, ru_sentences), procs=args.procs)
        seconds = time.perf_counter() - started
        built = {"seconds": round(seconds, 1), "docs_per_second": round(count / seconds, 1), "procs": args.procs,
                 "count": count, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _set_marker(sa_engine, "bench_built", built)
        log(f"{docs}: built {built}")
    else:
        log(f"{docs}: found built in {args.pg_data}: {built}")
    sa_engine.dispose()
    return url, {"postgres_rebuild": built}


def _has_configs(connection) -> bool:
    return bool(connection.execute(text("SELECT 1 FROM pg_ts_config WHERE cfgname = 'docmgr_it'")).first())


def replicate(server, base_url: str, base_docs: int, target: int, args) -> tuple[str, dict]:
    """A REPLICATED corpus of ``target`` rows from the database of ``base_docs`` documents (see the module's
    docstring), made once in ``--pg-data``."""
    generated = base_docs - 2 * TAGGED  # the tagged documents are copied with the others
    copies = target // generated
    if copies * generated != target or copies < 2:
        raise SystemExit(f"--replicate {target} must be a multiple (2× or more) of {generated}")
    name = f"bench_{target}_{args.seed}_replicated"
    base_name = base_url.rpartition("/")[2]
    url, existed = _database(server, name, template=base_name) if args.pg_data else (None, False)
    if url is None:
        name = f"bench_{target}_{int(time.time())}"
        _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{base_name}"')
        url = server.url_for(name)
    sa_engine = create_engine(url, pool_size=2)
    made = _marker(sa_engine, "bench_replicated") if existed else None
    if made is None:
        log(f"{target}: replicating the {base_docs} analysed rows × {copies} in SQL")
        started = time.perf_counter()
        with sa_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            indexes = connection.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexname LIKE 'ix_%'"), {"t": ENTRIES}
            ).scalars().all()
            for index in indexes:
                connection.execute(text(f"DROP INDEX {index}"))
            base_max = connection.execute(text(f"SELECT max(object_id) FROM {ENTRIES}")).scalar_one()
            for k in range(1, copies):
                shift = f"((%s - 1 + {37 * k}) %% 200 + 1)"
                connection.execute(text(
                    f"INSERT INTO {ENTRIES} (uid, object_key, doctype, object_id, title_it, title_ru, kind, sectors, "
                    "langs, organization_id, readers, session_id, year, created, stamp, payload, tsv) "
                    f"SELECT doctype || ':' || (object_id + {k * base_max}), "
                    f"split_part(object_key, ':', 1) || ':' || (object_id + {k * base_max}), doctype, "
                    f"object_id + {k * base_max}, title_it, title_ru, kind, sectors, langs, "
                    f"{shift % 'organization_id'}, "
                    f"ARRAY(SELECT {shift % 'r'} FROM unnest(readers) r ORDER BY 1), session_id, "
                    f"to_char(TIMESTAMP '2013-01-01' + (object_id + {k * base_max}) * INTERVAL '2 hours', 'YYYY'), "
                    f"TIMESTAMP '2013-01-01' + (object_id + {k * base_max}) * INTERVAL '2 hours', stamp, payload, tsv "
                    f"FROM {ENTRIES} WHERE object_id <= {base_max}"))
                log(f"{target}: copy {k}/{copies - 1} in {time.perf_counter() - started:.0f}s")
            connection.execute(text(f"UPDATE {TERMS} SET ndoc = ndoc * {copies}"))
            connection.execute(text("SET maintenance_work_mem = '1GB'"))
            for statement in DDL:
                if statement.startswith("CREATE INDEX"):
                    connection.execute(text(statement))
            connection.execute(text(f"DELETE FROM {META} WHERE key = 'bench_variants'"))  # their indexes went
            connection.execute(text(f"VACUUM ANALYZE {ENTRIES}"))
        made = {"seconds": round(time.perf_counter() - started, 1), "copies": copies, "base_rows": base_docs,
                "rows": copies * base_docs, "replicated": True}
        _set_marker(sa_engine, "bench_replicated", made)
        log(f"{target}: replicated {made}")
    sa_engine.dispose()
    return url, {"replicated": made}


def add_variants(url: str, designs: list[str]) -> dict:
    """The variants' extra indexes/columns the chosen designs need (kept in --pg-data); their build seconds."""
    sa_engine = create_engine(url, pool_size=2)
    figures = _marker(sa_engine, "bench_variants") or {}
    with sa_engine.connect() as connection:
        has_rum = connection.execute(text(f"SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = '{ENTRIES}' "
                                          "AND indexdef LIKE '%USING rum%')")).scalar_one()
    for name, statements in VARIANT_DDL.items():
        if name + "_extra_seconds" in figures or not any(d == name or d.startswith(name + "_") for d in designs):
            continue
        if name == "rum" and has_rum:  # the backend's own (create_schema, where rum is installed)
            continue
        log(f"{url.rpartition('/')[2]}: {name}")
        started = time.perf_counter()
        with sa_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SET maintenance_work_mem = '1GB'"))
            for statement in statements:
                connection.execute(text(statement))
            connection.execute(text(f"VACUUM ANALYZE {ENTRIES}"))
        figures[name + "_extra_seconds"] = round(time.perf_counter() - started, 1)
        _set_marker(sa_engine, "bench_variants", figures)
    sa_engine.dispose()
    return figures


def open_whoosh(args, docs: int, sentences, workdir: Path) -> tuple[WhooshEngine, dict]:
    """Whoosh's index of the corpus: a copy of ``--whoosh-index`` (checked: same document count), else built."""
    it_sentences, ru_sentences = sentences
    expected = docs + 2 * TAGGED
    target = workdir / f"whoosh-{docs}"
    if args.whoosh_index:
        started = time.perf_counter()
        shutil.copytree(args.whoosh_index, target, symlinks=True, ignore=shutil.ignore_patterns("*.lock"))
        whoosh = WhooshEngine(target)
        searcher = whoosh.searcher()
        found = searcher.doc_count() if searcher is not None else 0
        if found != expected:
            raise SystemExit(f"{args.whoosh_index} holds {found} documents, the corpus {expected}")
        log(f"{docs}: Whoosh index copied from {args.whoosh_index} ({found} documents) in "
            f"{time.perf_counter() - started:.0f}s")
        return whoosh, {"whoosh_index": f"opened a copy of {args.whoosh_index} ({found} documents)"}
    log(f"{docs}: Whoosh rebuild")
    whoosh = WhooshEngine(target)
    started = time.perf_counter()
    with whoosh.drain_lock(blocking=True):
        count = whoosh.rebuild(generate(docs, args.seed, it_sentences, ru_sentences), procs=1)
    seconds = time.perf_counter() - started
    return whoosh, {"whoosh_rebuild": {"seconds": round(seconds, 1), "docs_per_second": round(count / seconds, 1)}}


def measure(url: str, docs: int, whoosh: WhooshEngine | None, designs: list[str], groups: dict[str, list[str]],
            warm_rounds: int = 0, similar: int = 0) -> dict:
    """Every query by every design, round robin (every design meets the same machine load), after
    ``warm_rounds`` untimed rounds of the same."""
    sa_engine = create_engine(url, pool_size=2)
    engine = PostgresEngine(lambda: sa_engine)
    result: dict = {"size": sizes(engine)}
    if whoosh is not None:
        result["size"]["whoosh_mb"] = round(dir_size(whoosh.current_dir()) / 1e6, 1)
    runner = Designs(engine, whoosh, QueryBuilder(engine.schema))
    names = designs + (["whoosh_search"] if whoosh else [])
    firm = wq.Term("readers", str(FIRM_ORG_ID))
    queries = [q for group in groups.values() for q in group]
    for name in names:  # warm: the first query of each design reads its index from disk
        getattr(runner, name)(queries[0], None)
    for _ in range(warm_rounds):  # steady state: every design has read what the queries need once
        for q in queries:
            for filter_query in (None, firm):
                for name in names:
                    getattr(runner, name)(q, filter_query)
    latencies: dict[tuple[str, str], list[float]] = {(n, who): [] for n in names for who in ("all", "firm")}
    totals: dict[tuple[str, str], list[int]] = {key: [] for key in latencies}
    log(f"{docs}: {len(queries)} queries × {len(names)} designs × 2")
    for i, q in enumerate(queries):
        for who, filter_query in (("all", None), ("firm", firm)):
            for name in names:
                method = getattr(runner, name)
                started = time.perf_counter()
                total = method(q, filter_query)
                latencies[(name, who)].append((time.perf_counter() - started) * 1000)
                totals[(name, who)].append(total)
        if i % 20 == 19:
            log(f"{docs}: {i + 1}/{len(queries)} queries")
    result["latency"] = {f"{name}/{who}": {**summary(values), "mean_total": round(statistics.mean(totals[(name, who)]), 1)}
                         for (name, who), values in latencies.items()}
    if similar:
        result["similar"] = measure_similar(engine, whoosh, similar)
    sa_engine.dispose()
    return result


def measure_similar(engine: PostgresEngine, whoosh: WhooshEngine | None, count: int) -> dict:
    """``more_like_this`` of ``count`` random proposals (a fixed draw), top 50 among the proposals, as everything
    and as a firm, on each backend in turn: p50/p95 of the calls after the first, the first call apart (it reads
    from disk), the mean number of documents found, and (with Whoosh) how many of Whoosh's first 10 PostgreSQL's
    first 10 hold, on average: the two rank by different formulas (BM25 with Bo1 weights; summed word weights)."""
    with engine.reader() as connection:
        uids = connection.execute(text(f"SELECT uid FROM {ENTRIES} WHERE doctype = 'document' AND kind = 'proposal' "
                                       "ORDER BY md5(uid) LIMIT :n"), {"n": count}).scalars().all()
    proposals = [wq.Term("doctype", "document"), wq.Term("kind", "proposal")]
    backends = {"postgres": engine, **({"whoosh": whoosh} if whoosh else {})}
    out = {}
    for who, filter_query in (("all", wq.And(proposals)), ("firm", wq.And([*proposals, wq.Term("readers", str(FIRM_ORG_ID))]))):
        tops: dict[str, list[set[str]]] = {}
        for name, backend in backends.items():
            times, found = [], []
            for uid in uids:
                started = time.perf_counter()
                hits = backend.more_like_this(uid, filter_query=filter_query, top=50)
                times.append((time.perf_counter() - started) * 1000)
                found.append(len(hits))
                tops.setdefault(name, []).append({hit.uid for hit, _score in hits[:10]})
            out[f"{name}/{who}"] = {"first_ms": round(times[0], 1), **summary(times[1:]),
                                    "mean_found": round(statistics.mean(found), 1)}
            log(f"similar {name}/{who}: {out[f'{name}/{who}']}")
        if whoosh:
            out[f"top10_shared_with_whoosh/{who}"] = round(statistics.mean(
                len(pg & wh) for pg, wh in zip(tops["postgres"], tops["whoosh"], strict=True)), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[50_000], help="sizes built from the generator")
    parser.add_argument("--replicate", type=int, nargs="*", default=[], help="sizes REPLICATED in SQL from the "
                        "largest built size (see the docstring)")
    parser.add_argument("--whoosh-at", type=int, nargs="*", default=None, help="sizes that get a Whoosh index too "
                        "(default: the first)")
    parser.add_argument("--whoosh-index", type=Path, default=None, help="an existing Whoosh index of the first "
                        "size's corpus (copied, not built)")
    parser.add_argument("--pg-data", type=Path, default=None, help="keep the PostgreSQL cluster (and what it built) "
                        "in this folder")
    parser.add_argument("--procs", type=int, default=2, help="processes of the PostgreSQL build's analysis")
    parser.add_argument("--designs", nargs="+", default=DESIGNS, choices=DESIGNS)
    parser.add_argument("--warm-rounds", type=int, default=0, help="untimed rounds of every query and design first "
                        "(steady state: the data each design reads is in memory, as Whoosh's freshly copied index is)")
    parser.add_argument("--build-only", action="store_true", help="build (or find) the databases, then stop")
    parser.add_argument("--seed", type=int, default=20130611)
    parser.add_argument("--queries", type=int, default=25, help="queries per group (4 groups: IT/RU, 1/2 words)")
    parser.add_argument("--similar", type=int, default=0, help="also time \"similar documents\" of this many proposals")
    args = parser.parse_args()
    args.whoosh_at = args.docs[:1] if args.whoosh_at is None else args.whoosh_at
    sentences = (load_language(["PUD_it.txt", "udhr_ita.txt"]), load_language(["PUD_ru.txt", "udhr_rus.txt"]))
    rng = random.Random(args.seed + 1)
    groups = {"it_1_word": pick_queries(rng, sentences[0], args.queries, 1),
              "it_2_words": pick_queries(rng, sentences[0], args.queries, 2),
              "ru_1_word": pick_queries(rng, sentences[1], args.queries, 1),
              "ru_2_words": pick_queries(rng, sentences[1], args.queries, 2)}
    workdir = Path(tempfile.mkdtemp(prefix="docmgr-pg-bench-"))
    server = start_postgres(args.pg_data.resolve() if args.pg_data else None, PG_SETTINGS)
    runs = []
    try:
        databases: list[tuple[int, str, dict]] = []
        for docs in args.docs:
            url, figures = build(server, docs, args, sentences)
            databases.append((docs + 2 * TAGGED, url, figures))
        base_docs, base_url, _ = databases[-1]
        for target in args.replicate:
            url, figures = replicate(server, base_url, base_docs, target, args)
            databases.append((target // (base_docs - 2 * TAGGED) * base_docs, url, figures))
        for _docs, url, figures in databases:
            figures.update(add_variants(url, args.designs))
        if args.build_only:
            print(json.dumps([{"docs": d, "build": f} for d, _u, f in databases], indent=2))
            return
        for docs, url, figures in databases:
            whoosh = None
            if docs - 2 * TAGGED in args.whoosh_at and "replicated" not in figures:
                whoosh, opened = open_whoosh(args, docs - 2 * TAGGED, sentences, workdir)
                figures.update(opened)
            run = {"docs": docs, "replicated": "replicated" in figures, "build": figures,
                   **measure(url, docs, whoosh, args.designs, groups, args.warm_rounds, args.similar),
                   "warm_rounds": args.warm_rounds}
            runs.append(run)
            log(json.dumps(run))
            if not args.pg_data:
                server.drop_database(url)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out: dict = {"runs": runs, "ratios": {}}
    first = runs[0]["latency"]
    for who in ("all", "firm"):
        if f"whoosh_search/{who}" in first:
            whoosh_p95 = first[f"whoosh_search/{who}"]["p95_ms"]
            for name in args.designs:
                out["ratios"][f"{name}/{who} p95 ÷ whoosh p95 at {runs[0]['docs']}"] = \
                    round(first[f"{name}/{who}"]["p95_ms"] / max(whoosh_p95, 0.01), 2)
        for run in runs[1:]:
            for name in args.designs:
                out["ratios"][f"{name}/{who} p95 at {run['docs']} ÷ at {runs[0]['docs']}"] = \
                    round(run["latency"][f"{name}/{who}"]["p95_ms"] / max(first[f"{name}/{who}"]["p95_ms"], 0.01), 2)
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
