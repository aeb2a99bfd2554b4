"""Extraction in a limited child process: same answers as in-process, and hostile files cost bounded time."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from docmgr.documents import extraction
from docmgr.documents.sandbox import SandboxLimits, extract_in_subprocess
from tests.conftest import CORPUS, api_upload, stored_blob_count, table_counts


def hostile_pdf(pages: int, operators: int = 990_000) -> bytes:
    """A few kilobytes of valid PDF whose pages all draw one content stream of ~2 million operators.

    Every limit pypdf has is respected (75 MB inflated, 2 million tokens per stream), yet each page costs
    seconds of CPU and ~300 MB while its operators are parsed: 50 pages stall an unprotected worker for
    minutes. One text operator is needed, or pypdf skips the stream as a figure.
    """
    content = zlib.compress(b"BT /F1 12 Tf (x) Tj ET\n" + b"q Q\n" * operators, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    font = 4 + pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        *[
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % font
            for _ in range(pages)
        ],
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "bomb.pdf"
    path.write_bytes(hostile_pdf(pages=50))
    return path


@pytest.mark.parametrize("relative", [
    "pdf/pypdf_multilang_CYRILLIC.pdf",
    "docx/python-docx_blk-paras-and-tables.docx",
    "odt/odfpy_simpletable.odt",
    "docx/tika_footnotes.docx",
])
def test_the_child_gives_what_extraction_in_process_gives(relative):
    path = CORPUS / relative
    expected_kind, expected = extraction.extract_file(path)

    kind, extracted = extract_in_subprocess(path)

    assert kind == expected_kind
    assert extracted == expected
    assert extracted.text.strip()


def test_plain_text_too(tmp_path):
    path = tmp_path / "note.txt"
    path.write_bytes("Протокол о намерениях между предприятиями.\n".encode("cp1251"))

    assert extract_in_subprocess(path) == extraction.extract_file(path)


@pytest.mark.parametrize(("relative", "code"), [
    ("docx/tika_testWORD_protected_ENCRYPTED_pw-tika.docx", "encrypted_file"),
    ("docx/tika_testWORD_truncated_MALFORMED.docx", "malformed_file"),
    ("odt/odfpy_aes_sample_ENCRYPTED_pw-qwerty.odt", "encrypted_file"),
])
def test_refusals_keep_their_codes(relative, code):
    with pytest.raises(extraction.ExtractionError) as refused:
        extract_in_subprocess(CORPUS / relative)
    assert refused.value.code == code


def test_sniffing_stays_in_process_and_refuses_as_before(tmp_path):
    path = tmp_path / "tool.pdf"
    path.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 100)

    with pytest.raises(extraction.ExtractionError) as refused:
        extract_in_subprocess(path)
    assert refused.value.code == "unsupported_file_type"


def test_the_wall_clock_limit_gives_too_complex(hostile_file):
    with pytest.raises(extraction.ExtractionError) as refused:
        extract_in_subprocess(hostile_file, limits=SandboxLimits(timeout_seconds=1.5))
    assert refused.value.code == "too_complex"


def test_the_cpu_limit_kills_the_child(hostile_file):
    with pytest.raises(extraction.ExtractionError) as refused:
        extract_in_subprocess(hostile_file, limits=SandboxLimits(timeout_seconds=120, cpu_seconds=1))
    assert refused.value.code == "too_complex"


def test_the_memory_limit_gives_too_complex(tmp_path):
    """One page needs ~300 MB; under 256 MB of address space the parser fails with MemoryError, which the
    PDF extractor would report as a damaged page: the sandbox names it for what it is."""
    path = tmp_path / "one-page.pdf"
    path.write_bytes(hostile_pdf(pages=1))

    with pytest.raises(extraction.ExtractionError) as refused:
        extract_in_subprocess(path, limits=SandboxLimits(timeout_seconds=120, memory_bytes=256 * 2**20, cpu_seconds=120))
    assert refused.value.code == "too_complex"


# --- through the upload API -------------------------------------------------------------------


@pytest.fixture
def headers(make_user, token_for):
    return token_for(make_user("firm"))


@pytest.mark.app_config(EXTRACTION_TIMEOUT_SECONDS=2)
def test_a_hostile_upload_is_422_and_the_next_upload_works(app, client, headers, hostile_file):
    before, blobs_before = table_counts(), stored_blob_count(app)

    response = api_upload(client, headers, [("bilancio.pdf", hostile_file.read_bytes())])

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("too_complex", "file")
    assert "bilancio.pdf" in error["message"]
    assert table_counts() == before
    assert stored_blob_count(app) == blobs_before
    assert not any(app.extensions["docmgr.store"].tmp.iterdir())  # the spooled upload is gone too

    good = (CORPUS / "pdf/pypdf_multilang_CYRILLIC.pdf").read_bytes()
    response = api_upload(client, headers, [("accordo.pdf", good)])
    assert response.status_code == 201, response.get_json()


@pytest.mark.app_config(EXTRACTION_TIMEOUT_SECONDS=0.0001)
def test_the_limits_come_from_the_configuration(client, headers):
    """41 RC4-encrypted pages take the child far longer than the configured 0.1 ms (a tiny text could answer
    before the parent even starts waiting)."""
    slow = (CORPUS / "pdf/tika_testPDF_protected_ENCRYPTED.pdf").read_bytes()
    response = api_upload(client, headers, [("nota.pdf", slow)])

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "too_complex"


@pytest.mark.app_config(EXTRACTION_SUBPROCESS=False, EXTRACTION_TIMEOUT_SECONDS=0.0001)
def test_extraction_in_process_when_the_flag_is_off(client, headers):
    """The same impossible timeout does not apply: nothing ran in a child."""
    response = api_upload(client, headers, [("nota.txt", b"Accordo quadro di cooperazione industriale.")])

    assert response.status_code == 201, response.get_json()
