"""Shared fixtures: a real app on a temporary SQLite file (or a fresh PostgreSQL database: tests/backends.py), file
store and Whoosh index per test."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import pytest

from docmgr import create_app
from docmgr.extensions import db
from tests import backends

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT / "tests" / "data"  # real files from public repositories: tests/data/SOURCES.md
PASSWORD = "correct horse battery"
_counter = itertools.count(1)


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an asyncio loop running in the main thread
    for the rest of the session, and pyHanko (signature verification) calls asyncio.run() itself.
    Everything under tests/e2e counts as a browser test even if a file forgets its ``browser`` mark (one
    did, and every pyHanko test after it failed with "asyncio.run() cannot be called from a running event loop")."""
    def is_browser(item) -> bool:
        return item.get_closest_marker("browser") is not None or Path(str(item.fspath)).is_relative_to(E2E)

    items[:] = sorted(items, key=is_browser)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "app_config(**overrides): extra create_app settings for this test's app, e.g. MAX_UPLOAD_MB=1"
    )


@pytest.fixture
def app(tmp_path, request):
    overrides = {}
    for marker in reversed(list(request.node.iter_markers("app_config"))):  # module, class, then test markers
        overrides.update(marker.kwargs)
    app = create_app(
        {
            "TESTING": True,
            "STORAGE_DIR": str(tmp_path / "storage"),
            "INDEX_DIR": str(tmp_path / "index"),
            "SECRET_KEY": "test-secret",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            **backends.app_overrides(request, tmp_path),  # SQLite, or PostgreSQL/Redis in CI's second pass
            **overrides,
        }
    )
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_org(app):
    from docmgr.accounts.services import create_organization

    def make(name: str | None = None, country: str = "IT", kind: str = "firm", **kwargs):
        org = create_organization(db.session, None, name=name or f"Org {next(_counter)}", country=country, kind=kind, **kwargs)
        db.session.commit()
        return org

    return make


@pytest.fixture
def make_user(app, make_org):
    from docmgr.accounts.services import create_user

    def make(role: str = "firm", org=None, email: str | None = None, password: str = PASSWORD):
        if role == "firm" and org is None:
            org = make_org()
        user = create_user(
            db.session, None, email=email or f"{role}{next(_counter)}@example.org", password=password, role=role,
            organization=org,
        )
        db.session.commit()
        return user

    return make


@pytest.fixture
def token_for(client):
    """Log in through the API and return the Authorization header for that user."""

    def get(user, password: str = PASSWORD) -> dict[str, str]:
        response = client.post("/api/v1/auth/token", json={"email": user.email, "password": password})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    return get


@pytest.fixture
def firm(make_user):
    """A firm user of an organisation of its own (tests that need more define their own)."""
    return make_user("firm")


@pytest.fixture
def headers(firm, token_for):
    """The firm user's API token header."""
    return token_for(firm)


@pytest.fixture
def login(client):
    """Log in through the browser form (CSRF on) and return the client."""

    def do(user, password: str = PASSWORD):
        page = client.get("/login")
        token = csrf_from(page.get_data(as_text=True))
        response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return do


def csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def make_document(app):
    """Create a document through the real service, with real file bytes."""
    from docmgr.documents.services import Upload, create_document

    def make(user, *, files: list[tuple[str, bytes, str | None]] | None = None, **fields):
        files = files or [("proposal.txt", b"Proposta di partenariato nel settore energetico.", None)]
        uploads = [Upload(io.BytesIO(data), name, language) for name, data, language in files]
        fields.setdefault("title_it", f"Proposta {next(_counter)}")
        document = create_document(db.session, user, uploads=uploads, **fields)
        db.session.commit()
        return document

    return make


def stored_blob_count(app) -> int:
    return sum(1 for _ in app.extensions["docmgr.store"].iter_hashes())


def table_counts() -> dict[str, int]:
    """Row counts of every table, to prove a refused request changed nothing."""
    from sqlalchemy import func, select

    counts = {}
    for table in db.metadata.sorted_tables:
        counts[table.name] = db.session.scalar(select(func.count()).select_from(table))
    return counts


# --- helpers for upload tests (plain functions: import them from tests.conftest) -----------------


def assert_another_writer_gets_in() -> None:
    """No transaction is left open by slow work in progress elsewhere (a queue task in another thread): on SQLite a
    writer on another connection takes the database's write lock within 0.5 s; on PostgreSQL no other session of
    the test's database sits in an open transaction."""
    import sqlite3

    from sqlalchemy import text

    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database, timeout=0.5, isolation_level=None) as connection:
            connection.execute("BEGIN IMMEDIATE")  # "database is locked" while another connection holds it
            connection.execute("ROLLBACK")
        return
    with db.engine.connect() as connection:
        open_transactions = connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state LIKE 'idle in transaction%'"))
    assert open_transactions == 0


def corpus_bytes(relative: str) -> bytes:
    """The bytes of a file of the test data (tests/data), e.g. corpus_bytes("pdf/pypdf_multilang_CYRILLIC.pdf")."""
    return (CORPUS / relative).read_bytes()


def multipart(files: list[tuple[str, bytes]] | None = None, **fields) -> dict:
    """A test-client ``data=`` dict: ``file`` parts (name, bytes) plus form fields (lists repeat a field)."""
    data: dict = {key: value for key, value in fields.items() if value is not None}
    if files:
        data["file"] = [(io.BytesIO(content), name) for name, content in files]
    return data


def api_upload(client, headers, files: list[tuple[str, bytes]] | None = None, **fields):
    """POST /api/v1/documents as multipart; ``fields`` default to an Italian proposal title."""
    fields.setdefault("title_it", "Proposta di prova")
    return client.post(
        "/api/v1/documents", data=multipart(files, **fields), headers=headers, content_type="multipart/form-data"
    )


@pytest.fixture
def browser(app, make_user):
    """A separate logged-in browser (its own cookie jar) for ``user``; returns (client, csrf_token)."""

    def open_for(user, password: str = PASSWORD):
        client = app.test_client()
        token = csrf_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        # Logging in starts a new session with a new CSRF secret: the login page's token is spent.
        return client, csrf_from(client.get("/account").get_data(as_text=True))

    return open_for


# --- i18n (tests/test_translations.py): compile the catalogs before any app uses them -----------------
# .mo files are git-ignored build output; a fresh checkout (or a .po edited after the last compile) would
# otherwise render untranslated pages. Compiles each catalog whose .mo is missing or older than its .po.


@pytest.fixture(scope="session", autouse=True)
def compiled_translations():
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in sorted((REPO_ROOT / "docmgr" / "translations").glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        tmp_path = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")
        with tmp_path.open("wb") as fh:
            write_mo(fh, catalog)
        tmp_path.replace(mo_path)  # atomic: parallel test sessions never read a half-written catalog


@pytest.fixture
def run_queue(app):
    """Run the queued work that is due, in this process: the same code as `docmgr worker --once`.
    (Unit-test apps run each task right after its commit — QUEUE_IMMEDIATE — unless a test turns that off
    with ``@pytest.mark.app_config(QUEUE_IMMEDIATE=False)`` to look at the queue in between.)"""
    from docmgr.tasks.worker import run_due

    def run() -> int:
        db.session.rollback()  # outside requests a transaction holds the write lock: free it for the worker
        return run_due(app)

    return run


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL cluster for this test run (tests/servers.py), or the one DOCMGR_TEST_POSTGRES_URL names."""
    from tests.servers import start_postgres

    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The SQLAlchemy URL of a new, empty database (unaccent and rum installed), dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on loopback for this test run, or the one DOCMGR_TEST_REDIS_URL names."""
    from tests.servers import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
