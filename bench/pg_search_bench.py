"""PostgreSQL full-text search against Whoosh on the same corpus, in one run (issue 15, "Speed").

    .venv/bin/python bench/pg_search_bench.py --docs 500                 # a quick look
    nice .venv/bin/python bench/pg_search_bench.py --docs 10000 50000    # growth between two sizes

The corpus is bench/search_bench.py's (same generator, seed and queries: imported, not copied). For each
size, a private PostgreSQL 15 cluster (tests/servers.py) gets the PostgreSQL backend's table, built by
``PostgresEngine.rebuild`` (what ``docmgr reindex`` runs), and Whoosh its index (``WhooshEngine.rebuild``).
Then every query runs, in turn, on each of these designs (top 10 with highlights and facet counts, as
everything and as a firm, whose permission filter is ``readers @> {org}``):

* ``gin_rank`` — the backend as built: GIN on the weighted tsvector, ``ts_rank`` over every match;
* ``rum`` — a RUM index on the same tsvector, ``ORDER BY tsv <=> query LIMIT 10``;
* ``two_stage`` — ``ts_rank`` on at most 500 candidates: the matches in titles and labels (the query with
  weights A/B only), then the newest matches, so the ranking reads a bounded number of vectors;
* ``per_language`` — ``docmgr_it``/``docmgr_ru`` configurations (italian/russian Snowball + unaccent) on
  separate Italian and Russian vectors (title A + text), each under GIN, ranked in its language only
  (a different analysis: no cross-script names, no per-script stemming: a speed yardstick);
* ``whoosh`` — ``WhooshEngine.search``, today's default.

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
from docmgr.search.pgengine import RANK_NORMALIZATION, RANK_WEIGHTS, PostgresEngine, search_sql  # noqa: E402
from docmgr.search.pgquery import compile_query  # noqa: E402
from docmgr.search.pgschema import ENTRIES  # noqa: E402
from docmgr.search.query import QueryBuilder, bound_expansions  # noqa: E402
from tests.servers import start_postgres  # noqa: E402

CANDIDATES = 500
SETUP = [
    "CREATE TEXT SEARCH CONFIGURATION docmgr_it (COPY = italian)",
    "ALTER TEXT SEARCH CONFIGURATION docmgr_it ALTER MAPPING FOR hword, hword_part, word WITH unaccent, italian_stem",
    "CREATE TEXT SEARCH CONFIGURATION docmgr_ru (COPY = russian)",
    "ALTER TEXT SEARCH CONFIGURATION docmgr_ru ALTER MAPPING FOR hword, hword_part, word WITH unaccent, russian_stem",
]
VARIANT_DDL = {
    "rum": ["CREATE INDEX ix_bench_rum ON search_entries USING rum (tsv rum_tsvector_ops)"],
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
        return self.engine.search(self.builder.parse(q), filter_query=filter_query, page=1, per_page=10,
                                  rewrite=bound_expansions).total

    def rum(self, q: str, filter_query) -> int:
        query = bound_expansions(self.builder.parse(q), self.engine).normalize()
        return self._run(query, filter_query, None, (
            f"SELECT uid, created, tsv <=> CAST(:rank AS tsquery) AS score FROM {ENTRIES} WHERE {{where}} "
            "ORDER BY score LIMIT :limit OFFSET :offset"), "score, created, uid", {})

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


def run_size(server, docs: int, args, groups: dict[str, list[str]], sentences, workdir: Path) -> dict:
    it_sentences, ru_sentences = sentences
    url = server.create_database("bench")
    sa_engine = create_engine(url, pool_size=2)
    engine = PostgresEngine(lambda: sa_engine)
    engine.ensure()
    with sa_engine.begin() as connection:
        for statement in SETUP:
            connection.execute(text(statement))
    result: dict = {"docs": docs + 2 * TAGGED, "build": {}}
    log(f"{docs}: PostgreSQL rebuild")
    started = time.perf_counter()
    with engine.drain_lock(blocking=True):
        count = engine.rebuild(generate(docs, args.seed, it_sentences, ru_sentences))
    seconds = time.perf_counter() - started
    result["build"]["postgres_rebuild"] = {"seconds": round(seconds, 1), "docs_per_second": round(count / seconds, 1)}
    for name, statements in VARIANT_DDL.items():
        log(f"{docs}: {name}")
        started = time.perf_counter()
        with sa_engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
        result["build"][name + "_extra_seconds"] = round(time.perf_counter() - started, 1)
    with sa_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE search_entries"))
    result["size"] = sizes(engine)
    whoosh = None
    if docs in args.whoosh_at:
        log(f"{docs}: Whoosh rebuild")
        whoosh = WhooshEngine(workdir / f"whoosh-{docs}")
        started = time.perf_counter()
        with whoosh.drain_lock(blocking=True):
            whoosh.rebuild(generate(docs, args.seed, it_sentences, ru_sentences), procs=1)
        seconds = time.perf_counter() - started
        result["build"]["whoosh_rebuild"] = {"seconds": round(seconds, 1), "docs_per_second": round(count / seconds, 1)}
        result["size"]["whoosh_mb"] = round(dir_size(whoosh.current_dir()) / 1e6, 1)
    designs = Designs(engine, whoosh, QueryBuilder(engine.schema))
    names = ["gin_rank", "rum", "two_stage", "per_language"] + (["whoosh_search"] if whoosh else [])
    firm = wq.Term("readers", str(FIRM_ORG_ID))
    queries = [q for group in groups.values() for q in group]
    for name in names:  # warm: the first query of each design reads its index from disk
        getattr(designs, name)(queries[0], None)
    latencies: dict[tuple[str, str], list[float]] = {(n, who): [] for n in names for who in ("all", "firm")}
    totals: dict[tuple[str, str], list[int]] = {key: [] for key in latencies}
    log(f"{docs}: {len(queries)} queries × {len(names)} designs × 2")
    for q in queries:  # round robin: every design meets the same machine load
        for who, filter_query in (("all", None), ("firm", firm)):
            for name in names:
                method = getattr(designs, name)
                started = time.perf_counter()
                total = method(q, filter_query)
                latencies[(name, who)].append((time.perf_counter() - started) * 1000)
                totals[(name, who)].append(total)
    result["latency"] = {f"{name}/{who}": {**summary(values), "mean_total": round(statistics.mean(totals[(name, who)]), 1)}
                         for (name, who), values in latencies.items()}
    sa_engine.dispose()
    server.drop_database(url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--whoosh-at", type=int, nargs="*", default=None, help="sizes that get a Whoosh index too "
                        "(default: the first)")
    parser.add_argument("--seed", type=int, default=20130611)
    parser.add_argument("--queries", type=int, default=25, help="queries per group (4 groups: IT/RU, 1/2 words)")
    args = parser.parse_args()
    args.whoosh_at = args.docs[:1] if args.whoosh_at is None else args.whoosh_at
    sentences = (load_language(["PUD_it.txt", "udhr_ita.txt"]), load_language(["PUD_ru.txt", "udhr_rus.txt"]))
    rng = random.Random(args.seed + 1)
    groups = {"it_1_word": pick_queries(rng, sentences[0], args.queries, 1),
              "it_2_words": pick_queries(rng, sentences[0], args.queries, 2),
              "ru_1_word": pick_queries(rng, sentences[1], args.queries, 1),
              "ru_2_words": pick_queries(rng, sentences[1], args.queries, 2)}
    workdir = Path(tempfile.mkdtemp(prefix="docmgr-pg-bench-"))
    server = start_postgres()
    runs = []
    try:
        for docs in args.docs:
            runs.append(run_size(server, docs, args, groups, sentences, workdir))
            log(json.dumps(runs[-1]))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out: dict = {"runs": runs, "ratios": {}}
    first = runs[0]["latency"]
    for who in ("all", "firm"):
        if f"whoosh_search/{who}" in first:
            whoosh_p95 = first[f"whoosh_search/{who}"]["p95_ms"]
            for name in ("gin_rank", "rum", "two_stage", "per_language"):
                out["ratios"][f"{name}/{who} p95 ÷ whoosh p95 at {runs[0]['docs']}"] = \
                    round(first[f"{name}/{who}"]["p95_ms"] / max(whoosh_p95, 0.01), 2)
        for run in runs[1:]:
            for name in ("gin_rank", "rum", "two_stage", "per_language"):
                out["ratios"][f"{name}/{who} p95 at {run['docs']} ÷ at {runs[0]['docs']}"] = \
                    round(run["latency"][f"{name}/{who}"]["p95_ms"] / max(first[f"{name}/{who}"]["p95_ms"], 0.01), 2)
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
