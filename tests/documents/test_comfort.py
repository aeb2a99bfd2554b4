"""Issue 16 for documents: the edit form, what several uploaded files mean, bulk assign and the ZIP download."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from sqlalchemy import select

from docmgr.documents.models import Document
from docmgr.documents.services import create_task_force_session
from docmgr.extensions import db
from tests.conftest import api_upload, corpus_bytes, table_counts

IT = corpus_bytes("text/udhr_ita.txt")
RU = corpus_bytes("text/udhr_rus.txt")


@pytest.fixture
def firm(make_user, make_org):
    return make_user("firm", make_org(name="Beta Meccanica", country="IT"))


@pytest.fixture
def forum(app):
    forum = create_task_force_session(db.session, None, name="Torino 2013", place="Torino", country="IT",
                                      starts_on=date(2013, 5, 6), ends_on=date(2013, 5, 7))
    db.session.commit()
    return forum


# --- edit form ------------------------------------------------------------------------------------


def test_edit_form_changes_metadata_and_shows_every_error_at_once(app, firm, forum, browser, make_document):
    document = make_document(firm, title_it="Titolo sbagliato", sectors=["energy"])
    client, csrf = browser(firm)
    page = client.get(f"/documents/{document.id}/edit")
    assert page.status_code == 200 and "Titolo sbagliato" in page.get_data(as_text=True)

    before = table_counts()
    response = client.post(f"/documents/{document.id}/edit", data={
        "csrf_token": csrf, "title_it": "", "title_ru": "", "sectors": ["energy", "astrology"],
        "session_id": "abc", "document_date": "31/12/2013"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("title_it", "sectors", "session_id", "document_date"):
        assert f'id="{field}-error"' in html, field
    assert table_counts() == before

    response = client.post(f"/documents/{document.id}/edit", data={
        "csrf_token": csrf, "title_it": "Titolo giusto", "title_ru": "Правильное название",
        "sectors": ["mechanics", "nanotech"], "session_id": str(forum.id), "document_date": "2013-05-06"})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    db.session.expire_all()
    changed = db.session.get(Document, document.id)
    assert (changed.title_it, changed.title_ru, changed.sectors, changed.session_id, changed.document_date) == (
        "Titolo giusto", "Правильное название", ["mechanics", "nanotech"], forum.id, date(2013, 5, 6))


def test_edit_form_is_for_who_may_patch(app, firm, browser, make_user, make_document):
    document = make_document(firm)
    for user, status in ((make_user("firm"), 404), (make_user("ministry"), 403)):
        client, csrf = browser(user)
        assert client.get(f"/documents/{document.id}/edit").status_code == status
        assert client.post(f"/documents/{document.id}/edit",
                           data={"csrf_token": csrf, "title_it": "Preso"}).status_code == status
    legal_client, csrf = browser(make_user("legal"))
    assert legal_client.post(f"/documents/{document.id}/edit",
                             data={"csrf_token": csrf, "title_it": "Corretto dal legale"}).status_code == 302


# --- several files --------------------------------------------------------------------------------


def test_three_files_are_three_documents_by_default(app, firm, token_for, client):
    response = api_upload(client, token_for(firm), [
        ("uno.txt", b"Primo documento sulle turbine."), ("due.txt", b"Secondo documento sui compressori."),
        ("tre.txt", b"Terzo documento sulle pompe.")], title_it="Lotto")
    assert response.status_code == 201, response.get_json()
    created = response.get_json()["documents"]
    assert len(created) == 3
    titles = sorted(db.session.get(Document, d["id"]).title_it for d in created)
    assert titles == ["Lotto – due", "Lotto – tre", "Lotto – uno"]
    assert all(len(db.session.get(Document, d["id"]).files) == 1 for d in created)


def test_three_files_through_the_form_give_three_documents(app, firm, browser):
    client, csrf = browser(firm)
    response = client.post("/documents/new", data={
        "csrf_token": csrf, "title_it": "Dal modulo", "kind": "proposal",
        "file": [(io.BytesIO(b"Uno: turbine."), "a.txt"), (io.BytesIO(b"Due: compressori."), "b.txt"),
                 (io.BytesIO(b"Tre: pompe."), "c.txt")]}, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    count = len(db.session.scalars(select(Document).where(Document.title_it.like("Dal modulo – %"))).all())
    assert count == 3


def test_pairing_makes_one_document_with_both_languages_and_checks_them(app, firm, token_for, client):
    headers = token_for(firm)
    response = api_upload(client, headers, [("it.txt", IT), ("ru.txt", RU)], title_it="Coppia", grouping="pair")
    assert response.status_code == 201
    body = response.get_json()
    assert len(body["documents"]) == 1 and sorted(f["language"] for f in body["files"]) == ["it", "ru"]

    before = table_counts()
    for files, code in (([("a.txt", IT), ("b.txt", IT)], "pair_languages"),
                        ([("a.txt", IT)], "pair_needs_two_files"),
                        ([("a.txt", IT), ("b.txt", RU), ("c.txt", RU)], "pair_needs_two_files")):
        response = api_upload(client, headers, files, title_it="Coppia sbagliata", grouping="pair")
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["code"] == code
    assert "Italian" in api_upload(client, headers, [("a.txt", IT), ("b.txt", IT)], title_it="X",
                                   grouping="pair").get_json()["error"]["message"]
    response = api_upload(client, headers, [("a.txt", IT)], title_it="X", grouping="stack")
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "grouping"
    assert table_counts() == before


# --- bulk actions ---------------------------------------------------------------------------------


def test_bulk_assign_session_and_sectors(app, firm, forum, browser, make_document, make_user):
    a = make_document(firm, title_it="Uno", sectors=["energy"])
    b = make_document(firm, title_it="Due")
    client, csrf = browser(make_user("legal"))
    response = client.post("/documents/bulk", data={
        "csrf_token": csrf, "action": "assign", "ids": [str(a.id), str(b.id)], "session_id": str(forum.id),
        "sectors": ["biotech"]})
    assert response.status_code == 302
    db.session.expire_all()
    for doc, sectors in ((a, ["biotech", "energy"]), (b, ["biotech"])):
        doc = db.session.get(Document, doc.id)
        assert doc.session_id == forum.id and doc.sectors == sectors
    response = client.post("/documents/bulk", data={"csrf_token": csrf, "action": "assign", "ids": [str(a.id)]})
    assert response.status_code == 422 and "Choose a session or at least one sector" in response.get_data(as_text=True)


def test_a_firm_bulk_assigns_its_own_documents_only(app, firm, forum, browser, make_document, make_user):
    own = make_document(firm, title_it="Mio")
    other = make_document(make_user("firm"), title_it="Altrui")
    client, csrf = browser(firm)
    before = table_counts()
    response = client.post("/documents/bulk", data={
        "csrf_token": csrf, "action": "assign", "ids": [str(own.id), str(other.id)], "sectors": ["energy"]})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert f"#{other.id}" in html and "Nothing was done" in html and "Altrui" not in html
    assert table_counts() == before
    response = client.post("/documents/bulk", data={"csrf_token": csrf, "action": "assign", "ids": [str(own.id)],
                                                     "sectors": ["energy"]})
    assert response.status_code == 302


def test_zip_of_selected_documents_streams_only_what_the_user_may_see(app, firm, browser, make_document, make_user):
    a = make_document(firm, title_it="Primo", files=[("primo.txt", b"Contenuto del primo.", "it")])
    b = make_document(firm, title_it="Secondo", files=[("secondo.txt", b"Contenuto del secondo.", "it"),
                                                       ("vtoroj.txt", "Содержание второго.".encode(), "ru")])
    hidden = make_document(make_user("firm"), title_it="Nascosto")
    client, csrf = browser(firm)
    response = client.post("/documents/bulk", data={"csrf_token": csrf, "action": "zip", "ids": [str(a.id), str(b.id)]})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = sorted(archive.namelist())
    assert len(names) == 3 and any(n.endswith("/primo.txt") for n in names)
    assert archive.read(next(n for n in names if n.endswith("/vtoroj.txt"))) == "Содержание второго.".encode()

    response = client.post("/documents/bulk", data={"csrf_token": csrf, "action": "zip",
                                                     "ids": [str(a.id), str(hidden.id)]})
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert f"#{hidden.id}" in response.get_data(as_text=True) and "Nascosto" not in response.get_data(as_text=True)
    # The ministry reads everything: it may download, not assign.
    ministry, csrf = browser(make_user("ministry"))
    assert ministry.post("/documents/bulk", data={"csrf_token": csrf, "action": "zip",
                                                  "ids": [str(hidden.id)]}).status_code == 200
    assert ministry.post("/documents/bulk", data={"csrf_token": csrf, "action": "assign", "ids": [str(hidden.id)],
                                                  "sectors": ["energy"]}).status_code == 403
