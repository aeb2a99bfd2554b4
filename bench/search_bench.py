"""Search benchmark: rebuild throughput and query latency of docmgr's Whoosh engine, with SQLite
FTS5 on the same corpus as a yardstick.

    .venv/bin/python bench/search_bench.py --docs 2000          # smoke run
    .venv/bin/python bench/search_bench.py                      # 50,000 documents

The corpus is synthetic but made of real language: sentences and words drawn (fixed seed) from the
Italian and Russian PUD treebank texts and the UDHR translations in tests/data/text.
Each document has an Italian and a Russian text (300–800 words together), titles in both
languages, a kind, sectors, an organisation (half of them Russian names in Cyrillic) and reader
organisations, so the index has the same shape as the real one. The index is built through
``WhooshEngine.rebuild`` exactly as ``docmgr reindex`` does; queries go through the same
``QueryBuilder`` and ``WhooshEngine.search`` as the API (permission filter, facets, highlights of
the top 10). FTS5 uses ``unicode61 remove_diacritics 2`` with MATCH + bm25 + snippet; it does no
stemming, so it answers a simpler question — it is a speed yardstick, not an equivalent.

Prints one JSON summary on stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from whoosh import query as wq  # noqa: E402

from docmgr.search.engine import IndexEntry, WhooshEngine  # noqa: E402
from docmgr.search.query import QueryBuilder, bound_expansions  # noqa: E402

CORPUS = REPO / "tests" / "data" / "text"
KINDS = ["proposal"] * 6 + ["agreement", "annex", "other"]
SECTORS = ["energy", "construction", "mechanics", "nanotech", "biotech", "other"]
IT_ORGS = ["Pirelli Costruzioni", "Ferraro Meccanica", "Energia Piemonte", "Biotecnologie Toscane", "Nanotec Emilia",
           "Costruzioni Rossi", "Officine Bianchi", "Termomeccanica Ligure", "Distretto Tessile Biellese", "Agroinnova"]
RU_ORGS = ["Сибирские Технологии", "Уральский Машиностроительный Завод", "Кузнецов и Партнеры", "Томская Энергия",
           "Наноматериалы Новосибирска", "Биотех Казань", "Строительные Системы Самары", "Волжские Моторы",
           "Петербургские Приборы", "Хабаровская Энергетика"]


def _sentences(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"(?<=[.!?»])\s+|\n+", text)
    return [p.strip() for p in parts if len(p.split()) >= 4]


def load_language(files: list[str]) -> list[str]:
    sentences: list[str] = []
    for name in files:
        sentences += _sentences(CORPUS / name)
    return sentences


def make_text(rng: random.Random, sentences: list[str], words: int) -> str:
    out: list[str] = []
    count = 0
    while count < words:
        sentence = rng.choice(sentences)
        out.append(sentence)
        count += len(sentence.split())
    return " ".join(out)


def generate(n: int, seed: int, it_sentences: list[str], ru_sentences: list[str]):
    """The same n documents for a given seed, lazily (the 50,000-document corpus is ~300 MB of text)."""
    rng = random.Random(seed)
    orgs = [(i + 1, name) for i, name in enumerate(IT_ORGS + RU_ORGS)]
    # 200 organisations: the named ones plus numbered variants, so facets and filters have spread.
    orgs += [(len(orgs) + i + 1, f"{rng.choice(IT_ORGS + RU_ORGS)} {i}") for i in range(180)]
    start = datetime(2013, 1, 1, tzinfo=UTC)
    for doc_id in range(1, n + 1):
        total_words = rng.randint(300, 800)
        it_words = rng.randint(total_words // 3, 2 * total_words // 3)
        text_it = make_text(rng, it_sentences, it_words)
        text_ru = make_text(rng, ru_sentences, total_words - it_words)
        org_id, org_name = rng.choice(orgs)
        readers = {org_id} | ({rng.choice(orgs)[0]} if rng.random() < 0.2 else set())
        title_it = " ".join(rng.choice(it_sentences).split()[:8])
        title_ru = " ".join(rng.choice(ru_sentences).split()[:8])
        sectors = sorted(set(rng.sample(SECTORS, rng.randint(1, 2))))
        yield IndexEntry(
            uid=f"document:{doc_id}", object_key=f"document:{doc_id}", doctype="document", object_id=doc_id,
            document_id=doc_id, created_at=start + timedelta(hours=doc_id * 2),
            title_it=title_it, title_ru=title_ru,
            files=[{"id": doc_id * 2 - 1, "language": "it", "text": text_it, "filename": f"{doc_id}-it.txt"},
                   {"id": doc_id * 2, "language": "ru", "text": text_ru, "filename": f"{doc_id}-ru.txt"}],
            kind=rng.choice(KINDS), sectors=sectors, languages=["it", "ru"], organization_id=org_id,
            organization_names=[org_name], reader_org_ids=sorted(readers), session_id=rng.randint(1, 24),
            session_name=f"Sessione {rng.randint(1, 24)}", meta=[], stamp=str(doc_id),
        )


def pick_queries(rng: random.Random, sentences: list[str], count: int, words_per_query: int) -> list[str]:
    """Words of 5+ letters that are neither very rare nor stop-word frequent."""
    freq = Counter(w.lower() for s in sentences for w in re.findall(r"\w{5,}", s))
    ordered = [w for w, c in freq.most_common() if 3 <= c <= 400]
    pool = ordered[: max(50, len(ordered) // 2)]
    return [" ".join(rng.sample(pool, words_per_query)) for _ in range(count)]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_whoosh(engine: WhooshEngine, builder: QueryBuilder, queries: list[str], filter_query) -> dict:
    latencies, totals = [], []
    for text in queries:
        started = time.perf_counter()
        result = engine.search(builder.parse(text), filter_query=filter_query, page=1, per_page=10,
                               rewrite=bound_expansions)
        latencies.append((time.perf_counter() - started) * 1000)
        totals.append(result.total)
    return {"p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
            "max_ms": round(max(latencies), 2), "mean_hits": round(statistics.mean(totals), 1)}


def build_fts(path: Path, n: int, seed: int, it_sentences, ru_sentences) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='unicode61 remove_diacritics 2')")
    started = time.perf_counter()
    batch = []
    for entry in generate(n, seed, it_sentences, ru_sentences):
        body = "\n\n".join(f["text"] for f in entry.files)
        batch.append((entry.object_id, entry.title_it + " " + entry.title_ru, body))
        if len(batch) >= 1000:
            con.executemany("INSERT INTO docs(rowid, title, body) VALUES (?, ?, ?)", batch)
            batch = []
    if batch:
        con.executemany("INSERT INTO docs(rowid, title, body) VALUES (?, ?, ?)", batch)
    con.commit()
    con.close()
    return time.perf_counter() - started


def time_fts(path: Path, queries: list[str]) -> dict:
    con = sqlite3.connect(path)
    latencies, totals = [], []
    for text in queries:
        match = " AND ".join('"' + w.replace('"', "") + '"' for w in text.split())
        started = time.perf_counter()
        total = con.execute("SELECT count(*) FROM docs WHERE docs MATCH ?", (match,)).fetchone()[0]
        rows = con.execute(
            "SELECT rowid, bm25(docs), snippet(docs, 1, '<mark>', '</mark>', '…', 16) FROM docs "
            "WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 10", (match,)
        ).fetchall()
        latencies.append((time.perf_counter() - started) * 1000)
        totals.append(total)
        assert len(rows) <= 10
    con.close()
    return {"p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
            "max_ms": round(max(latencies), 2), "mean_hits": round(statistics.mean(totals), 1)}


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=20130611)
    parser.add_argument("--queries", type=int, default=100, help="queries per group (4 groups)")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--limitmb", type=int, default=256)
    parser.add_argument("--workdir", default=None, help="where to build (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the index and FTS database")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="docmgr-search-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    it_sentences = load_language(["PUD_it.txt", "udhr_ita.txt"])
    ru_sentences = load_language(["PUD_ru.txt", "udhr_rus.txt"])
    print(f"corpus: {len(it_sentences)} it / {len(ru_sentences)} ru sentences; building {args.docs} docs in {workdir}",
          file=sys.stderr)

    engine = WhooshEngine(workdir / "index")
    started = time.perf_counter()
    with engine.drain_lock(blocking=True):
        count = engine.rebuild(generate(args.docs, args.seed, it_sentences, ru_sentences),
                               procs=args.procs, limitmb=args.limitmb)
    rebuild_seconds = time.perf_counter() - started
    index_bytes = dir_size(engine.current_dir())
    print(f"whoosh: {count} docs in {rebuild_seconds:.1f}s", file=sys.stderr)

    rng = random.Random(args.seed + 1)
    groups = {
        "it_1_word": pick_queries(rng, it_sentences, args.queries, 1),
        "it_2_words": pick_queries(rng, it_sentences, args.queries, 2),
        "ru_1_word": pick_queries(rng, ru_sentences, args.queries, 1),
        "ru_2_words": pick_queries(rng, ru_sentences, args.queries, 2),
    }
    builder = QueryBuilder(engine.schema)
    # Warm-up (first searcher open, facet caches): not counted, as in a running server.
    engine.search(builder.parse("accordo"), page=1, per_page=10)
    engine.search(builder.parse("accordo"), filter_query=wq.Term("readers", "3"), page=1, per_page=10)
    whoosh_results = {name: time_whoosh(engine, builder, queries, None) for name, queries in groups.items()}
    whoosh_firm = {name: time_whoosh(engine, builder, queries, wq.Term("readers", "3"))
                   for name, queries in groups.items()}
    # `text:` reads word positions (texts and titles share one field): timed apart, not a target.
    whoosh_text_filter = {name: time_whoosh(engine, builder, [f"text:{q}" for q in queries[: max(10, args.queries // 5)]],
                                            None)
                          for name, queries in groups.items() if name.endswith("1_word")}
    print("whoosh: queries done", file=sys.stderr)

    fts_path = workdir / "fts.sqlite3"
    fts_build = build_fts(fts_path, args.docs, args.seed, it_sentences, ru_sentences)
    fts_results = {name: time_fts(fts_path, queries) for name, queries in groups.items()}

    all_p95 = max(r["p95_ms"] for r in whoosh_results.values())
    summary = {
        "docs": count,
        "whoosh": {
            "rebuild_seconds": round(rebuild_seconds, 1),
            "rebuild_docs_per_second": round(count / rebuild_seconds, 1),
            "procs": args.procs, "limitmb": args.limitmb,
            "index_mb": round(index_bytes / 1e6, 1),
            "search_all_documents (legal/admin)": whoosh_results,
            "search_as_firm (permission filter)": whoosh_firm,
            "search_text_filter (text:word, all documents)": whoosh_text_filter,
        },
        "fts5": {
            "build_seconds": round(fts_build, 1),
            "build_docs_per_second": round(count / fts_build, 1),
            "db_mb": round(fts_path.stat().st_size / 1e6, 1),
            "search": fts_results,
        },
        "targets": {"search_p95_ms<=50": all_p95 <= 50, "rebuild_docs_per_second>=200": count / rebuild_seconds >= 200},
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
