"""/api/v1/documents with real corpus files: upload, versions, sniffing, storage by hash, listing, download."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from docmgr.documents.models import DocumentFile
from docmgr.extensions import db
from docmgr.search.indexers import INDEX_TASK
from docmgr.tasks.models import OutboxTask
from tests.conftest import api_upload, corpus_bytes, multipart, stored_blob_count

PDF_RU = "pdf/pypdf_multilang_CYRILLIC.pdf"
PDF_4 = "pdf/sample-files_pdflatex-4-pages.pdf"
DOCX = "docx/python-docx_blk-paras-and-tables.docx"
ODT = "odt/odfpy_serious_poem.odt"
TXT_IT = "text/udhr_ita.txt"
TXT_RU = "text/udhr_rus.txt"


@pytest.fixture
def firm(make_org, make_user):
    org = make_org("Meccanica Torinese Srl")
    return make_user("firm", org)


@pytest.fixture
def firm_headers(firm, token_for):
    return token_for(firm)


def _file_row(file_id: int) -> DocumentFile:
    db.session.expire_all()
    return db.session.get(DocumentFile, file_id)


@pytest.mark.parametrize(
    "path, content_type, words",
    [
        (PDF_RU, "application/pdf", ["Hello World", "Привет, мир"]),
        (PDF_4, "application/pdf", ["printed text"]),
        (DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ["Lorem ipsum", "Table"]),
        (ODT, "application/vnd.oasis.opendocument.text", ["burning deck"]),
        (TXT_IT, "text/plain", ["Dichiarazione Universale", "diritti"]),
        (TXT_RU, "text/plain", ["Всеобщая декларация прав человека"]),
    ],
)
def test_upload_each_supported_type(app, client, firm, firm_headers, path, content_type, words):
    data = corpus_bytes(path)
    name = path.rsplit("/", 1)[-1]
    response = api_upload(client, firm_headers, [(name, data)], title_it="Proposta", kind="proposal", sectors="energy")
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    assert document["organization_id"] == firm.organization_id and document["kind"] == "proposal"
    assert document["sectors"] == ["energy"]
    (file,) = document["files"]
    assert set(file) >= {"id", "filename", "language", "sha256", "size", "content_type", "version", "created_at"}
    assert file["filename"] == name and file["version"] == 1 and file["content_type"] == content_type
    assert file["sha256"] == hashlib.sha256(data).hexdigest() and file["size"] == len(data)
    row = _file_row(file["id"])
    for word in words:
        assert word in row.text
    stored = app.extensions["docmgr.store"].path(file["sha256"])
    assert stored.read_bytes() == data
    if path == PDF_4:
        assert row.page_count == 4


def test_language_is_detected_from_the_text(client, firm_headers):
    response = api_upload(
        client, firm_headers, [("it.txt", corpus_bytes(TXT_IT)), ("ru.txt", corpus_bytes(TXT_RU))],
        title_it="Dichiarazione", title_ru="Декларация", grouping="pair",
    )
    assert response.status_code == 201, response.get_json()
    files = {f["filename"]: f for f in response.get_json()["files"]}
    assert files["it.txt"]["language"] == "it" and files["it.txt"]["language_detected"] == "it"
    assert files["ru.txt"]["language"] == "ru" and files["ru.txt"]["language_detected"] == "ru"
    assert response.get_json()["languages"] == ["it", "ru"]


def test_a_bilingual_text_is_detected_as_bi(client, firm_headers):
    italian = corpus_bytes(TXT_IT).decode("utf-8")[:3000]
    russian = corpus_bytes(TXT_RU).decode("utf-8")[:3000]
    response = api_upload(client, firm_headers, [("both.txt", f"{italian}\n\n{russian}".encode())])
    assert response.status_code == 201
    (file,) = response.get_json()["files"]
    assert file["language_detected"] == "bi" and file["language"] == "bi"


def test_given_language_wins_over_detection(client, firm_headers):
    response = api_upload(
        client, firm_headers, [("a.txt", corpus_bytes(TXT_IT)), ("b.txt", corpus_bytes(TXT_RU))], language=["it", "bi"],
        grouping="versions",  # one document holding both files (not a pair: "bi" is not Russian)
    )
    assert response.status_code == 201
    files = {f["filename"]: f for f in response.get_json()["files"]}
    assert files["a.txt"]["language"] == "it" and files["b.txt"]["language"] == "bi"
    assert files["b.txt"]["language_detected"] == "ru"


def test_adding_files_makes_versions_per_language(client, firm_headers):
    created = api_upload(client, firm_headers, [("it.txt", corpus_bytes(TXT_IT))], title_it="Versioni").get_json()
    doc_id = created["id"]
    second = client.post(
        f"/api/v1/documents/{doc_id}/files",
        data=multipart([("it-v2.docx", corpus_bytes(DOCX))], language="it"), headers=firm_headers,
        content_type="multipart/form-data",
    )
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["version"] == 2 and second.get_json()["language"] == "it"
    russian = client.post(
        f"/api/v1/documents/{doc_id}/files", data=multipart([("ru.txt", corpus_bytes(TXT_RU))]), headers=firm_headers,
        content_type="multipart/form-data",
    )
    assert russian.status_code == 201 and russian.get_json()["version"] == 1 and russian.get_json()["language"] == "ru"
    detail = client.get(f"/api/v1/documents/{doc_id}", headers=firm_headers).get_json()
    assert sorted((f["language"], f["version"]) for f in detail["files"]) == [("it", 1), ("it", 2), ("ru", 1)]
    # the first version is still there, byte for byte
    first = next(f for f in detail["files"] if f["version"] == 1 and f["language"] == "it")
    content = client.get(f"/api/v1/documents/{doc_id}/files/{first['id']}/content", headers=firm_headers)
    assert content.data == corpus_bytes(TXT_IT)


def test_type_comes_from_the_bytes_not_the_name(client, firm_headers):
    response = api_upload(client, firm_headers, [("looks-like-text.txt", corpus_bytes(PDF_4))])
    assert response.status_code == 201
    (file,) = response.get_json()["files"]
    assert file["content_type"] == "application/pdf" and file["filename"] == "looks-like-text.txt"


def test_same_bytes_are_stored_once(app, client, firm_headers):
    data = corpus_bytes(DOCX)
    before = stored_blob_count(app)
    first = api_upload(client, firm_headers, [("a.docx", data)]).get_json()
    second = api_upload(client, firm_headers, [("b.docx", data)]).get_json()
    assert first["files"][0]["sha256"] == second["files"][0]["sha256"]
    assert stored_blob_count(app) == before + 1
    assert db.session.scalar(select(func.count()).select_from(DocumentFile)) == 2
    # the stored blob is read-only: it is never overwritten
    path = app.extensions["docmgr.store"].path(first["files"][0]["sha256"])
    assert not path.stat().st_mode & 0o222


def test_upload_queues_the_document_for_indexing(client, firm_headers):
    document = api_upload(client, firm_headers, [("a.txt", corpus_bytes(TXT_IT))]).get_json()
    tasks = db.session.scalars(select(OutboxTask).where(OutboxTask.task == INDEX_TASK)).all()
    # recorded in the upload's transaction, and run right after its commit (unit-test apps run tasks at once)
    assert [(t.args, t.status) for t in tasks] == [({"object_type": "document", "object_id": document["id"]}, "done")]


def test_staff_upload_for_any_organisation_with_a_session(client, make_org, make_user, token_for, app):
    from docmgr.documents.services import create_task_force_session

    org = make_org("Сибирские технологии", country="RU")
    from datetime import date

    forum = create_task_force_session(
        db.session, None, name="Москва 2014", place="Москва", country="RU", starts_on=date(2014, 4, 15),
        ends_on=date(2014, 4, 16),
    )
    db.session.commit()
    headers = token_for(make_user("legal"))
    response = api_upload(
        client, headers, [("ru.txt", corpus_bytes(TXT_RU))], title_it="", title_ru="Предложение",
        organization_id=str(org.id), session_id=str(forum.id), kind="annex", sectors="nanotech, biotech",
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["organization_id"] == org.id and body["session_id"] == forum.id
    assert body["sectors"] == ["biotech", "nanotech"] and body["kind"] == "annex" and body["title_ru"] == "Предложение"


def test_staff_must_say_which_organisation(client, make_user, token_for):
    headers = token_for(make_user("legal"))
    response = api_upload(client, headers, [("a.txt", corpus_bytes(TXT_IT))])
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "organization_id"


def test_list_documents_with_filters_and_pages(client, make_org, make_user, token_for, make_document):
    from datetime import date

    from docmgr.documents.services import create_task_force_session

    org_a, org_b = make_org("Alfa"), make_org("Beta")
    forum = create_task_force_session(
        db.session, None, name="Torino 2013", place="Torino", country="IT", starts_on=date(2013, 10, 28),
        ends_on=date(2013, 10, 29),
    )
    db.session.commit()
    legal = make_user("legal")
    ru_text = corpus_bytes(TXT_RU)
    a1 = make_document(legal, organization_id=org_a.id, kind="proposal", sectors=["energy"], session_id=forum.id)
    a2 = make_document(legal, organization_id=org_a.id, kind="agreement", sectors=["mechanics", "energy"])
    b1 = make_document(legal, organization_id=org_b.id, kind="proposal", sectors=["biotech"],
                       files=[("ru.txt", ru_text, None)])
    headers = token_for(legal)

    def ids(query: str) -> set[int]:
        response = client.get(f"/api/v1/documents{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["total"] == len(body["items"]) and body["page"] == 1
        return {item["id"] for item in body["items"]}

    assert ids("") == {a1.id, a2.id, b1.id}
    assert ids("?kind=proposal") == {a1.id, b1.id}
    assert ids("?sector=energy") == {a1.id, a2.id}
    assert ids(f"?organization_id={org_b.id}") == {b1.id}
    assert ids(f"?session_id={forum.id}") == {a1.id}
    assert ids("?language=ru") == {b1.id}
    assert ids(f"?kind=proposal&sector=energy&organization_id={org_a.id}") == {a1.id}

    page1 = client.get("/api/v1/documents?per_page=2&page=1", headers=headers).get_json()
    page2 = client.get("/api/v1/documents?per_page=2&page=2", headers=headers).get_json()
    assert page1["total"] == page2["total"] == 3 and page2["page"] == 2
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert {i["id"] for i in page1["items"] + page2["items"]} == {a1.id, a2.id, b1.id}


@pytest.mark.parametrize(
    "query, field",
    [("?kind=letter", "kind"), ("?sector=fishing", "sector"), ("?page=0", "page"), ("?per_page=1000", "per_page"),
     ("?organization_id=abc", "organization_id"), ("?language=german", "language")],
)
def test_list_refuses_bad_filters(client, make_user, token_for, query, field):
    response = client.get(f"/api/v1/documents{query}", headers=token_for(make_user("legal")))
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_detail_and_download(client, firm_headers):
    data = corpus_bytes(PDF_RU)
    document = api_upload(client, firm_headers, [("Предложение «нано».pdf", data)], title_it="Dettaglio").get_json()
    detail = client.get(f"/api/v1/documents/{document['id']}", headers=firm_headers)
    assert detail.status_code == 200 and detail.get_json()["title_it"] == "Dettaglio"
    (file,) = detail.get_json()["files"]
    content = client.get(f"/api/v1/documents/{document['id']}/files/{file['id']}/content", headers=firm_headers)
    assert content.status_code == 200 and content.data == data
    assert content.headers["Content-Type"] == "application/pdf"
    assert content.headers["Content-Disposition"].startswith("attachment")
    assert "filename*=UTF-8''" in content.headers["Content-Disposition"]
    assert content.headers["X-Content-Type-Options"] == "nosniff"


def test_update_document(client, firm_headers):
    document = api_upload(client, firm_headers, [("a.txt", corpus_bytes(TXT_IT))], title_it="Prima").get_json()
    response = client.patch(
        f"/api/v1/documents/{document['id']}", json={"title_ru": "Первый", "kind": "annex", "sectors": ["biotech"]},
        headers=firm_headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["title_it"] == "Prima" and body["title_ru"] == "Первый" and body["kind"] == "annex"
    assert body["sectors"] == ["biotech"]
    # sectors untouched when not given
    body = client.patch(f"/api/v1/documents/{document['id']}", json={"kind": "other"}, headers=firm_headers).get_json()
    assert body["sectors"] == ["biotech"] and body["kind"] == "other"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"title_it": "", "title_ru": ""}, "title_it"),
        ({"kind": "letter"}, "kind"),
        ({"sectors": ["fishing"]}, "sectors"),
        ({"sectors": 5}, "sectors"),
        ({"title_it": 5}, "title_it"),
        ({"title_ru": ["x"]}, "title_ru"),
        ({"kind": ["annex"]}, "kind"),
        ({"session_id": "1"}, "session_id"),
        ({"session_id": 999}, "session_id"),
        ({"organization_id": 1}, "organization_id"),
    ],
)
def test_update_refuses_bad_values(client, firm_headers, payload, field):
    from tests.conftest import table_counts

    document = api_upload(client, firm_headers, [("a.txt", corpus_bytes(TXT_IT))], title_it="Prima").get_json()
    before = table_counts()
    response = client.patch(f"/api/v1/documents/{document['id']}", json=payload, headers=firm_headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field
    assert table_counts() == before
    assert client.get(f"/api/v1/documents/{document['id']}", headers=firm_headers).get_json()["title_it"] == "Prima"


def test_missing_document_and_file_are_404(client, firm_headers):
    document = api_upload(client, firm_headers, [("a.txt", corpus_bytes(TXT_IT))]).get_json()
    file_id = document["files"][0]["id"]
    assert client.get("/api/v1/documents/99999", headers=firm_headers).status_code == 404
    response = client.get(f"/api/v1/documents/{document['id']}/files/99999/content", headers=firm_headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "file_not_found"
    assert client.get(f"/api/v1/documents/99999/files/{file_id}/content", headers=firm_headers).status_code == 404
