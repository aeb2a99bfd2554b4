"""What is particular to the PostgreSQL search backend: it serves every node that shares the database, its
writer lock is PostgreSQL's, `reindex`/`init` replace its rows, and it refuses to start on SQLite."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from docmgr import create_app
from docmgr.accounts.services import create_organization, create_user
from docmgr.documents.services import Upload, create_document
from docmgr.extensions import db
from docmgr.search import rebuild
from docmgr.search.indexers import get_engine
from docmgr.search.pgengine import RERANK
from docmgr.search.pgschema import META
from docmgr.search.query import QueryBuilder
from docmgr.search.schema import IndexEntry
from tests.conftest import PASSWORD
from tests.search.conftest import parallel, txt


def _node(tmp_path, name: str, url: str):
    """One web node: its own temporary folders, the shared PostgreSQL database and search backend."""
    return create_app({
        "TESTING": True, "STORAGE_DIR": str(tmp_path / name / "storage"), "INDEX_DIR": str(tmp_path / name / "index"),
        "SQLALCHEMY_DATABASE_URI": url, "SEARCH_BACKEND": "postgres", "SECRET_KEY": "test-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })


def _token(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_a_document_indexed_through_one_node_is_found_through_another(tmp_path, postgres_url):
    node_a, node_b = _node(tmp_path, "a", postgres_url), _node(tmp_path, "b", postgres_url)
    with node_a.app_context():
        db.create_all()
        org = create_organization(db.session, None, name="Officine Torinesi", country="IT", kind="firm")
        firm = create_user(db.session, None, email="firm@example.org", password=PASSWORD, role="firm", organization=org)
        create_user(db.session, None, email="legal@example.org", password=PASSWORD, role="legal")
        db.session.commit()
        create_document(db.session, firm, title_it="Turbine eoliche",
                        uploads=[Upload(io.BytesIO(b"Accordo sulle turbine eoliche."), "t.txt", "it")])
        db.session.commit()
    client_b = node_b.test_client()
    response = client_b.get("/api/v1/search", query_string={"q": "turbina"}, headers=_token(client_b, "legal@example.org"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 1 and body["hits"][0]["title_it"] == "Turbine eoliche"
    assert "<mark>turbine</mark>" in body["hits"][0]["highlights"][0]
    assert not (tmp_path / "b" / "index").exists() or not any((tmp_path / "b" / "index").iterdir())
    for node in (node_a, node_b):
        with node.app_context():
            db.engine.dispose()


def test_the_writer_lock_is_one_across_connections(tmp_path, postgres_url):
    app = _node(tmp_path, "a", postgres_url)
    other = _node(tmp_path, "b", postgres_url)
    with app.app_context():
        with get_engine(app).drain_lock() as first:
            assert first
            with get_engine(other).drain_lock() as second:  # another node (its own connection pool)
                assert not second
        with get_engine(other).drain_lock() as again:
            assert again
        db.engine.dispose()
    with other.app_context():
        db.engine.dispose()


@pytest.mark.postgres_only
def test_reindex_and_init_replace_the_rows(app, make_user, make_document, search):
    user, legal = make_user("firm"), make_user("legal")
    document = make_document(user, title_it="Turbine", files=[txt("Caldaia a condensazione.", language="it")])
    engine = get_engine(app)
    with db.engine.begin() as connection:  # an entry the database no longer has: reindex drops it
        connection.execute(text("UPDATE search_entries SET uid = 'document:999999', object_key = 'document:999999'"))
    assert app.test_cli_runner().invoke(args=["docmgr", "check"]).exit_code == 1
    result = app.test_cli_runner().invoke(args=["docmgr", "reindex"])
    assert result.exit_code == 0 and "1 entr(ies)" in result.output, result.output
    assert set(engine.doc_ids()) == {f"document:{document.id}"}
    assert app.test_cli_runner().invoke(args=["docmgr", "check"]).exit_code == 0
    assert rebuild.reindex_if_outdated(app) is None
    with db.engine.begin() as connection:
        connection.execute(text(f"UPDATE {META} SET value = '0' WHERE key = 'schema_version'"))
    assert engine.is_outdated()
    assert rebuild.reindex_if_outdated(app) == 1 and not engine.is_outdated()
    assert [h["document_id"] for h in search(legal, "text:caldaia")[1]["hits"]] == [document.id]
    assert search(legal, "text:turbine")[1]["total"] == 0
    assert search(legal, "caldai*")[1]["total"] == 1  # the lexicon was rebuilt too


@pytest.mark.parametrize(("backend", "message"), [
    ("postgres", "needs the application database on PostgreSQL"), ("elastic", "must be one of whoosh, postgres"),
])
def test_a_backend_that_cannot_work_stops_the_start_with_a_clear_error(tmp_path, backend, message):
    with pytest.raises(RuntimeError, match=message):
        create_app({"TESTING": True, "STORAGE_DIR": str(tmp_path / "s"), "INDEX_DIR": str(tmp_path / "i"),
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SEARCH_BACKEND": backend,
                    "SECRET_KEY": "x"})


@pytest.mark.postgres_only
def test_hits_shown_again_come_from_the_kept_payloads_with_the_same_highlights(app, make_user, make_document, search):
    user, legal = make_user("firm"), make_user("legal")
    make_document(user, title_it="Turbine", files=[txt("Le turbine eoliche e una turbina a gas.", language="it")])
    _, first = search(legal, "turbina")
    engine = get_engine(app)
    keys, _known = engine.known_documents()
    assert len(keys) == 1
    _, again = search(legal, "turbina")  # the database leaves the kept payload out of its answer
    assert again["hits"] == first["hits"]
    assert "<mark>turbine</mark>" in again["hits"][0]["highlights"][0]


def _entries() -> list[IndexEntry]:
    """Forty-odd documents of real sentences, and drafts of one agreement out of order (the latest wins)."""
    sentences = list(parallel().values())
    start = datetime(2020, 1, 1, tzinfo=UTC)
    entries = [IndexEntry(
        uid=f"document:{n}", object_key=f"document:{n}", doctype="document", object_id=n, document_id=n,
        created_at=start + timedelta(days=n), title_it=sentences[n][0][:60], title_ru=sentences[n][1][:60],
        files=[{"id": 2 * n, "language": "it", "text": " ".join(s[0] for s in sentences[n:n + 6]), "filename": f"{n}.pdf"},
               {"id": 2 * n + 1, "language": "ru", "text": " ".join(s[1] for s in sentences[n:n + 6]), "filename": f"{n}r.pdf"}],
        kind="proposal", sectors=["energy"], languages=["it", "ru"], organization_id=1 + n % 3,
        organization_names=["Officine Torinesi"], person_names=["Иван Кузнецов"], reader_org_ids=[1 + n % 3],
        stamp=str(n)) for n in range(1, 44)]
    for draft in (2, 3, 1):
        entries.insert(10 * draft, IndexEntry(
            uid="agreement:7", object_key=f"draft:{draft}", doctype="agreement", object_id=draft, agreement_id=7,
            created_at=start, title_it=f"Accordo bozza {draft}", files=[{"id": 900 + draft, "language": "it",
                                                                        "text": sentences[draft][0], "filename": "a.pdf"}],
            supersedes_by_object_id=True, stamp=f"d{draft}"))
    return entries


@pytest.mark.postgres_only
def test_a_rebuild_in_two_processes_writes_exactly_the_rows_of_one(app):
    engine = get_engine(app)
    tables = {}
    for procs in (1, 2):
        with engine.drain_lock(blocking=True):
            assert engine.rebuild(iter(_entries()), procs=procs) == 44
        with db.engine.connect() as connection:
            tables[procs] = (
                connection.execute(text("SELECT uid, object_key, doctype, object_id, title_it, title_ru, kind, sectors, "
                                        "langs, organization_id, readers, session_id, year, created, stamp, payload, "
                                        "tsv::text FROM search_entries ORDER BY uid")).all(),
                connection.execute(text("SELECT lexeme, ndoc FROM search_terms ORDER BY lexeme")).all())
    rows, terms = tables[2]
    assert len(rows) == 44 and len(terms) > 500
    assert tables[1] == tables[2]
    agreement = next(row for row in rows if row.uid == "agreement:7")
    assert (agreement.object_key, agreement.title_it) == ("draft:3", "Accordo bozza 3")
    assert all("'^" in row.tsv for row in rows if row.doctype == "document")  # the name skeletons too


def _indexes(connection) -> dict[str, str]:
    return dict(connection.execute(text(
        "SELECT indexname, regexp_replace(indexdef, '^.* USING ', '') FROM pg_indexes WHERE tablename = 'search_entries'"
    )).all())


def _grants(connection, role: str) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in connection.execute(text(
        "SELECT grantee, privilege_type, is_grantable FROM information_schema.role_table_grants "
        "WHERE table_name = 'search_entries' AND grantee IN (:role, 'PUBLIC') ORDER BY grantee DESC, privilege_type"
    ), {"role": role}).all()]


def _column_grants(connection, role: str) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in connection.execute(text(
        "SELECT grantee, column_name, privilege_type FROM information_schema.column_privileges "
        "WHERE table_name = 'search_entries' AND grantee = :role AND privilege_type = 'UPDATE'"), {"role": role}).all()]


@pytest.mark.postgres_only
def test_a_rebuild_swaps_in_a_table_with_the_same_indexes(app):
    """The rows are loaded into a new table and indexed once; it takes the old one's place with the same index and
    key names (the RUM index too: the test databases have rum). A rebuild that fails half-way leaves the old rows
    and no new table."""
    engine = get_engine(app)
    engine.ensure()  # the schema as create_schema (and the migrations) make it
    with db.engine.connect() as connection:
        before = _indexes(connection)
    assert {"search_entries_pkey", "ix_search_entries_tsv", "ix_search_entries_rum"} <= set(before)
    role = f"report_{uuid.uuid4().hex[:8]}"  # an operator's reporting role: what it was granted stays granted
    with db.engine.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        connection.execute(text(f"GRANT SELECT ON search_entries TO {role} WITH GRANT OPTION"))
        connection.execute(text(f"GRANT UPDATE (title_it) ON search_entries TO {role}"))
        connection.execute(text("GRANT REFERENCES ON search_entries TO PUBLIC"))
    try:
        with engine.drain_lock(blocking=True):
            assert engine.rebuild(iter(_entries())) == 44
        with db.engine.connect() as connection:
            assert _grants(connection, role) == [(role, "SELECT", "YES"), ("PUBLIC", "REFERENCES", "NO")]
            assert _column_grants(connection, role) == [(role, "title_it", "UPDATE")]
    finally:
        with db.engine.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
            connection.execute(text("REVOKE ALL ON search_entries FROM PUBLIC"))
    with db.engine.connect() as connection:
        assert _indexes(connection) == before
        assert connection.scalar(text("SELECT to_regclass('search_entries_new')")) is None
        assert connection.scalar(text("SELECT count(*) FROM search_entries")) == 44

    def failing():
        yield from _entries()[:10]
        raise RuntimeError("the database went away half-way")

    with engine.drain_lock(blocking=True), pytest.raises(RuntimeError):
        engine.rebuild(failing())
    with db.engine.connect() as connection:
        assert _indexes(connection) == before
        assert connection.scalar(text("SELECT to_regclass('search_entries_new')")) is None
        assert connection.scalar(text("SELECT count(*) FROM search_entries")) == 44
    assert engine.search(QueryBuilder(engine.schema).parse("affermato"), with_highlights=False).total > 0


@pytest.mark.postgres_only
def test_reindex_with_two_processes_through_the_command(app, make_user, make_document, search):
    user, legal = make_user("firm"), make_user("legal")
    for n in range(3):
        make_document(user, title_it=f"Turbine {n}", files=[txt(f"Caldaia a condensazione numero {n}.", language="it")])
    result = app.test_cli_runner().invoke(args=["docmgr", "reindex", "--procs", "2"])
    assert result.exit_code == 0 and "3 entr(ies)" in result.output, result.output
    assert search(legal, "caldaia")[1]["total"] == 3
    assert app.test_cli_runner().invoke(args=["docmgr", "check"]).exit_code == 0


@pytest.mark.postgres_only
def test_the_rum_index_ranks_as_ts_rank_over_every_match(app):
    """Where rum is installed (the test databases have it) the backend ranks candidates from the RUM index;
    while a query has fewer ranked matches than the candidates, hits, totals and facets are exactly those of
    ts_rank over every match, on every page, also when matches without a ranked word fill a page's end."""
    engine = get_engine(app)
    with engine.drain_lock(blocking=True):
        engine.rebuild(iter(_entries()))
    assert engine.rerank == RERANK
    builder = QueryBuilder(engine.schema)
    queries = ["affermato", "nazioni OR compagnia", "сказал", "title:accordo", "sector:energy", "kind:proposal OR affermato",
               "organization_id:2 OR сказал"]
    for q in queries:
        for page in (1, 2, 5):
            results = {}
            for rerank in (RERANK, 0):
                engine.rerank = rerank
                result = engine.search(builder.parse(q), page=page, per_page=10, with_highlights=False)
                results[rerank] = (result.total, result.facets, [(h.uid, h.score) for h in result.hits])
            assert results[RERANK] == results[0], (q, page)
            assert results[0][0] > 0 and (page > 1 or results[0][2]), (q, page)
    engine.rerank = 3  # fewer candidates than a page: the page's end still comes, totals and facets are exact
    result = engine.search(builder.parse("kind:proposal OR affermato"), page=1, per_page=10, with_highlights=False)
    engine.rerank = 0
    full = engine.search(builder.parse("kind:proposal OR affermato"), page=1, per_page=10, with_highlights=False)
    assert (result.total, result.facets, len(result.hits)) == (full.total, full.facets, len(full.hits))
