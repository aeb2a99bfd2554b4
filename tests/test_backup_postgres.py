"""Moving an install from SQLite to PostgreSQL: `docmgr export` on the SQLite instance, `docmgr init` +
`docmgr import` on a new PostgreSQL one (the README's migration path). Same rows, same files, the audit
chain verifies, and the new instance keeps working (its id sequences continue after the copied rows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from docmgr import create_app
from docmgr.extensions import db
from tests.test_backup import (  # noqa: F401  (fixtures)
    BACKUP_KEY,
    CORPUS_FILES,
    cli,
    populated,
    snapshot_of_instance,
)

# Always PostgreSQL + Redis, whatever the pass: CI's second pass need not run it again.
pytestmark = [pytest.mark.slow, pytest.mark.backend_independent]


@pytest.fixture
def app(tmp_path):
    """The source: always an SQLite install, whatever backend this test pass runs on."""
    app = create_app({
        "TESTING": True,
        "STORAGE_DIR": str(tmp_path / "sqlite-instance" / "storage"),
        "INDEX_DIR": str(tmp_path / "sqlite-instance" / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sqlite-instance' / 'db.sqlite3'}",
        "SECRET_KEY": "test-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def postgres_instance(tmp_path, postgres_url):
    folder = tmp_path / "postgres-instance"
    target = create_app({
        "TESTING": True,
        "STORAGE_DIR": str(folder / "storage"),
        "INDEX_DIR": str(folder / "index"),
        "SQLALCHEMY_DATABASE_URI": postgres_url,
        "SECRET_KEY": "another-test-secret",
    })
    yield target
    with target.app_context():
        db.session.remove()
        db.engine.dispose()


def test_an_sqlite_install_moves_to_postgresql_with_export_and_import(app, populated, postgres_instance, tmp_path):  # noqa: F811
    from docmgr.audit.services import verify_chain
    from tests.conftest import corpus_bytes

    archive = tmp_path / "backup.tar"
    before = snapshot_of_instance(app)
    assert cli(app, "export", "--key", BACKUP_KEY, str(archive)).exit_code == 0
    app_ctx_dialect = db.engine.dialect.name
    assert app_ctx_dialect == "sqlite"

    target = postgres_instance
    with target.app_context():
        assert db.engine.dialect.name == "postgresql"
        init = cli(target, "init")  # the Alembic migrations, on PostgreSQL
        assert init.exit_code == 0, init.output
        result = cli(target, "import", "--key", BACKUP_KEY, str(archive))
        assert result.exit_code == 0, result.output
        after = snapshot_of_instance(target)
        check = cli(target, "check")
        assert check.exit_code == 0, check.output
        assert verify_chain(db.session).ok
        db.session.rollback()

    assert after == before  # row counts, bytes of every file, rows pointing at them, audit chain

    # The PostgreSQL instance works on: log in, upload (new rows after the copied ids), read the old file back.
    client = target.test_client()
    with target.app_context():
        token = client.post("/api/v1/auth/token", json={"email": populated["firm_email"],
                                                        "password": "correct horse battery"})
        assert token.status_code == 201, token.get_json()
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        from tests.conftest import api_upload

        created = api_upload(client, headers, [("nuova.txt", b"Nuova proposta dopo il trasloco.")])
        assert created.status_code == 201, created.get_json()
        listing = client.get("/api/v1/documents?kind=proposal", headers=headers).get_json()
        assert listing["total"] == 2
        old = next(item for item in listing["items"] if item["id"] != created.get_json()["id"])
        document = client.get(f"/api/v1/documents/{old['id']}", headers=headers).get_json()
        pdf = next(f for f in document["files"] if f["filename"] == "proposta.pdf")
        content = client.get(f"/api/v1/documents/{document['id']}/files/{pdf['id']}/content", headers=headers)
        assert content.data == corpus_bytes(CORPUS_FILES[0])
        assert cli(target, "check").exit_code == 0
        assert verify_chain(db.session).ok  # the upload's audit entries continue the imported chain
        db.session.rollback()
    assert Path(archive).is_file()
