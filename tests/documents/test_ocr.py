"""OCR of scans with the real Tesseract: image-only PDFs and PNG/JPEG/TIFF pages, the OCR task, the worker."""

from __future__ import annotations

import io
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.database import utcnow
from docmgr.documents import ocr
from docmgr.documents.models import DocumentFile, OcrJob
from docmgr.extensions import db
from docmgr.search.indexers import INDEX_TASK
from docmgr.tasks.models import OutboxTask
from docmgr.tasks.worker import run_due
from tests.conftest import CORPUS, api_upload, stored_blob_count, table_counts

FONT = Path(__file__).resolve().parents[2] / "docmgr" / "static" / "fonts" / "DejaVuSans.ttf"
ITALIAN = ["Accordo di collaborazione", "tra distretti industriali", "Bologna e Kazan"]
RUSSIAN = ["Соглашение о сотрудничестве", "промышленных округов", "Казань и Болонья"]

# These tests look at the queue between the upload and the worker: tasks wait for run_worker() below.
pytestmark = pytest.mark.app_config(QUEUE_IMMEDIATE=False)

needs_tesseract = pytest.mark.skipif(
    not ocr.ocr_status({"OCR_ENABLED": True}).available, reason="Tesseract with ita+rus is not installed"
)


def scanned_page(lines: list[str], size: tuple[int, int] = (2480, 3508)) -> Image.Image:
    """A white A4 page at 300 dpi with large black text: what a clean scan looks like (no text layer)."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), 90)
    y = 300
    for line in lines:
        draw.text((200, y), line, font=font, fill=0)
        y += 160
    return page


def image_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def scanned_pdf(pages: list[list[str]]) -> bytes:
    images = [scanned_page(lines) for lines in pages]
    return image_bytes(images[0], "PDF", resolution=300, save_all=True, append_images=images[1:])


def upload(client, headers, name: str, data: bytes, **fields) -> dict:
    response = api_upload(client, headers, [(name, data)], **fields)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _finished_jobs() -> int:
    return len(db.session.scalars(select(OcrJob.id).where(OcrJob.status.in_(("done", "failed")))).all())


def run_worker(app) -> int:
    """Run the queued work as `docmgr worker --once` does (its own app context and session); returns how many OCR
    jobs it finished. The test's session must not hold SQLite's write lock meanwhile (outside requests every
    transaction begins IMMEDIATE)."""
    before = _finished_jobs()
    db.session.commit()
    run_due(app)
    after = _finished_jobs()
    db.session.commit()
    return after - before


def file_row(file_id: int) -> DocumentFile:
    db.session.expire_all()
    return db.session.get(DocumentFile, file_id)


def job_of(file_id: int) -> OcrJob:
    db.session.expire_all()
    return db.session.scalars(select(OcrJob).where(OcrJob.file_id == file_id)).one()


# --- the whole journey --------------------------------------------------------------------------------------------


@needs_tesseract
def test_scanned_bilingual_pdf_is_recognised_and_found(app, client, headers, firm):
    data = scanned_pdf([ITALIAN, RUSSIAN])
    assert b"/Font" not in data  # really no text layer
    document = upload(client, headers, "accordo_scansione.pdf", data, title_it="Accordo firmato")
    [file] = document["files"]
    assert file["text_status"] == "ocr_pending" and file["page_count"] == 2
    job = job_of(file["id"])
    assert (job.status, job.attempts) == ("queued", 0)

    assert run_worker(app) == 1

    row = file_row(file["id"])
    text = row.text.lower()
    for word in ("collaborazione", "distretti", "industriali", "соглашение", "сотрудничестве", "промышленных"):
        assert word in text, (word, row.text)
    assert row.text_status == "ocr_done"
    assert row.language_detected == "bi"
    job = job_of(file["id"])
    assert (job.status, job.attempts, job.error) == ("done", 1, "")
    assert job.started_at is not None and job.finished_at is not None and job.worker_id
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "document.ocr_done")).all()
    assert [(e.object_type, e.object_id) for e in events] == [("DocumentFile", file["id"])]
    # the index was told, in the same transaction, and the worker ran that task too
    index_work = db.session.scalars(select(OutboxTask).where(OutboxTask.task == INDEX_TASK)).all()
    assert [(t.args["object_id"], t.status) for t in index_work] == [(document["id"], "done")] * 2  # upload, OCR
    api = client.get(f"/api/v1/documents/{document['id']}", headers=headers).get_json()
    assert api["files"][0]["text_status"] == "ocr_done"
    for query in ("сотрудничестве", "collaborazione"):
        found = client.get("/api/v1/search", query_string={"q": query}, headers=headers)
        assert found.status_code == 200, found.get_data(as_text=True)
        assert document["id"] in [hit["document_id"] for hit in found.get_json()["hits"]], query


@needs_tesseract
@pytest.mark.parametrize(("fmt", "name", "content_type"), [("PNG", "firma.png", "image/png")])
def test_scanned_image_is_accepted_and_recognised(app, client, headers, fmt, name, content_type):
    data = image_bytes(scanned_page(RUSSIAN, size=(2480, 1200)), fmt)
    document = upload(client, headers, name, data, title_ru="Подписанная страница")
    [file] = document["files"]
    assert (file["content_type"], file["page_count"], file["text_status"]) == (content_type, 1, "ocr_pending")
    assert run_worker(app) == 1
    row = file_row(file["id"])
    assert row.text_status == "ocr_done" and row.language_detected == "ru"
    assert "сотрудничестве" in row.text.lower()


@pytest.mark.parametrize(
    ("fmt", "name", "content_type", "options"),
    [
        ("JPEG", "pagina.jpg", "image/jpeg", {"quality": 85}),
        ("TIFF", "pagina.tif", "image/tiff", {"compression": "group4"}),
        ("PNG", "pagina.dat", "image/png", {}),  # the name is never consulted
    ],
)
def test_jpeg_tiff_and_png_scans_are_accepted_and_queued(client, headers, fmt, name, content_type, options):
    page = scanned_page(ITALIAN, size=(1240, 600))
    data = image_bytes(page.convert("1") if fmt == "TIFF" else page, fmt, **options)
    document = upload(client, headers, name, data)
    [file] = document["files"]
    assert (file["content_type"], file["page_count"], file["text_status"]) == (content_type, 1, "ocr_pending")
    assert job_of(file["id"]).status == "queued"


def test_multi_page_tiff_counts_its_pages(client, headers):
    pages = [scanned_page([f"Pagina {n}"], size=(600, 300)).convert("1") for n in (1, 2, 3)]
    data = image_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="group4")
    [file] = upload(client, headers, "tre_pagine.tiff", data)["files"]
    assert file["page_count"] == 3


def test_text_documents_get_no_ocr_job(client, headers):
    [file] = upload(client, headers, "nota.txt", b"Proposta di partenariato nel settore energetico.")["files"]
    assert file["text_status"] == "ok"
    assert db.session.scalar(select(OcrJob.id)) is None


@needs_tesseract
def test_corpus_scans_get_ocr_jobs_and_are_read(app, client, headers):
    scans = sorted((CORPUS / "pdf").glob("*IMAGEONLY*.pdf"))
    assert len(scans) >= 3
    file_ids = []
    for path in scans:
        [file] = upload(client, headers, path.name, path.read_bytes())["files"]
        assert file["text_status"] == "ocr_pending", path.name
        assert job_of(file["id"]).status == "queued"
        file_ids.append(file["id"])
    assert run_worker(app) == len(scans)
    by_name = {file_row(i).filename: file_row(i) for i in file_ids}
    assert {row.text_status for row in by_name.values()} == {"ocr_done"}  # blank or tiny pages: done, little text
    assert "Happy New Year 2003" in by_name["tika_testOCR_IMAGEONLY.pdf"].text


# --- the queue ----------------------------------------------------------------------------------------------------


def _queued_job(client, headers) -> int:
    data = image_bytes(scanned_page(["Scansione"], size=(600, 300)), "PNG")
    [file] = upload(client, headers, "scan.png", data)["files"]
    return job_of(file["id"]).id


def _outbox_row(job_id: int) -> OutboxTask:
    db.session.expire_all()
    return db.session.scalars(select(OutboxTask).where(OutboxTask.task == ocr.OCR_TASK)
                              .where(OutboxTask.args["job_id"].as_integer() == job_id)).one()


@needs_tesseract
def test_running_the_ocr_task_twice_changes_nothing(app, client, headers):
    job_id = _queued_job(client, headers)
    assert _outbox_row(job_id).status == "pending"
    assert run_worker(app) == 1
    job = db.session.get(OcrJob, job_id)
    text, finished = job.file.text, job.finished_at
    db.session.commit()
    with app.app_context():
        ocr.ocr_task(job_id)  # a duplicate message: the job is done, nothing happens
    db.session.expire_all()
    job = db.session.get(OcrJob, job_id)
    assert (job.status, job.attempts, job.file.text, job.finished_at) == ("done", 1, text, finished)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "document.ocr_done")).all()
    assert len(events) == 1
    assert _outbox_row(job_id).status == "done"


@needs_tesseract
def test_a_run_cut_short_by_a_killed_worker_is_finished_at_the_next_start(app, client, headers):
    job_id = _queued_job(client, headers)
    # What a worker killed mid-recognition leaves: the job running, its outbox row leased, no error recorded.
    row = _outbox_row(job_id)
    job = db.session.get(OcrJob, job_id)
    job.status, job.attempts, job.worker_id, job.started_at = "running", 1, "killed-worker", utcnow()
    row.attempts, row.next_attempt_at = 1, utcnow() + timedelta(minutes=30)
    db.session.commit()
    assert run_worker(app) == 1  # a starting worker takes up the runs left unfinished
    job = db.session.get(OcrJob, job_id)
    assert (job.status, job.attempts) == ("done", 2)
    row = _outbox_row(job_id)
    assert (row.status, row.attempts) == ("done", 2)


def test_a_job_that_keeps_crashing_is_given_up(app, client, headers):
    job_id = _queued_job(client, headers)
    job = db.session.get(OcrJob, job_id)
    job.status, job.attempts, job.started_at = "running", ocr.MAX_ATTEMPTS, utcnow() - timedelta(hours=1)
    db.session.commit()
    assert run_worker(app) == 1
    job = job_of(job.file_id)
    assert job.status == "failed" and "Gave up" in job.error
    assert file_row(job.file_id).text_status == "failed"
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "document.ocr_failed")).all()
    assert [e.object_id for e in events] == [job.file_id]


@needs_tesseract
def test_a_damaged_scan_fails_cleanly(app, client, headers, firm, login):
    good = image_bytes(scanned_page(["Scansione"], size=(800, 600)), "JPEG")
    damaged = good[: len(good) // 3]  # header intact, image data cut: accepted, unreadable
    document = upload(client, headers, "rotta.jpg", damaged)
    [file] = document["files"]
    assert run_worker(app) == 1
    job = job_of(file["id"])
    assert job.status == "failed" and "page 1" in job.error
    assert file_row(file["id"]).text_status == "failed"
    page = login(firm).get(f"/documents/{document['id']}").get_data(as_text=True)
    assert "Text recognition failed" in page


# --- OCR unavailable ---------------------------------------------------------------------------------------------


@pytest.mark.app_config(OCR_ENABLED=False)
def test_without_ocr_scans_wait_and_the_page_says_so(app, client, headers, firm, login):
    data = scanned_pdf([ITALIAN])
    document = upload(client, headers, "scan.pdf", data)
    [file] = document["files"]
    assert file["text_status"] == "ocr_pending"
    assert run_worker(app) == 0
    job = job_of(file["id"])
    assert job.status == "queued"
    row = _outbox_row(job.id)  # deferred, not failed: no attempt counted, tried again later
    assert (row.status, row.attempts) == ("pending", 0) and "OCR is unavailable" in row.last_error
    assert row.next_attempt_at > utcnow() + timedelta(minutes=4)
    pages = client.get(f"/api/v1/documents/{document['id']}/files/{file['id']}/pages", headers=headers).get_json()
    assert pages["ocr_available"] is False and pages["text_status"] == "ocr_pending"
    assert client.get("/api/v1/documents/ocr", headers=headers).get_json() == {"ocr_available": False}
    browser = login(firm)
    detail = browser.get(f"/documents/{document['id']}")
    assert detail.status_code == 200
    assert "not available on this server" in detail.get_data(as_text=True)
    viewer = browser.get(f"/documents/{document['id']}/files/{file['id']}/view")
    assert viewer.status_code == 200 and "not available on this server" in viewer.get_data(as_text=True)


@pytest.mark.app_config(OCR_TESSERACT="docmgr-no-such-tesseract")
def test_without_tesseract_binary_ocr_is_unavailable(app, client, headers, make_user, token_for):
    _queued_job(client, headers)
    assert run_worker(app) == 0
    staff = token_for(make_user("legal"))
    overview = client.get("/api/v1/documents/ocr", headers=staff).get_json()
    assert overview["ocr_available"] is False and "not installed" in overview["reason"]
    assert overview["jobs"]["queued"] == 1


@needs_tesseract
def test_ocr_overview_for_staff(client, headers, make_user, token_for):
    _queued_job(client, headers)
    assert client.get("/api/v1/documents/ocr", headers=headers).get_json() == {"ocr_available": True}
    staff = client.get("/api/v1/documents/ocr", headers=token_for(make_user("ministry"))).get_json()
    assert staff == {"ocr_available": True, "reason": "", "jobs": {"queued": 1, "running": 0, "done": 0, "failed": 0}}
    assert client.get("/api/v1/documents/ocr").status_code == 401


@needs_tesseract
def test_cli_worker_once(app, client, headers):
    runner = app.test_cli_runner()
    job_id = _queued_job(client, headers)
    db.session.commit()
    result = runner.invoke(args=["docmgr", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "3 task(s) done." in result.output  # the upload's index task, the OCR, the index task it recorded
    assert job_of(db.session.get(OcrJob, job_id).file_id).status == "done"
    db.session.commit()
    result = runner.invoke(args=["docmgr", "ocr-worker", "--once"])  # the deprecated name still works
    assert result.exit_code == 0 and "deprecated" in result.output and "0 task(s) done." in result.output


@pytest.mark.app_config(OCR_ENABLED=False)
def test_cli_worker_says_when_ocr_is_unavailable(app):
    result = app.test_cli_runner().invoke(args=["docmgr", "worker", "--once"])
    assert result.exit_code == 0 and "OCR is unavailable" in result.output and "switched off" in result.output


# --- bad images are refused and change nothing --------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("bomb.png", _png_header_only(40_000, 40_000), 422, "too_complex"),  # 1.6 Gpx: Pillow's bomb error
        ("big.png", _png_header_only(10_000, 10_000), 422, "too_complex"),  # 100 Mpx: Pillow only warns
        ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20), 422, "malformed_file"),
        ("cut.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", 422, "malformed_file"),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 415, "unsupported_file_type"),
        ("x.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ", 415, "unsupported_file_type"),
    ],
)
def test_bad_images_are_refused_and_change_nothing(app, client, headers, name, data, status, code):
    before = (table_counts(), stored_blob_count(app))
    response = api_upload(client, headers, [(name, data)])
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code and error["field"] == "file" and name in error["message"]
    assert (table_counts(), stored_blob_count(app)) == before


def test_web_processes_run_no_background_threads(app, client, headers):
    _queued_job(client, headers)
    client.get("/login")
    assert [t.name for t in threading.enumerate() if t.name.startswith(("docmgr", "huey"))] == []


def test_tesseract_is_where_setup_puts_it():
    """scripts/setup.sh installs tesseract-ocr with ita and rus; say clearly when this machine lacks them."""
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed here")
    assert ocr.ocr_status({"OCR_ENABLED": True}).available, ocr.ocr_status({"OCR_ENABLED": True}).reason
