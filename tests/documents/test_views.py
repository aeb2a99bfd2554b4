"""Document pages: upload in the browser, browse with filters, detail with versions, download."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import select

from docmgr.documents.models import Document, DocumentFile
from docmgr.extensions import db
from tests.conftest import corpus_bytes, stored_blob_count

FILES = {
    "pdf": ("pdf/sample-files_pdflatex-4-pages.pdf", "application/pdf"),
    "docx": ("docx/python-docx_blk-paras-and-tables.docx",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "odt": ("odt/odfpy_serious_poem.odt", "application/vnd.oasis.opendocument.text"),
    "txt": ("text/udhr_rus.txt", "text/plain"),
}


@pytest.fixture
def firm(make_org, make_user):
    return make_user("firm", make_org("Officine Alpine Srl"))


def _new_document_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.search(r"/documents/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


@pytest.mark.parametrize("kind", sorted(FILES))
def test_browser_upload_of_each_type(app, firm, browser, kind):
    path, content_type = FILES[kind]
    data = corpus_bytes(path)
    firm_client, csrf = browser(firm)
    blobs = stored_blob_count(app)
    response = firm_client.post(
        "/documents/new",
        data={"title_it": f"Proposta {kind}", "title_ru": "Предложение", "kind": "proposal",
              "sectors": ["energy", "mechanics"], "csrf_token": csrf, "file": (io.BytesIO(data), f"upload.{kind}")},
        content_type="multipart/form-data",
    )
    document_id = _new_document_id(response)
    document = db.session.get(Document, document_id)
    assert document.organization_id == firm.organization_id and document.sectors == ["energy", "mechanics"]
    (file,) = document.files
    assert file.content_type == content_type and file.filename == f"upload.{kind}" and file.size == len(data)
    assert stored_blob_count(app) == blobs + 1
    page = firm_client.get(response.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Proposta {kind}" in html and "Предложение" in html and f"upload.{kind}" in html
    assert "The document was uploaded." in html
    download = firm_client.get(f"/documents/{document_id}/files/{file.id}/download")
    assert download.status_code == 200 and download.data == data
    assert download.headers["Content-Type"].startswith(content_type)
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_browser_upload_of_two_languages_and_a_new_version(app, firm, browser):
    firm_client, csrf = browser(firm)
    response = firm_client.post(
        "/documents/new",
        data={"title_it": "Dichiarazione", "title_ru": "Декларация", "kind": "other", "csrf_token": csrf,
              "language": ["", "ru"], "grouping": "pair",
              "file": [(io.BytesIO(corpus_bytes("text/udhr_ita.txt")), "it.txt"),
                       (io.BytesIO(corpus_bytes("text/udhr_rus.txt")), "ru.txt")]},
        content_type="multipart/form-data",
    )
    document_id = _new_document_id(response)
    files = {f.filename: f for f in db.session.get(Document, document_id).files}
    assert files["it.txt"].language == "it" and files["ru.txt"].language == "ru"
    assert "Dichiarazione Universale" in files["it.txt"].text

    response = firm_client.post(
        f"/documents/{document_id}/files",
        data={"csrf_token": csrf, "language": "it",
              "file": (io.BytesIO(corpus_bytes("docx/python-docx_blk-paras-and-tables.docx")), "it-v2.docx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    db.session.expire_all()
    versions = sorted(
        (f.language, f.version, f.filename)
        for f in db.session.scalars(select(DocumentFile).where(DocumentFile.document_id == document_id))
    )
    assert versions == [("it", 1, "it.txt"), ("it", 2, "it-v2.docx"), ("ru", 1, "ru.txt")]
    html = firm_client.get(f"/documents/{document_id}").get_data(as_text=True)
    for name in ("it.txt", "it-v2.docx", "ru.txt"):
        assert name in html
    # every version can be downloaded
    for file in db.session.get(Document, document_id).files:
        assert firm_client.get(f"/documents/{document_id}/files/{file.id}/download").status_code == 200


def test_the_upload_form_renders(firm, browser):
    firm_client, _ = browser(firm)
    page = firm_client.get("/documents/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert 'name="organization_id"' not in html  # a firm uploads for its own organisation only


def test_index_lists_and_filters(app, make_org, make_user, make_document, browser):
    from docmgr.documents.services import create_task_force_session

    org_a, org_b = make_org("Alfa Srl"), make_org("Beta Srl")
    forum = create_task_force_session(
        db.session, None, name="Torino 2013", place="Torino", country="IT", starts_on=date(2013, 10, 28),
        ends_on=date(2013, 10, 29),
    )
    db.session.commit()
    legal = make_user("legal")
    make_document(legal, title_it="Turbine idroelettriche", organization_id=org_a.id, kind="proposal",
                  sectors=["energy"], session_id=forum.id)
    make_document(legal, title_it="Accordo quadro", organization_id=org_a.id, kind="agreement", sectors=["mechanics"])
    make_document(legal, title_it="Nanoparticelle", organization_id=org_b.id, kind="proposal", sectors=["nanotech"],
                  files=[("ru.txt", corpus_bytes("text/udhr_rus.txt"), None)])
    legal_client, _ = browser(legal)

    def titles(query: str) -> set[str]:
        page = legal_client.get(f"/{query}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return {t for t in ("Turbine idroelettriche", "Accordo quadro", "Nanoparticelle") if t in html}

    assert titles("") == {"Turbine idroelettriche", "Accordo quadro", "Nanoparticelle"}
    assert titles("?kind=proposal") == {"Turbine idroelettriche", "Nanoparticelle"}
    assert titles("?sector=mechanics") == {"Accordo quadro"}
    assert titles(f"?organization_id={org_b.id}") == {"Nanoparticelle"}
    assert titles(f"?session_id={forum.id}") == {"Turbine idroelettriche"}
    assert titles("?language=ru") == {"Nanoparticelle"}
    assert titles("?q=accordo") == {"Accordo quadro"}
    bad = legal_client.get("/?kind=letter")
    assert bad.status_code == 422 and "Kind must be one of" in bad.get_data(as_text=True)
    bad = legal_client.get("/?session_id=abc")
    assert bad.status_code == 422


def test_index_pages(make_user, make_document, browser, make_org):
    org = make_org()
    legal = make_user("legal")
    for i in range(23):
        make_document(legal, title_it=f"Documento numero {i:02d}", organization_id=org.id)
    legal_client, _ = browser(legal)
    first = legal_client.get("/").get_data(as_text=True)
    second = legal_client.get("/?page=2").get_data(as_text=True)
    on_first = {i for i in range(23) if f"Documento numero {i:02d}" in first}
    on_second = {i for i in range(23) if f"Documento numero {i:02d}" in second}
    assert len(on_first) == 20 and len(on_second) == 3 and not on_first & on_second
    assert 'rel="next"' in first


def test_detail_of_a_missing_document_is_404(firm, browser):
    firm_client, _ = browser(firm)
    assert firm_client.get("/documents/12345").status_code == 404
    assert firm_client.get("/documents/12345/files/1/download").status_code == 404


def test_languages_pair_with_their_file_inputs_even_when_one_is_left_empty(firm, browser):
    """The form has two file inputs, each with its language; an empty first input must not shift the second's."""
    firm_client, csrf = browser(firm)
    response = firm_client.post(
        "/documents/new",
        data={"title_it": "Solo il secondo", "csrf_token": csrf, "language": ["it", "bi"],
              "file": [(io.BytesIO(b""), ""), (io.BytesIO(corpus_bytes("text/udhr_rus.txt")), "ru.txt")]},
        content_type="multipart/form-data",
    )
    document_id = _new_document_id(response)
    (file,) = db.session.get(Document, document_id).files
    assert file.filename == "ru.txt" and file.language == "bi" and file.language_detected == "ru"


def test_titles_and_file_names_are_escaped(firm, browser, make_document):
    document = make_document(
        firm, title_it='<script>alert("x")</script>',
        files=[('<img src=x onerror=alert(1)>.txt', b"Proposta con un nome di file ostile.", "it")],
    )
    firm_client, _ = browser(firm)
    for path in (f"/documents/{document.id}", "/"):
        html = firm_client.get(path).get_data(as_text=True)
        assert '<script>alert("x")</script>' not in html and "&lt;script&gt;" in html
        assert "<img src=x" not in html
