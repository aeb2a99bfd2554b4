"""The `docmgr` commands, through Flask's CLI runner against the real app. (`init` needs the migration: not here.)"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from docmgr.accounts.models import Organization, User
from docmgr.documents.models import Document
from docmgr.extensions import db
from tests.conftest import stored_blob_count, table_counts


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["docmgr", *args])

    return invoke


def test_create_org_prints_its_id(run):
    result = run("create-org", "--name", "Officine Alpine Srl", "--country", "it", "--name-alt", "Оффичине Альпине")
    assert result.exit_code == 0, result.output
    org = db.session.get(Organization, int(result.output.strip()))
    assert org.name == "Officine Alpine Srl" and org.country == "IT" and org.kind == "firm"
    assert org.name_alt == "Оффичине Альпине"


def test_create_org_refuses_duplicates_and_bad_values(run):
    assert run("create-org", "--name", "Alfa", "--country", "IT").exit_code == 0
    before = table_counts()
    result = run("create-org", "--name", "ALFA", "--country", "RU")
    assert result.exit_code != 0 and "already exists" in result.output
    result = run("create-org", "--name", "Beta", "--country", "FR")
    assert result.exit_code != 0
    result = run("create-org", "--name", "  ", "--country", "IT")
    assert result.exit_code != 0 and "name" in result.output
    assert table_counts() == before


def test_create_user(run, client):
    assert run("create-org", "--name", "Сибирские технологии", "--country", "RU").exit_code == 0
    result = run("create-user", "--email", "Anna@Example.org", "--password", "long enough pw", "--role", "firm",
                 "--org", "сибирские технологии")
    assert result.exit_code == 0, result.output
    user = db.session.get(User, int(result.output.strip()))
    assert user.email == "anna@example.org" and user.organization.name == "Сибирские технологии"
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    response = client.post("/api/v1/auth/token", json={"email": "anna@example.org", "password": "long enough pw"})
    assert response.status_code == 201


def test_create_user_errors_exit_non_zero(run):
    before = table_counts()
    result = run("create-user", "--email", "f@example.org", "--password", "long enough pw", "--role", "firm")
    assert result.exit_code != 0 and "org" in result.output
    result = run("create-user", "--email", "f@example.org", "--password", "long enough pw", "--role", "firm",
                 "--org", "Nobody Srl")
    assert result.exit_code != 0 and "Nobody Srl" in result.output
    result = run("create-user", "--email", "f@example.org", "--password", "short", "--role", "legal")
    assert result.exit_code != 0 and "password" in result.output
    result = run("create-user", "--email", "f@example.org", "--password", "long enough pw", "--role", "boss")
    assert result.exit_code != 0
    assert table_counts() == before
    assert run("create-user", "--email", "a@example.org", "--password", "long enough pw", "--role", "admin").exit_code == 0
    result = run("create-user", "--email", "a@example.org", "--password", "long enough pw", "--role", "admin")
    assert result.exit_code != 0 and "already exists" in result.output


def test_demo_loads_once_and_prints_the_logins(app, run, client):
    result = run("demo")
    assert result.exit_code == 0, result.output
    from docmgr.demo import DEMO_PASSWORD, USERS

    for _role, email, _org, _name in USERS:
        assert email in result.output
    assert DEMO_PASSWORD in result.output
    counts, blobs = table_counts(), stored_blob_count(app)
    assert counts["documents"] >= 4 and counts["document_files"] >= 8 and counts["users"] == len(USERS)

    again = run("demo")
    assert again.exit_code == 0, again.output
    assert table_counts() == counts and stored_blob_count(app) == blobs

    # the demo logins work, and a demo firm sees only its own documents
    firm_email = next(email for role, email, _org, _name in USERS if role == "firm")
    token = client.post("/api/v1/auth/token", json={"email": firm_email, "password": DEMO_PASSWORD}).get_json()["token"]
    listing = client.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"}).get_json()
    firm = db.session.scalar(select(User).where(User.email == firm_email))
    own = db.session.scalar(select(func.count()).select_from(Document).where(Document.organization_id == firm.organization_id))
    assert own > 0 and listing["total"] == own
    assert {item["organization_id"] for item in listing["items"]} == {firm.organization_id}


@pytest.fixture
def stored_documents(app, make_user, make_document):
    firm = make_user("firm")
    first = make_document(firm, files=[("a.txt", "Primo documento della prova di integrità.".encode(), "it")])
    second = make_document(firm, files=[("b.txt", "Второй документ для проверки целостности.".encode(), "ru")])
    return first.files[0], second.files[0]


def test_check_passes_on_a_clean_store(run, stored_documents):
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_check_finds_a_corrupted_file(app, run, stored_documents):
    target = stored_documents[1]
    path = app.extensions["docmgr.store"].path(target.sha256)
    os.chmod(path, 0o644)  # stored blobs are read-only; make it writable to damage it
    path.write_bytes(b"tampered bytes")
    result = run("check")
    assert result.exit_code != 0
    assert "corrupted" in result.output and target.sha256 in result.output
    assert f"document {target.document_id} file {target.id}" in result.output
    assert target.filename in result.output


def test_check_finds_a_missing_file(app, run, stored_documents):
    target = stored_documents[0]
    app.extensions["docmgr.store"].path(target.sha256).unlink()
    result = run("check")
    assert result.exit_code != 0
    assert "missing" in result.output and target.sha256 in result.output and target.filename in result.output
