"""What is particular to the PostgreSQL search backend: it serves every node that shares the database, its
writer lock is PostgreSQL's, `reindex`/`init` replace its rows, and it refuses to start on SQLite."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import text

from docmgr import create_app
from docmgr.accounts.services import create_organization, create_user
from docmgr.documents.services import Upload, create_document
from docmgr.extensions import db
from docmgr.search import rebuild
from docmgr.search.indexers import get_engine
from docmgr.search.pgschema import META
from tests.conftest import PASSWORD
from tests.search.conftest import txt


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
