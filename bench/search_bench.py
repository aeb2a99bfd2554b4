"""Search benchmark: what users meet, in one run — queries timed in-process and through HTTP
against gunicorn, beside ``GET /api/v1/me`` and SQLite FTS5 on the same corpus.

    .venv/bin/python bench/search_bench.py --docs 2000          # while iterating (a few minutes)
    nice .venv/bin/python bench/search_bench.py                 # 50,000 documents (long: run it niced)

At 50,000 documents the length mix makes about 600 million characters of text (3× the old
300–800-word corpus): the rebuild alone needs about 20 CPU-minutes. So the built corpus (the
instance's database, the Whoosh index, the FTS5 database and the figures of the build) is kept under
``bench/out/search-corpus-…``, keyed by ``--docs``, ``--seed``, the index's SCHEMA_VERSION and
CORPUS_VERSION; a later run with the same parameters copies it instead of rebuilding (the build
figures it prints are then those of the first run). ``--build-only`` builds the cache and stops
(run it niced, early); ``--rebuild`` ignores the cache.

The corpus is synthetic but made of real language: sentences drawn (fixed seed) from the Italian and
Russian PUD treebank texts and the UDHR translations in tests/data/text. Lengths follow
what the service holds (a page is ``WORDS_PER_PAGE`` words): most documents have 1–5 pages, one in
ten 10–50 pages (agreements and annexes), and three in a hundred are scans' OCR text (broken
words, digit/letter confusions, Latin look-alikes inside Cyrillic words). Every document has an
Italian and a Russian text, titles in both languages, a kind, sectors, one of 200 organisations
and reader organisations, so the index has the same shape as the real one. Twenty more documents
carry a tag in their file name: ten of exactly 20 pages and ten of 1 page.

Steps, all in one run so that the ratios compare like with like on a shared machine:

1. a docmgr instance (``docmgr init``, organisations, sessions, a legal and a firm user) whose
   index is built through ``WhooshEngine.rebuild``, as ``docmgr reindex`` does;
2. in-process: 1- and 2-word queries in each language through ``QueryBuilder`` and
   ``WhooshEngine.search`` (top 10 with highlights and facets), as everything and as a firm;
3. the same queries through HTTP (``GET /api/v1/search``) against gunicorn (2 workers) with 4
   concurrent clients, then ``GET /api/v1/me`` with 4 clients: p50/p95 and requests per second; beside it
   the in-process run at the same concurrency (2 processes, each serving its 2 clients' searches one at a
   time in arrival order, as a sync worker does), so that what HTTP adds is the request's own cost and
   not the wait behind another client's search, which both runs pay;
4. the median search when all ten hits are 20-page documents against all ten 1-page documents
   (``<tag> <common word>`` queries, the two kinds alternately), in-process and through HTTP;
5. a ten-document instance: search against ``/me`` through HTTP, one client;
6. SQLite FTS5 (``unicode61 remove_diacritics 2``, MATCH + bm25 + ``snippet()``) on the same
   texts. It does no stemming, transliteration or facets: a speed yardstick, not an equivalent.

Prints one JSON summary on stdout (progress goes to stderr); ``goals`` holds the ratios of issue 17.

On a shared Linux machine, ``nice`` on other work protects the timings only with the scheduler's autogroups
off (``echo 0 > /proc/sys/kernel/sched_autogroup_enabled``): with them on, every terminal session gets an
equal share of the CPU whatever its processes' nice values.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"
sys.path.insert(0, str(REPO))

from whoosh import query as wq  # noqa: E402

from docmgr.search.engine import IndexEntry, WhooshEngine  # noqa: E402
from docmgr.search.query import QueryBuilder, bound_expansions  # noqa: E402
from docmgr.search.schema import SCHEMA_VERSION  # noqa: E402
from docmgr.search.text import BODY, analyze, language_analyzer  # noqa: E402

CORPUS = REPO / "tests" / "data" / "text"
WORDS_PER_PAGE = 300  # ≈ 2,000 characters: twenty pages ≈ 40,000 characters, as in issue 17
PASSWORD = "bench-password"
FIRM_ORG_ID = 3
KINDS = ["proposal"] * 6 + ["agreement", "annex", "other"]
SECTORS = ["energy", "construction", "mechanics", "nanotech", "biotech", "other"]
IT_ORGS = ["Pirelli Costruzioni", "Ferraro Meccanica", "Energia Piemonte", "Biotecnologie Toscane", "Nanotec Emilia",
           "Costruzioni Rossi", "Officine Bianchi", "Termomeccanica Ligure", "Distretto Tessile Biellese", "Agroinnova"]
RU_ORGS = ["Сибирские Технологии", "Уральский Машиностроительный Завод", "Кузнецов и Партнеры", "Томская Энергия",
           "Наноматериалы Новосибирска", "Биотех Казань", "Строительные Системы Самары", "Волжские Моторы",
           "Петербургские Приборы", "Хабаровская Энергетика"]
SESSIONS = 24
LONG_TAG, SHORT_TAG = "zlongdoc", "zshortdoc"
TAGGED = 10  # documents of each tag
CORPUS_VERSION = 1  # bump when generate() or the instance setup changes: the cached corpora are then rebuilt
CACHE_ROOT = REPO / "bench" / "out"


# --- the corpus ---------------------------------------------------------------------------------------------


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
    """About ``words`` words of whole sentences, in paragraphs."""
    out: list[str] = []
    count = 0
    while count < words:
        sentence = rng.choice(sentences)
        out.append(sentence)
        count += len(sentence.split())
        if rng.random() < 0.12:
            out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n")


_LOOKALIKES = {"а": "a", "о": "o", "е": "e", "р": "p", "с": "c", "х": "x", "у": "y"}
_OCR_SWAPS = [("m", "rn"), ("l", "1"), ("o", "0"), ("e", "c"), ("i", "í"), ("н", "и"), ("ш", "щ"), ("т", "г")]


def ocr_noise(rng: random.Random, text: str) -> str:
    """What a scan's OCR makes of a text: confusions, Latin look-alikes in Cyrillic words, words
    broken at line ends, page headers."""
    words = text.split(" ")
    for i, word in enumerate(words):
        roll = rng.random()
        if roll < 0.04:
            old, new = rng.choice(_OCR_SWAPS)
            words[i] = word.replace(old, new, 1)
        elif roll < 0.07 and re.search("[а-я]", word):
            char = rng.choice([c for c in word if c in _LOOKALIKES] or [""])
            if char:
                words[i] = word.replace(char, _LOOKALIKES[char], 1)
        elif roll < 0.09 and len(word) > 6:
            cut = rng.randint(3, len(word) - 3)
            words[i] = word[:cut] + "-\n" + word[cut:]
        elif roll < 0.092:
            words[i] = f"\n\nPag. {rng.randint(1, 40)} / Стр. {rng.randint(1, 40)}\n\n{word}"
    return " ".join(words)


def organisations(seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    orgs = [(i + 1, name) for i, name in enumerate(IT_ORGS + RU_ORGS)]
    # 200 organisations: the named ones plus numbered variants, so facets and filters have spread.
    return orgs + [(len(orgs) + i + 1, f"{rng.choice(IT_ORGS + RU_ORGS)} {i}") for i in range(180)]


def pages_of(rng: random.Random) -> tuple[int, bool]:
    """(pages, is a scan): 87 % of 1–5 pages, 10 % of 10–50, 3 % scans of 1–10."""
    roll = rng.random()
    if roll < 0.03:
        return rng.randint(1, 10), True
    if roll < 0.13:
        return rng.randint(10, 50), False
    return rng.randint(1, 5), False


def common_words(sentences: list[str], count: int = 6) -> list[str]:
    """Frequent words of 6+ letters, stop words left out: what the tagged-document queries look for."""
    analyzer = language_analyzer(BODY)
    freq = Counter(w.lower() for s in sentences for w in re.findall(r"\w{6,}", s))
    return [w for w, _c in freq.most_common(count * 5) if analyze(analyzer, w)][:count]


def generate(n: int, seed: int, it_sentences: list[str], ru_sentences: list[str], *, tagged: bool = True):
    """The same n documents for a given seed (plus the tagged ones), lazily: the 50,000-document
    corpus is about a gigabyte of text. Each tagged document's texts start with a sentence holding
    each of the ``common_words`` of its language, so the same queries find all of them."""
    rng = random.Random(seed)
    anchors = {language: [[s for s in sentences if word in s.lower()] for word in common_words(sentences)]
               for language, sentences in (("it", it_sentences), ("ru", ru_sentences))}
    orgs = organisations(seed)
    start = datetime(2013, 1, 1, tzinfo=UTC)
    extra = [(LONG_TAG, 20)] * TAGGED + [(SHORT_TAG, 1)] * TAGGED if tagged else []
    for doc_id in range(1, n + len(extra) + 1):
        tag = None
        if doc_id > n:
            tag, pages = extra[doc_id - n - 1]
            scan = False
        else:
            pages, scan = pages_of(rng)
        total_words = pages * WORDS_PER_PAGE
        it_words = rng.randint(total_words // 3, 2 * total_words // 3) if tag is None else total_words // 2
        text_it = make_text(rng, it_sentences, it_words)
        text_ru = make_text(rng, ru_sentences, total_words - it_words)
        if tag is not None:
            text_it = " ".join(rng.choice(a) for a in anchors["it"]) + " " + text_it
            text_ru = " ".join(rng.choice(a) for a in anchors["ru"]) + " " + text_ru
        if scan:
            text_it, text_ru = ocr_noise(rng, text_it), ocr_noise(rng, text_ru)
        org_id, org_name = rng.choice(orgs)
        readers = {org_id} | ({rng.choice(orgs)[0]} if rng.random() < 0.2 else set())
        title_it = " ".join(rng.choice(it_sentences).split()[:8])
        title_ru = " ".join(rng.choice(ru_sentences).split()[:8])
        sectors = sorted(set(rng.sample(SECTORS, rng.randint(1, 2))))
        name = f"{tag or doc_id}-{doc_id}"
        session_id = rng.randint(1, SESSIONS)
        yield IndexEntry(
            uid=f"document:{doc_id}", object_key=f"document:{doc_id}", doctype="document", object_id=doc_id,
            document_id=doc_id, created_at=start + timedelta(hours=doc_id * 2),
            title_it=title_it, title_ru=title_ru,
            files=[{"id": doc_id * 2 - 1, "language": "it", "text": text_it, "filename": f"{name}-it.pdf"},
                   {"id": doc_id * 2, "language": "ru", "text": text_ru, "filename": f"{name}-ru.pdf"}],
            kind=rng.choice(KINDS), sectors=sectors, languages=["it", "ru"], organization_id=org_id,
            organization_names=[org_name], reader_org_ids=sorted(readers), session_id=session_id,
            session_name=f"Sessione {session_id}", meta=[f"{name}-it.pdf", f"{name}-ru.pdf"], stamp=str(doc_id),
        )


def pick_queries(rng: random.Random, sentences: list[str], count: int, words_per_query: int) -> list[str]:
    """Words of 5+ letters that are neither very rare nor stop-word frequent."""
    freq = Counter(w.lower() for s in sentences for w in re.findall(r"\w{5,}", s))
    ordered = [w for w, c in freq.most_common() if 3 <= c <= 400]
    pool = ordered[: max(50, len(ordered) // 2)]
    return [" ".join(rng.sample(pool, words_per_query)) for _ in range(count)]


def tagged_queries(texts: list[str], per_language: int = 6) -> dict[str, list[str]]:
    """``<tag> <word>`` for common words found in every tagged document (1- and 20-page alike)."""
    common = set.intersection(*({w.lower() for w in re.findall(r"\w{6,}", t)} for t in texts))
    it_words = sorted(w for w in common if not re.search("[а-яё]", w))[:per_language]
    ru_words = sorted(w for w in common if re.search("[а-яё]", w))[:per_language]
    words = it_words + ru_words
    return {"long": [f"{LONG_TAG} {w}" for w in words], "short": [f"{SHORT_TAG} {w}" for w in words]}


# --- timing helpers ----------------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_of(latencies: list[float], **extra) -> dict:
    return {"p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
            "max_ms": round(max(latencies), 2), **extra}


def time_whoosh(engine: WhooshEngine, builder: QueryBuilder, queries: list[str], filter_query,
                cold_documents: bool = False) -> tuple[dict, list]:
    """``cold_documents``: forget the decoded documents the engine keeps, before each query."""
    latencies, totals = [], []
    for text in queries:
        if cold_documents:
            engine._local.__dict__.pop("document_cache", None)
        started = time.perf_counter()
        result = engine.search(builder.parse(text), filter_query=filter_query, page=1, per_page=10,
                               rewrite=bound_expansions)
        latencies.append((time.perf_counter() - started) * 1000)
        totals.append(result.total)
    return summary_of(latencies, mean_hits=round(statistics.mean(totals), 1)), latencies


def _sync_worker(index_dir: str, queries: list[str], clients: int, start_at: float, results) -> None:
    """One process standing for one gunicorn sync worker: its own engine, warmed as the server's are, serving
    searches one at a time in arrival order (a FIFO queue, as the listening socket's backlog) to ``clients``
    client threads; a client's latency runs from its request's arrival to its answer."""
    import queue

    engine = WhooshEngine(Path(index_dir))
    builder = QueryBuilder(engine.schema)
    arrivals: queue.Queue = queue.Queue()
    taking, warmed = threading.Lock(), threading.Event()
    pending, latencies = list(queries), []

    def serve() -> None:
        # The engine's searcher and caches belong to the thread that searches (as a sync worker's main
        # thread): warmed here, in the serving thread, with the HTTP run's warm-up words.
        for warm in ("accordo", "соглашение", "diritto", "права") * 4:
            engine.search(builder.parse(warm), page=1, per_page=10, rewrite=bound_expansions)
        warmed.set()
        while (request := arrivals.get()) is not None:
            text, done = request
            engine.search(builder.parse(text), page=1, per_page=10, rewrite=bound_expansions)
            done.set()

    def client() -> None:
        while True:
            with taking:
                if not pending:
                    return
                text = pending.pop()
            done = threading.Event()
            started = time.perf_counter()
            arrivals.put((text, done))
            done.wait()
            latencies.append((time.perf_counter() - started) * 1000)

    server = threading.Thread(target=serve)
    server.start()
    warmed.wait()
    time.sleep(max(0.0, start_at - time.time()))
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    arrivals.put(None)
    server.join()
    results.put((latencies, wall))


def time_concurrent(index_dir: Path, queries: list[str], workers: int, clients: int) -> tuple[dict, list]:
    """The in-process run at the HTTP run's concurrency: ``workers`` processes, ``clients`` client threads
    spread over them, each process serving one search at a time in arrival order, as a sync worker does. What HTTP adds over
    this is then the cost of the request itself, not the wait behind another client's search (on 2 cores,
    4 clients on 2 workers wait about one search each, in both runs)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 30  # every process has opened and warmed its engine by then
    processes = [context.Process(target=_sync_worker,
                                 args=(str(index_dir), queries[i::workers], max(1, clients // workers), start_at,
                                       results))
                 for i in range(workers)]
    for process in processes:
        process.start()
    latencies, wall = [], 0.0
    for _ in processes:
        found, seconds = results.get()
        latencies += found
        wall = max(wall, seconds)
    for process in processes:
        process.join()
    return summary_of(latencies, requests_per_second=round(len(latencies) / wall, 1)), latencies


def interleaved(tagged: dict[str, list[str]], time_one, rounds: int = 3, warm: int = 0) -> dict[str, dict]:
    """The 20-page and the 1-page queries timed alternately, ``rounds`` times each (``time_one(query)``
    returns latencies): the load of a shared machine drifts, and both kinds then meet the same. ``warm``
    untimed rounds first: the steady state of a server whose workers have shown these documents before
    (each gunicorn worker decodes a document's text once; the first showing is timed apart, in-process
    with the documents not cached)."""
    for long_query, short_query in zip(tagged["long"] * warm, tagged["short"] * warm, strict=True):
        time_one(long_query)
        time_one(short_query)
    latencies: dict[str, list[float]] = {"long": [], "short": []}
    for long_query, short_query in zip(tagged["long"] * rounds, tagged["short"] * rounds, strict=True):
        latencies["long"] += time_one(long_query)
        latencies["short"] += time_one(short_query)
    return {kind: summary_of(values) for kind, values in latencies.items()}


# --- the instance and the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def instance_env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCMGR_STORAGE_DIR": str(workdir / "storage"),
        "DOCMGR_INDEX_DIR": str(workdir / "index"),
        "DOCMGR_DATABASE_URL": f"sqlite:///{workdir / 'docmgr.sqlite3'}",
        "DOCMGR_SECRET_KEY": "search-bench-secret",
        "DOCMGR_OCR_THREAD": "0",
        "PYTHONUNBUFFERED": "1",
    }


def run_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "docmgr", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"docmgr {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


SETUP_SCRIPT = """
import json, sys
from datetime import date, timedelta
from docmgr import create_app
from docmgr.extensions import db
from docmgr.accounts.models import Organization
from docmgr.accounts.services import create_user
from docmgr.documents.models import TaskForceSession
spec = json.loads(sys.stdin.read())
app = create_app()
with app.app_context():
    for org_id, name in spec["orgs"]:
        db.session.add(Organization(id=org_id, name=name, country="RU" if name[0] >= "\\u0400" else "IT"))
    for i in range(1, spec["sessions"] + 1):
        day = date(2013, 6, 1) + timedelta(days=182 * i)
        db.session.add(TaskForceSession(id=i, name=f"Sessione {i}", place="Torino" if i % 2 else "Москва",
                                        country="IT" if i % 2 else "RU", starts_on=day, ends_on=day))
    db.session.flush()
    create_user(db.session, None, email="legal@bench.test", password=spec["password"], role="legal")
    create_user(db.session, None, email="firm@bench.test", password=spec["password"], role="firm",
                organization=db.session.get(Organization, spec["firm_org"]))
    db.session.commit()
"""


def make_instance(workdir: Path, seed: int) -> dict[str, str]:
    """A fresh docmgr instance: schema, organisations and sessions the corpus refers to, two users."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = instance_env(workdir)
    run_cli(env, "init")
    spec = {"orgs": organisations(seed), "sessions": SESSIONS, "password": PASSWORD, "firm_org": FIRM_ORG_ID}
    subprocess.run([str(BIN / "python"), "-c", SETUP_SCRIPT], cwd=REPO, env=env, input=json.dumps(spec), text=True,
                   check=True, capture_output=True, timeout=300)
    return env


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 120.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Server:
    """gunicorn (2 sync workers) on a free loopback port, in its own process group. Sync workers, not
    gunicorn.conf.py's threaded ones: the in-process run at the same concurrency stands for sync workers."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path) -> None:
        self.env, self.workers, self.log_path, self.port = env, workers, log_path, free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", str(self.workers), "--worker-class", "sync", "--bind",
             f"{HOST}:{self.port}", "--timeout", "300", "wsgi:app"], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                if request(self.port, "GET", "/api/v1/openapi.json", timeout=5)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer in time")

    def __exit__(self, *_exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)

    def token(self, email: str) -> dict[str, str]:
        status, data = request(self.port, "POST", "/api/v1/auth/token",
                               json.dumps({"email": email, "password": PASSWORD}).encode(),
                               {"Content-Type": "application/json"})
        if status != 201:
            raise RuntimeError(f"login of {email} failed: {status} {data[:200]!r}")
        return {"Authorization": f"Bearer {json.loads(data)['token']}"}


def search_path(text: str) -> str:
    from urllib.parse import urlencode

    return "/api/v1/search?" + urlencode({"q": text, "per_page": 10})


def http_load(port: int, headers: dict, paths: list[str], clients: int) -> tuple[list[float], float]:
    """Every path once, spread over ``clients`` concurrent clients (a connection per request, as
    gunicorn's sync workers close them). Returns the latencies (ms) and the wall time (s)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(enumerate(paths))

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                _index, path = queue.pop()
            started = time.perf_counter()
            status, data = request(port, "GET", path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(f"{status} {path} {data[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed request(s), first: {errors[0]}")
    return latencies, wall


def warm_up(port: int, headers: dict, clients: int) -> None:
    """First searcher open and facet caches in every worker: not counted, as in a running server."""
    paths = [search_path(w) for w in ("accordo", "соглашение", "diritto", "права")] * 4
    http_load(port, headers, paths, clients)


# --- FTS5 ----------------------------------------------------------------------------------------------------------


def build_fts(path: Path, entries) -> tuple[float, int]:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='unicode61 remove_diacritics 2')")
    started = time.perf_counter()
    batch, count = [], 0
    for entry in entries:
        body = "\n\n".join(f["text"] for f in entry.files)
        batch.append((entry.object_id, entry.title_it + " " + entry.title_ru, body))
        count += 1
        if len(batch) >= 500:
            con.executemany("INSERT INTO docs(rowid, title, body) VALUES (?, ?, ?)", batch)
            batch = []
    if batch:
        con.executemany("INSERT INTO docs(rowid, title, body) VALUES (?, ?, ?)", batch)
    con.commit()
    con.close()
    return time.perf_counter() - started, count


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
    return summary_of(latencies, mean_hits=round(statistics.mean(totals), 1))


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the run -------------------------------------------------------------------------------------------------------


def small_instance(workdir: Path, seed: int, it_sentences, ru_sentences, groups: dict[str, list[str]],
                   workers: int) -> dict:
    """Ten documents: a search against ``GET /api/v1/me``, through HTTP, one client, alternating."""
    env = make_instance(workdir, seed)
    engine = WhooshEngine(workdir / "index")
    with engine.drain_lock(blocking=True):
        engine.rebuild(generate(10, seed, it_sentences, ru_sentences, tagged=False))
    queries = [q for group in groups.values() for q in group[:25]]
    with Server(env, workers, workdir / "gunicorn.log") as server:
        legal = server.token("legal@bench.test")
        warm_up(server.port, legal, 2)
        http_load(server.port, legal, ["/api/v1/me"] * 8, 2)
        search_ms, me_ms = [], []
        for text in queries:
            search_ms += http_load(server.port, legal, [search_path(text)], 1)[0]
            me_ms += http_load(server.port, legal, ["/api/v1/me"], 1)[0]
    return {"documents": 10, "search": summary_of(search_ms), "me": summary_of(me_ms),
            "search_over_me_p50": round(percentile(search_ms, 50) / percentile(me_ms, 50), 2),
            "search_over_me_p95": round(percentile(search_ms, 95) / percentile(me_ms, 95), 2)}


def big_corpus(workdir: Path, args, it_sentences: list[str], ru_sentences: list[str]) -> dict:
    """The big instance in ``workdir/big`` and FTS5 in ``workdir/fts.sqlite3``: copied from the cache when
    one was built with the same parameters, else built (Whoosh as ``docmgr reindex`` does) and cached."""
    cache = CACHE_ROOT / f"search-corpus-v{CORPUS_VERSION}-s{SCHEMA_VERSION}-{args.docs}-{args.seed}"
    meta_path = cache / "corpus.json"
    if meta_path.exists() and not args.rebuild:
        started = time.perf_counter()
        shutil.copytree(cache / "big", workdir / "big", symlinks=True)
        shutil.copy2(cache / "fts.sqlite3", workdir / "fts.sqlite3")
        built = json.loads(meta_path.read_text(encoding="utf-8"))
        built["cache"] = f"copied from {cache.relative_to(REPO)} in {time.perf_counter() - started:.1f}s (built {built['built_at']})"
        log(built["cache"])
        return built

    log(f"building {args.docs} documents (+{2 * TAGGED} tagged) in {workdir}")
    make_instance(workdir / "big", args.seed)
    engine = WhooshEngine(workdir / "big" / "index")
    stats: Counter = Counter()
    tagged_texts: list[str] = []

    def counted(entries):
        for entry in entries:
            stats["chars"] += sum(len(f["text"]) for f in entry.files)
            if entry.object_id > args.docs:
                tagged_texts.append(" ".join(f["text"] for f in entry.files))
            yield entry

    started = time.perf_counter()
    with engine.drain_lock(blocking=True):
        count = engine.rebuild(counted(generate(args.docs, args.seed, it_sentences, ru_sentences)),
                               procs=args.procs, limitmb=args.limitmb)
    rebuild_seconds = time.perf_counter() - started
    log(f"whoosh: {count} docs in {rebuild_seconds:.1f}s ({stats['chars'] / count:.0f} characters per document)")
    fts_build, _ = build_fts(workdir / "fts.sqlite3", generate(args.docs, args.seed, it_sentences, ru_sentences))
    log(f"fts5: built in {fts_build:.1f}s")
    built = {"count": count, "chars": stats["chars"], "rebuild_seconds": rebuild_seconds, "fts_build_seconds": fts_build,
             "tagged_texts": tagged_texts, "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
             "procs": args.procs, "limitmb": args.limitmb}
    partial = cache.with_name(cache.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    shutil.copytree(workdir / "big", partial / "big", symlinks=True)
    shutil.copy2(workdir / "fts.sqlite3", partial / "fts.sqlite3")
    (partial / "corpus.json").write_text(json.dumps(built, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(cache, ignore_errors=True)
    os.replace(partial, cache)  # complete or absent
    built["cache"] = f"built and cached in {cache.relative_to(REPO)}"
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=20130611)
    parser.add_argument("--queries", type=int, default=100, help="queries per group (4 groups)")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--limitmb", type=int, default=256)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="where to build (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the instance, index and FTS database")
    parser.add_argument("--build-only", action="store_true", help="build (or find) the cached corpus, then stop")
    parser.add_argument("--rebuild", action="store_true", help="build the corpus even when a cached one exists")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="docmgr-search-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    it_sentences = load_language(["PUD_it.txt", "udhr_ita.txt"])
    ru_sentences = load_language(["PUD_ru.txt", "udhr_rus.txt"])
    rng = random.Random(args.seed + 1)
    groups = {
        "it_1_word": pick_queries(rng, it_sentences, args.queries, 1),
        "it_2_words": pick_queries(rng, it_sentences, args.queries, 2),
        "ru_1_word": pick_queries(rng, ru_sentences, args.queries, 1),
        "ru_2_words": pick_queries(rng, ru_sentences, args.queries, 2),
    }

    if not args.build_only:
        log("small instance (10 documents)")
        small = small_instance(workdir / "small", args.seed, it_sentences, ru_sentences, groups, args.workers)
        log(f"small instance: {small}")

    built = big_corpus(workdir, args, it_sentences, ru_sentences)
    if args.build_only:
        print(json.dumps({k: v for k, v in built.items() if k != "tagged_texts"}, indent=2))
        return
    env = instance_env(workdir / "big")
    engine = WhooshEngine(workdir / "big" / "index")
    count, rebuild_seconds, tagged_texts = built["count"], built["rebuild_seconds"], built["tagged_texts"]
    stats = {"chars": built["chars"]}
    index_bytes = dir_size(engine.current_dir())
    fts_path, fts_build = workdir / "fts.sqlite3", built["fts_build_seconds"]

    tagged = tagged_queries(tagged_texts)
    builder = QueryBuilder(engine.schema)
    firm_filter = wq.Term("readers", str(FIRM_ORG_ID))
    engine.search(builder.parse("accordo"), page=1, per_page=10)
    engine.search(builder.parse("accordo"), filter_query=firm_filter, page=1, per_page=10)
    in_process, in_process_all = {}, []
    for name, queries in groups.items():
        in_process[name], latencies = time_whoosh(engine, builder, queries, None)
        in_process_all += latencies
    in_process_firm = {name: time_whoosh(engine, builder, queries, firm_filter)[0] for name, queries in groups.items()}
    text_filter = {name: time_whoosh(engine, builder, [f"text:{q}" for q in queries[: max(10, args.queries // 5)]],
                                     None)[0]
                   for name, queries in groups.items() if name.endswith("1_word")}
    long_short_in = interleaved(tagged, lambda q: time_whoosh(engine, builder, [q], None)[1], warm=1)
    long_short_cold = interleaved(tagged, lambda q: time_whoosh(engine, builder, [q], None, cold_documents=True)[1])
    concurrent, _ = time_concurrent(engine.root, [q for g in groups.values() for q in g], args.workers,
                                    args.clients)
    concurrent_unqueued, _ = time_concurrent(engine.root, [q for g in groups.values() for q in g], args.workers,
                                             args.workers)
    log("in-process queries done")

    with Server(env, args.workers, workdir / "gunicorn.log") as server:
        legal, firm = server.token("legal@bench.test"), server.token("firm@bench.test")
        warm_up(server.port, legal, args.clients)
        warm_up(server.port, firm, args.clients)
        http_groups, http_all, http_wall, http_count = {}, [], 0.0, 0
        for name, queries in groups.items():
            latencies, wall = http_load(server.port, legal, [search_path(q) for q in queries], args.clients)
            http_groups[name] = summary_of(latencies, requests_per_second=round(len(latencies) / wall, 1))
            http_all += latencies
            http_wall += wall
            http_count += len(latencies)
        firm_latencies, _ = http_load(server.port, firm, [search_path(q) for g in groups.values() for q in g],
                                      args.clients)
        me_latencies, me_wall = http_load(server.port, legal, ["/api/v1/me"] * (4 * args.queries), args.clients)
        # As many clients as workers: each request has a worker to itself, so what remains over the
        # in-process time is the cost of the request, not the wait behind another client's search.
        unqueued_all, unqueued_wall = http_load(server.port, legal, [search_path(q) for g in groups.values() for q in g],
                                                args.workers)
        unqueued_me, unqueued_me_wall = http_load(server.port, legal, ["/api/v1/me"] * (4 * args.queries), args.workers)
        long_short_http = interleaved(tagged, lambda q: http_load(server.port, legal, [search_path(q)], 1)[0],
                                      warm=args.workers)
        status, data = request(server.port, "GET", search_path(tagged["long"][0]), headers=legal)
        long_hits = json.loads(data)["hits"]
    log("HTTP queries done")

    fts_results = {name: time_fts(fts_path, queries) for name, queries in groups.items()}
    log("FTS5 done")

    me = summary_of(me_latencies, requests_per_second=round(len(me_latencies) / me_wall, 1))
    http_summary = summary_of(http_all, requests_per_second=round(http_count / http_wall, 1))
    in_summary = summary_of(in_process_all)
    worst_ratio = max(in_process[name]["p95_ms"] / max(fts_results[name]["p95_ms"], 0.01) for name in groups)
    summary = {
        "docs": count,
        "characters_per_document": round(stats["chars"] / count),
        "length_mix": "87% 1-5 pages, 10% 10-50 pages, 3% OCR scans of 1-10 pages; "
                      f"{WORDS_PER_PAGE} words a page; +{TAGGED} of 20 pages and {TAGGED} of 1 page (tagged)",
        "corpus": built["cache"],
        "whoosh": {
            "rebuild_seconds": round(rebuild_seconds, 1),
            "rebuild_docs_per_second": round(count / rebuild_seconds, 1),
            "procs": args.procs, "limitmb": args.limitmb, "index_mb": round(index_bytes / 1e6, 1),
            "in_process (legal/admin)": in_process,
            "in_process_all_groups": in_summary,
            f"in_process_all_groups_{args.workers}_processes_{args.clients}_clients (as the HTTP run)": concurrent,
            f"in_process_all_groups_{args.workers}_processes_{args.workers}_clients (as the HTTP run without queueing)":
                concurrent_unqueued,
            "in_process_as_firm (permission filter)": in_process_firm,
            "in_process_text_filter (text:word; not a target)": text_filter,
        },
        "http": {
            "setup": f"gunicorn {args.workers} workers, {args.clients} concurrent clients, a connection per request",
            "search (legal/admin)": http_groups,
            "search_all_groups": http_summary,
            "search_as_firm_all_groups": summary_of(firm_latencies),
            "me": me,
            f"search_all_groups_{args.workers}_clients (no queueing)":
                summary_of(unqueued_all, requests_per_second=round(len(unqueued_all) / unqueued_wall, 1)),
            f"me_{args.workers}_clients": summary_of(unqueued_me,
                                                     requests_per_second=round(len(unqueued_me) / unqueued_me_wall, 1)),
        },
        "ten_hits_20_pages_vs_1_page": {
            "queries": tagged["long"][:3] + ["…"],
            "in_process": long_short_in,
            "in_process_documents_not_cached": long_short_cold,
            "http_one_client": long_short_http,
            "hit_texts_characters": "≈40,000 vs ≈2,000",
            "long_query_hits": len(long_hits),
        },
        "small_instance": small,
        "fts5": {
            "build_seconds": round(fts_build, 1),
            "build_docs_per_second": round(count / fts_build, 1),
            "db_mb": round(fts_path.stat().st_size / 1e6, 1),
            "search": fts_results,
        },
        "goals": {
            "whoosh_p95_over_fts5_p95 (worst group, <= 2)": round(worst_ratio, 2),
            "http_p95_ms": http_summary["p95_ms"],
            "in_process_p95_plus_2x_me_p95_ms (http p95 <= this)":
                round(in_summary["p95_ms"] + 2 * me["p95_ms"], 2),
            f"in_process_p95_{args.workers}_processes_{args.clients}_clients_plus_2x_me_p95_ms (http p95 <= this)":
                round(concurrent["p95_ms"] + 2 * me["p95_ms"], 2),
            f"http_p95_ms_{args.workers}_clients (no queueing)": round(percentile(unqueued_all, 95), 2),
            f"in_process_p95_plus_2x_me_p95_ms_{args.workers}_clients (http p95 <= this)":
                round(in_summary["p95_ms"] + 2 * percentile(unqueued_me, 95), 2),
            f"in_process_p95_{args.workers}_processes_{args.workers}_clients_plus_2x_me_p95_ms (http p95 <= this)":
                round(concurrent_unqueued["p95_ms"] + 2 * percentile(unqueued_me, 95), 2),
            "median_20_pages_over_1_page_in_process (<= 1.5)":
                round(long_short_in["long"]["p50_ms"] / long_short_in["short"]["p50_ms"], 2),
            "median_20_pages_over_1_page_in_process_not_cached":
                round(long_short_cold["long"]["p50_ms"] / long_short_cold["short"]["p50_ms"], 2),
            "median_20_pages_over_1_page_http (<= 1.5)":
                round(long_short_http["long"]["p50_ms"] / long_short_http["short"]["p50_ms"], 2),
            "small_instance_search_over_me_p50 (<= 3)": small["search_over_me_p50"],
            "search_requests_per_second_4_clients": http_summary["requests_per_second"],
        },
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
