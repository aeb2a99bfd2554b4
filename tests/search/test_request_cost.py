"""The fixed cost of a search request: what is read once per index generation is not read again
while the index is unchanged, and is read again when it changes."""

from __future__ import annotations

import random
import threading
import tracemalloc
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from docmgr.accounts.models import Organization
from docmgr.extensions import db
from docmgr.search.engine import IndexEntry, WhooshEngine
from docmgr.search.query import QueryBuilder
from tests.conftest import CORPUS
from tests.search.conftest import txt


def test_facet_labels_are_read_once_per_index_generation(app, make_org, make_user, make_document, search):
    legal = make_user("legal")
    org = make_org(name="Distretto Ottico", country="IT")
    user = make_user("firm", org)
    make_document(user, title_it="Lenti", files=[txt("Lenti ottiche per il distretto.", language="it")])
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        status, body = search(legal, "lenti")
        assert status == 200 and body["total"] == 1
        assert body["facet_labels"]["organization"] == {str(org.id): "Distretto Ottico"}
        assert any("FROM organizations" in s for s in statements)  # read for this index generation
        statements.clear()
        for _ in range(3):
            status, again = search(legal, "lenti")
            assert again["facet_labels"] == body["facet_labels"]
        assert not any("FROM organizations" in s or "FROM task_force_sessions" in s for s in statements), statements

        # A renamed organisation: its documents are indexed again, and the next search reads the names anew.
        db.session.get(Organization, org.id).name = "Distretto Ottico Nuovo"
        db.session.commit()
        make_document(user, title_it="Lenti nuove", files=[txt("Altre lenti ottiche.", language="it")])
        status, body = search(legal, "lenti")
        assert body["total"] == 2
        assert body["facet_labels"]["organization"] == {str(org.id): "Distretto Ottico Nuovo"}
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.whoosh_only
def test_the_searcher_is_reused_without_listing_the_index_and_a_commit_is_seen_at_once(
    app, make_org, make_user, make_document, search, monkeypatch
):
    import time

    from whoosh.searching import Searcher

    from docmgr.search import indexers

    legal = make_user("legal")
    user = make_user("firm", make_org(name="Vetri Murano", country="IT"))
    make_document(user, title_it="Vetro", files=[txt("Vetro soffiato di Murano.", language="it")])
    listings: list[int] = []
    original = Searcher.up_to_date

    def counted(self):
        listings.append(1)
        return original(self)

    monkeypatch.setattr(Searcher, "up_to_date", counted)
    assert search(legal, "vetro")[1]["total"] == 1
    engine = indexers.get_engine(app)
    first = engine.searcher()
    time.sleep(1.1)  # the folder's timestamp comes from a coarse clock: trusted once a check ran a second later
    assert search(legal, "vetro")[1]["total"] == 1
    listings.clear()
    for _ in range(3):
        assert search(legal, "vetro")[1]["total"] == 1
    assert listings == [] and engine.searcher() is first  # one stat() per search, no listing, same searcher

    make_document(user, title_it="Vetro nuovo", files=[txt("Altro vetro di Murano.", language="it")])  # a commit
    assert search(legal, "vetro")[1]["total"] == 2
    assert listings and engine.searcher() is not first


@pytest.mark.backend_independent
def test_searchers_read_the_index_files_without_each_copying_them_into_memory(tmp_path):
    """The engine keeps one searcher per thread. Over a memory map, Whoosh copied every compound
    segment's postings and columns into each reader's own buffer: the whole index once per thread."""
    rng = random.Random(3)
    sentences = [s for s in (CORPUS / "text" / "PUD_it.txt").read_text(encoding="utf-8").split(".") if s.strip()]
    engine = WhooshEngine(tmp_path / "index")

    def entries(first: int, count: int):
        for i in range(first, first + count):
            yield IndexEntry(
                uid=f"document:{i}", object_key=f"document:{i}", doctype="document", object_id=i, document_id=i,
                created_at=datetime(2020, 1, 1, tzinfo=UTC), title_it=f"Proposta {i}", title_ru=f"Предложение {i}",
                files=[{"id": i, "language": "it", "text": ". ".join(rng.sample(sentences, 40))}],
                kind="proposal", organization_id=1, organization_names=["Distretto"], reader_org_ids=[1],
                stamp=str(i), sectors=["energy"], languages=["it"], session_id=1)

    with engine.drain_lock(blocking=True):
        engine.rebuild(entries(1, 400))
        with engine.writer() as batch:  # a second segment
            for entry in entries(401, 50):
                batch.put(entry)
    on_disk = sum(f.stat().st_size for f in engine.current_dir().rglob("*") if f.is_file())
    assert on_disk > 1_000_000
    query = QueryBuilder(engine.schema).parse("stato OR governo")
    searched, release, errors = threading.Semaphore(0), threading.Event(), []

    def reader():
        try:
            assert engine.search(query, page=1, per_page=10).total > 0
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            searched.release()
            release.wait(30)  # the thread, and so its searcher, stays alive until measured

    tracemalloc.start()
    threads = [threading.Thread(target=reader) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for _ in threads:
            searched.acquire(timeout=30)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        release.set()
        tracemalloc.stop()
        for thread in threads:
            thread.join(30)
    assert errors == []
    # Three searchers alive: with a copy each they held about 3 × the index; without, a fraction of one.
    assert held < on_disk / 2, (held, on_disk)
