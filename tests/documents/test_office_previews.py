"""DOCX and ODT previewed like PDFs: converted by the real LibreOffice in the worker's task, cached by hash,
rendered by pdfium; a failed conversion keeps the text view with a note."""

from __future__ import annotations

import io
import shutil
import threading
import time

import pytest
from PIL import Image
from sqlalchemy import func, select

from docmgr.documents import conversion
from docmgr.documents.models import DocumentFile
from docmgr.extensions import db
from docmgr.tasks.worker import run_due as _run_due
from tests.conftest import CORPUS, api_upload, assert_another_writer_gets_in

pytestmark = [
    pytest.mark.skipif(conversion.soffice_binary() is None, reason="LibreOffice is installed by scripts/setup.sh"),
    pytest.mark.app_config(OFFICE_PREVIEWS=True, QUEUE_IMMEDIATE=False),
]

DOCX = (CORPUS / "docx" / "python-docx_blk-paras-and-tables.docx").read_bytes()
ODT = (CORPUS / "odt" / "odfpy_serious_poem.odt").read_bytes()


def upload(client, headers, name: str, data: bytes) -> tuple[int, dict]:
    response = api_upload(client, headers, [(name, data)], kind="proposal")
    assert response.status_code == 201, response.get_data(as_text=True)
    document = response.get_json()
    return document["id"], document["files"][0]


def run_due(app) -> None:
    """The worker's pass (`docmgr worker --once`), in its own app context; the test's session must not hold
    SQLite's write lock meanwhile (outside requests every transaction begins IMMEDIATE)."""
    db.session.commit()
    _run_due(app)
    db.session.commit()


def png(response) -> Image.Image:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.get_data()))
    image.load()
    return image


@pytest.mark.parametrize(("name", "data"), [("proposta.docx", DOCX), ("poem.odt", ODT)])
def test_office_file_converted_by_the_worker_then_shown_like_a_pdf(app, client, headers, firm, login, name, data):
    document_id, file = upload(client, headers, name, data)
    assert file["preview_status"] == "pending"
    pages_url = f"/api/v1/documents/{document_id}/files/{file['id']}/pages"
    before = client.get(pages_url, headers=headers).get_json()
    assert before["pages"] == 0 and before["preview_status"] == "pending"
    login(firm)
    waiting = client.get(f"/documents/{document_id}/files/{file['id']}/view").get_data(as_text=True)
    assert 'data-preview-status="pending"' in waiting

    run_due(app)  # the worker: documents.convert (LibreOffice), as `docmgr worker --once`

    db.session.expire_all()
    row = db.session.get(DocumentFile, file["id"])
    assert row.preview_status == "done" and row.preview_pages >= 1
    pdf = app.extensions["docmgr.store"].read(row.preview_sha256)
    assert pdf.startswith(b"%PDF-")
    body = client.get(pages_url, headers=headers).get_json()
    assert body["pages"] == row.preview_pages and body["preview_status"] == "done"
    page = png(client.get(body["urls"][0], headers=headers))
    assert page.width > 500 and page.convert("L").getextrema()[0] < 128  # a real rendered page, not blank
    thumb = png(client.get(body["thumbnail_url"], headers=headers))
    assert thumb.width == 200

    viewer = client.get(f"/documents/{document_id}/files/{file['id']}/view").get_data(as_text=True)
    assert f"/documents/{document_id}/files/{file['id']}/pages/1.png" in viewer
    assert "data-preview-status" not in viewer
    listing = client.get("/").get_data(as_text=True)
    assert f"/documents/{document_id}/files/{file['id']}/thumbnail.png" in listing


def test_same_bytes_are_converted_once(app, client, headers):
    _, first = upload(client, headers, "a.docx", DOCX)
    run_due(app)
    _, second = upload(client, headers, "b.docx", DOCX)
    run_due(app)
    db.session.expire_all()
    rows = [db.session.get(DocumentFile, f["id"]) for f in (first, second)]
    assert rows[0].preview_sha256 == rows[1].preview_sha256 and rows[1].preview_status == "done"
    blobs = db.session.scalar(select(func.count(func.distinct(DocumentFile.preview_sha256))))
    assert blobs == 1


def test_a_failed_conversion_keeps_the_text_with_a_note(app, client, headers, firm, login):
    app.config["OFFICE_CONVERTER"] = "false"  # a converter that exits 1 and writes nothing: LibreOffice failing
    document_id, file = upload(client, headers, "proposta.docx", DOCX)
    run_due(app)
    db.session.expire_all()
    assert db.session.get(DocumentFile, file["id"]).preview_status == "failed"
    body = client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages", headers=headers).get_json()
    assert body["pages"] == 0 and body["preview_status"] == "failed"
    assert client.get(f"/documents/{document_id}/files/{file['id']}/pages/1.png", headers=headers).status_code == 404
    login(firm)
    page = client.get(f"/documents/{document_id}/files/{file['id']}/view").get_data(as_text=True)
    assert 'data-preview-status="failed"' in page
    assert "Lorem ipsum" in page  # the extracted text is still shown


def _converter(tmp_path, script: str):
    """A stand-in for LibreOffice's soffice: a shell script (the converter is a program we call, not our code)."""
    path = tmp_path / "slow-soffice"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def test_no_database_lock_is_held_while_the_converter_runs(app, client, headers, tmp_path):
    """LibreOffice takes seconds: the worker's task holds no transaction meanwhile (on SQLite, the write lock
    that every upload waits for), then records the outcome."""
    started = tmp_path / "converter-started"
    app.config["OFFICE_CONVERTER"] = str(_converter(tmp_path, f"touch {started}\nsleep 3\nexit 1"))
    _, file = upload(client, headers, "proposta.docx", DOCX)
    db.session.commit()
    worker = threading.Thread(target=_run_due, args=(app,))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists() and worker.is_alive(), "the converter did not start"
        assert_another_writer_gets_in()
    finally:
        worker.join(60)
    db.session.expire_all()
    assert db.session.get(DocumentFile, file["id"]).preview_status == "failed"  # recorded after the conversion


def test_conversion_times_out_and_kills_the_converter(tmp_path):
    slow = _converter(tmp_path, "sleep 30")
    source = tmp_path / "x.docx"
    source.write_bytes(DOCX)
    with pytest.raises(conversion.ConversionError, match="longer than"):
        conversion.convert_to_pdf(source, "docx", binary=str(slow), timeout=1)


def test_conversion_is_refused_for_other_kinds(tmp_path):
    with pytest.raises(conversion.ConversionError):
        conversion.convert_to_pdf(tmp_path / "x.pdf", "pdf", binary=shutil.which("true") or "true")


def test_others_cannot_see_the_converted_pages(app, client, headers, make_user, token_for):
    document_id, file = upload(client, headers, "proposta.docx", DOCX)
    run_due(app)
    stranger = token_for(make_user("firm"))
    assert client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages", headers=stranger).status_code == 404
    assert client.get(f"/documents/{document_id}/files/{file['id']}/pages/1.png", headers=stranger).status_code in (
        302, 401, 404)
