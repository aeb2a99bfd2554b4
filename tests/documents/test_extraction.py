"""Type sniffing and text extraction against real files (tests/data) plus hostile files built here."""

from __future__ import annotations

import contextlib
import signal
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from docmgr.documents.extraction import (
    SUPPORTED,
    Extracted,
    ExtractionError,
    detect_language,
    extract,
    extract_file,
    sniff,
)

CORPUS = Path(__file__).resolve().parents[1] / "data"
PDF, DOCX, ODT, TEXT = CORPUS / "pdf", CORPUS / "docx", CORPUS / "odt", CORPUS / "text"

ODT_MIME = SUPPORTED["odt"]
DOCX_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="{main}"/>'
    "</Types>"
)
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="word/document.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)
W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"'
)
ODF_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODT_MIME}"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


# --- helpers ----------------------------------------------------------------------------------------------------
def error_code(path: Path, kind: str | None = None) -> str:
    """The ExtractionError code for ``path`` (sniff + extract, or extract as ``kind``); fails if none is raised."""
    with pytest.raises(ExtractionError) as info:
        if kind is None:
            extract_file(path)
        else:
            extract(path, kind)
    assert info.value.message and info.value.message[0].isupper()
    return info.value.code


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Turn a hang into a test failure instead of a stuck test run (SIGALRM, main thread)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write_docx(path: Path, document_xml: str, *, main_type: str = DOCX_MAIN) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", DOCX_CONTENT_TYPES.format(main=main_type))
        zf.writestr("_rels/.rels", DOCX_RELS)
        zf.writestr("word/document.xml", document_xml)
    return path


def write_odt(path: Path, content_xml: str, *, styles_xml: str | None = None, manifest: str = ODF_MANIFEST) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), ODT_MIME, compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", content_xml)
        if styles_xml is not None:
            zf.writestr("styles.xml", styles_xml)
        zf.writestr("META-INF/manifest.xml", manifest)
    return path


def odt_content(body: str, prolog: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<office:document-content {ODF_NS} office:version="1.2">'
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )


# --- sniffing ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (PDF / "sample-files_pdflatex-4-pages.pdf", "pdf"),
        (PDF / "pypdf_multilang_CYRILLIC.pdf", "pdf"),
        (PDF / "sample-files_grayscale-image_IMAGEONLY.pdf", "pdf"),
        (PDF / "pyhanko_minimal-illegal-header.pdf", "pdf"),  # '%PDF-X.Y' header is still a PDF
        (PDF / "ocrmypdf_invalid.pdf", "pdf"),  # a PDF by content; extraction decides it is broken
        (DOCX / "python-docx_blk-paras-and-tables.docx", "docx"),
        (DOCX / "tika_testWORD_various.docx", "docx"),  # [Content_Types].xml is the last member here
        (DOCX / "tika_testWORD_signed_SIGNED.docx", "docx"),
        (ODT / "odfpy_Electra.odt", "odt"),
        (ODT / "tika_testODTMacro_MACRO.odt", "odt"),
        (ODT / "tika_testODTEncrypted_ENCRYPTED.odt", "odt"),  # mimetype is never encrypted; extract says so
        (TEXT / "udhr_ita.txt", "txt"),
        (TEXT / "udhr_rus.txt", "txt"),
        (TEXT / "tika_russian.cp866.txt", "txt"),
        (TEXT / "PUD_it-ru_parallel.tsv", "txt"),
        # 24 bytes of ASCII named .odt: by content it is text, and the name is never consulted
        (ODT / "tika_testODTnotaZipFile_MALFORMED.odt", "txt"),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_sniff_identifies_corpus_files_by_content(path: Path, kind: str) -> None:
    assert sniff(path) == kind


@pytest.mark.parametrize("kind", ["pdf", "docx", "odt", "txt"])
def test_sniff_ignores_the_file_name(tmp_path: Path, kind: str) -> None:
    source = {
        "pdf": PDF / "sample-files_002-trivial-libre-office-writer.pdf",
        "docx": DOCX / "python-docx_par-hyperlinks.docx",
        "odt": ODT / "odfpy_simpletable.odt",
        "txt": TEXT / "udhr_ita.txt",
    }[kind]
    disguised = tmp_path / "upload.jpg"
    disguised.write_bytes(source.read_bytes())
    assert sniff(disguised) == kind


HTML = b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("x.pdf", HTML),
        ("x.txt", HTML),
        ("x.txt", b"\xef\xbb\xbf  \n\t<HTML><body>hello</body></HTML>"),
        ("x.txt", "\ufeff<html><body>ciao</body></html>".encode("utf-16-le")),
        ("x.txt", b"Just a note\n<script>fetch('/api')</script>\n"),
        ("x.txt", b"<?xml version='1.0'?><root>testo</root>"),
        ("x.txt", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'),
        ("x.pdf", b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"%PDF-1.4"),
        ("x.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48)),
        ("x.txt", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01"),
        ("x.txt", b"#!/bin/sh\nrm -rf /\n"),
        ("x.txt", b"GIF89a\x01\x00\x01\x00"),
        ("x.png", b"RIFF\x24\x00\x00\x00WEBPVP8 "),
        ("x.png", b"\x89PNG"),  # a PNG signature cut short is not an image
        ("x.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)),  # OLE2 header: legacy .doc
        ("x.txt", b"{\\rtf1\\ansi Ciao}"),
        ("x.txt", bytes(range(256)) * 4),
    ],
    ids=[
        "html-as-pdf", "html-as-txt", "html-bom-whitespace", "html-utf16", "script-later", "xml", "svg",
        "elf-with-pdf-marker", "pe", "mach-o", "shebang", "gif", "webp", "png-signature-only", "ole-doc", "rtf",
        "binary",
    ],
)  # fmt: skip
def test_disguised_files_are_unsupported(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExtractionError) as info:
        sniff(path)
    assert info.value.code == "unsupported_file_type"
    assert error_code(path) == "unsupported_file_type"


@pytest.mark.parametrize(
    ("fmt", "kind", "name"), [("PNG", "png", "scan.pdf"), ("JPEG", "jpeg", "scan.txt"), ("TIFF", "tiff", "scan")]
)
def test_scans_as_images_are_sniffed_by_content(tmp_path: Path, fmt: str, kind: str, name: str) -> None:
    """PNG, JPEG and TIFF are accepted (scans of signed pages): no text until OCR, one page."""
    from PIL import Image

    path = tmp_path / name
    Image.new("L", (120, 80), 255).save(path, fmt)
    assert sniff(path) == kind
    assert SUPPORTED[kind] == f"image/{kind}"
    assert extract_file(path) == (kind, Extracted(text="", page_count=1, encrypted=False))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("x.pdf", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)),  # PNG by content, cut after the header
        ("x.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
        ("x.tif", b"II*\x00\x08\x00\x00\x00"),
    ],
    ids=["png", "jpeg", "tiff"],
)
def test_truncated_images_are_malformed(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert error_code(path) == "malformed_file"


def test_image_above_pillows_bomb_guard_is_too_complex(tmp_path: Path) -> None:
    import struct

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 20_000, 20_000, 1, 0, 0, 0, 0)  # 400 Mpx, a few bytes of file
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    assert error_code(path) == "too_complex"


def test_corpus_xml_is_unsupported() -> None:
    assert error_code(TEXT / "udhr_ita.xml") == "unsupported_file_type"


def test_plain_zip_and_non_text_odf_are_unsupported(tmp_path: Path) -> None:
    plain = tmp_path / "x.docx"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("readme.txt", "ciao")
        zf.writestr("word/notes.txt", "not a document")
    assert error_code(plain) == "unsupported_file_type"

    spreadsheet = tmp_path / "x.odt"
    with zipfile.ZipFile(spreadsheet, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", odt_content(""))
    assert error_code(spreadsheet) == "unsupported_file_type"


def test_macro_enabled_word_file_is_unsupported(tmp_path: Path) -> None:
    body = f"<w:document {W_NS}><w:body><w:p><w:r><w:t>Ciao</w:t></w:r></w:p></w:body></w:document>"
    docm = write_docx(tmp_path / "x.docx", body, main_type="application/vnd.ms-word.document.macroEnabled.main+xml")
    assert error_code(docm) == "unsupported_file_type"
    assert sniff(write_docx(tmp_path / "ok.bin", body)) == "docx"


def test_odt_recognised_by_manifest_when_mimetype_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "x.odt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("content.xml", odt_content("<text:p>Solo manifest</text:p>"))
        zf.writestr("META-INF/manifest.xml", ODF_MANIFEST)
    assert extract_file(path)[1].text == "Solo manifest"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert error_code(path) == "empty_file"


def test_error_carries_code_and_sentence(tmp_path: Path) -> None:
    error = ExtractionError("encrypted_file")
    assert error.code == "encrypted_file"
    assert error.message.endswith(".")
    assert ExtractionError("malformed_file", "Custom.").message == "Custom."
    with pytest.raises(ExtractionError) as info:
        extract(TEXT / "udhr_ita.txt", "exe")
    assert info.value.code == "unsupported_file_type"


# --- encrypted --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        PDF / "pypdf_crazyones-encrypted-256_ENCRYPTED_pw-password.pdf",
        PDF / "sample-files_libreoffice-writer-password_ENCRYPTED.pdf",
        PDF / "opf_encryption_openpassword_ENCRYPTED.pdf",
        PDF / "tika_testUnicodePassword_ENCRYPTED.pdf",
        PDF / "pyhanko_minimal-aes256.pdf",
        PDF / "pyhanko_minimal-rc4.pdf",
        PDF / "ocrmypdf_skew-encrypted_pw-password.pdf",
        DOCX / "tika_testWORD_protected_ENCRYPTED_pw-tika.docx",
        ODT / "tika_testODTEncrypted_ENCRYPTED.odt",
        ODT / "odfpy_aes_sample_ENCRYPTED_pw-qwerty.odt",
    ],
    ids=lambda path: path.name,
)
def test_password_protected_files_are_rejected(path: Path) -> None:
    assert error_code(path) == "encrypted_file"


def test_encrypted_docx_is_encrypted_for_sniff_and_extract() -> None:
    path = DOCX / "tika_testWORD_protected_ENCRYPTED_pw-tika.docx"
    with pytest.raises(ExtractionError) as info:
        sniff(path)
    assert info.value.code == "encrypted_file"
    assert error_code(path, "docx") == "encrypted_file"


def test_pdf_with_empty_user_password_is_extracted() -> None:
    """Owner-password-only PDF: opens with the empty password like in any viewer, so it is accepted."""
    kind, result = extract_file(PDF / "tika_testPDF_protected_ENCRYPTED.pdf")
    assert kind == "pdf"
    assert result.encrypted is True
    assert result.page_count == 41
    assert "RETHINKING THE FINANCIAL NETWORK" in result.text


def test_pdf_with_empty_owner_password_opens_too() -> None:
    """r6-user-password.pdf has a user password but an EMPTY owner password: decrypt('') succeeds (as owner)."""
    result = extract(PDF / "pypdf_r6-user-password_ENCRYPTED_pw-asdfzxcv.pdf", "pdf")
    assert result.encrypted is True
    assert "pdf encryption test" in result.text


def test_plain_pdf_is_not_flagged_encrypted() -> None:
    assert extract(PDF / "sample-files_crazyones-pdfa.pdf", "pdf").encrypted is False


# --- malformed --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        PDF / "ocrmypdf_invalid.pdf",  # header + one sentence, no objects at all
        PDF / "tika_testPDF_malformedXFA_MALFORMED.pdf",  # no startxref, pypdf cannot open it
        PDF / "pyhanko_broken-objstream1.pdf",  # page tree lives in a broken object stream (poppler: 0 pages)
        PDF / "pyhanko_circular-page-tree.pdf",
        DOCX / "tika_testWORD_truncated_MALFORMED.docx",  # zip without central directory
    ],
    ids=lambda path: path.name,
)
def test_unreadable_files_are_malformed(path: Path) -> None:
    with deadline(20):
        assert error_code(path) == "malformed_file"


def test_circular_page_tree_does_not_hang() -> None:
    started = time.monotonic()
    with deadline(20):
        assert error_code(PDF / "pyhanko_circular-page-tree.pdf", "pdf") == "malformed_file"
    assert time.monotonic() - started < 5


def test_truncated_docx_is_malformed_when_extracted_directly() -> None:
    assert error_code(DOCX / "tika_testWORD_truncated_MALFORMED.docx", "docx") == "malformed_file"


def test_not_a_zip_odt_is_text_by_content_but_malformed_as_odt() -> None:
    path = ODT / "tika_testODTnotaZipFile_MALFORMED.odt"
    assert extract_file(path) == ("txt", Extracted(text="This is not a zip file!", page_count=None))
    assert error_code(path, "odt") == "malformed_file"


@pytest.mark.parametrize(
    ("path", "expected", "pages"),
    [
        (PDF / "pdfjs_helloworld-bad_MALFORMED.pdf", "Hello, world!", 1),
        (PDF / "opf_T03_001_no-cross-reference-table_MALFORMED.pdf", "Hello PDF-world!", 1),
        (PDF / "opf_T04_006_premature-EOF_MALFORMED.pdf", "Hello PDF-world!", 1),
        (PDF / "opf_corruptionOneByteMissing_MALFORMED.pdf", "This is a test document.", 1),
        (PDF / "pyhanko_minimal-startxref-hopeless.pdf", "Hello World", 1),
        (PDF / "pyhanko_malformed-xref-space-padded.pdf", "test", 1),
        # one page has content-stream syntax errors; the other 18 are still extracted
        (PDF / "tika_testPDF_bad_page_303226_MALFORMED.pdf", "Drug Enforcement Administration", 19),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else None,
)
def test_damaged_but_readable_pdfs_are_accepted(path: Path, expected: str, pages: int) -> None:
    kind, result = extract_file(path)
    assert kind == "pdf"
    assert expected in result.text
    assert result.page_count == pages


def test_invalid_xml_is_malformed(tmp_path: Path) -> None:
    broken_docx = write_docx(tmp_path / "a.docx", f"<w:document {W_NS}><w:body><w:p>")
    assert error_code(broken_docx) == "malformed_file"
    broken_odt = write_odt(tmp_path / "b.odt", "<office:document-content><text:p>unclosed")
    assert error_code(broken_odt) == "malformed_file"
    no_content = tmp_path / "c.odt"
    with zipfile.ZipFile(no_content, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), ODT_MIME)
    assert error_code(no_content) == "malformed_file"


def test_truncated_pdf_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cut.pdf"
    path.write_bytes((PDF / "sample-files_pdflatex-4-pages.pdf").read_bytes()[:2000])
    assert error_code(path) == "malformed_file"


# --- zip bombs --------------------------------------------------------------------------------------------------
def test_zip_bomb_docx_is_too_complex(tmp_path: Path) -> None:
    """300 MB of zeros deflate to ~300 KB; the limits must trip on the directory, before anything is inflated."""
    path = write_docx(tmp_path / "bomb.docx", f"<w:document {W_NS}><w:body/></w:document>")
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("word/media/zeros.bin", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(chunk)
    assert path.stat().st_size < 2 * 1024 * 1024
    with deadline(20):
        assert error_code(path) == "too_complex"
        assert error_code(path, "docx") == "too_complex"


def test_high_ratio_member_is_too_complex(tmp_path: Path) -> None:
    """20 MB at ~1000:1 stays under the 200 MB total but breaks the per-member ratio rule."""
    path = write_odt(tmp_path / "ratio.odt", odt_content("<text:p>x</text:p>"))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Pictures/zeros.bin", bytes(20 * 1024 * 1024))
    assert error_code(path) == "too_complex"


def test_too_many_members_is_too_complex(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "many.docx", f"<w:document {W_NS}><w:body/></w:document>")
    with zipfile.ZipFile(path, "a") as zf:
        for index in range(10_001):
            zf.writestr(f"customXml/item{index}.bin", b"")
    assert error_code(path) == "too_complex"


def test_too_many_pdf_pages_is_too_complex(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(5_001):
        writer.add_blank_page(width=72, height=72)
    path = tmp_path / "pages.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    assert error_code(path) == "too_complex"


# --- XML attacks ------------------------------------------------------------------------------------------------
XXE_PROLOG = '<!DOCTYPE office:document-content [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS_PROLOG = (
    "<!DOCTYPE office:document-content ["
    '<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def test_odt_with_external_entity_is_malformed_and_never_reads_the_file(tmp_path: Path) -> None:
    path = write_odt(tmp_path / "xxe.odt", odt_content("<text:p>Utente: &xxe;</text:p>", XXE_PROLOG))
    assert sniff(path) == "odt"
    with pytest.raises(ExtractionError) as info:
        extract_file(path)
    assert info.value.code == "malformed_file"
    assert "root:" not in str(info.value)
    assert "root:" not in repr(info.value.__cause__)


def test_odt_with_external_entity_in_styles_is_malformed(tmp_path: Path) -> None:
    styles = (
        f'<?xml version="1.0"?>{XXE_PROLOG.replace("office:document-content", "office:document-styles")}'
        f"<office:document-styles {ODF_NS}><text:p>&xxe;</text:p></office:document-styles>"
    )
    path = write_odt(tmp_path / "xxe.odt", odt_content("<text:p>ok</text:p>"), styles_xml=styles)
    assert error_code(path) == "malformed_file"


def test_odt_with_any_entity_declaration_is_malformed(tmp_path: Path) -> None:
    """Policy: entities are never expanded, not even harmless internal ones (stdlib expat would expand this)."""
    prolog = '<!DOCTYPE office:document-content [<!ENTITY ditta "Fiat">]>'
    path = write_odt(tmp_path / "entity.odt", odt_content("<text:p>&ditta;</text:p>", prolog))
    assert error_code(path) == "malformed_file"


def test_corpus_xxe_probe_is_malformed() -> None:
    assert error_code(ODT / "odfpy_nasty.odt") == "malformed_file"


def test_billion_laughs_odt_is_malformed_quickly(tmp_path: Path) -> None:
    path = write_odt(tmp_path / "laughs.odt", odt_content("<text:p>&lol9;</text:p>", LAUGHS_PROLOG))
    started = time.monotonic()
    with deadline(20):
        assert error_code(path) == "malformed_file"
    assert time.monotonic() - started < 5


def test_docx_with_doctype_is_malformed(tmp_path: Path) -> None:
    document = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f"<w:document {W_NS}><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>"
    )
    path = write_docx(tmp_path / "xxe.docx", document)
    with pytest.raises(ExtractionError) as info:
        extract_file(path)
    assert info.value.code == "malformed_file"
    assert "root:" not in str(info.value)


# --- text content -----------------------------------------------------------------------------------------------
def test_italian_udhr() -> None:
    kind, result = extract_file(TEXT / "udhr_ita.txt")
    assert kind == "txt"
    assert result.page_count is None
    assert result.text.startswith("Il 10 dicembre 1948, l'Assemblea Generale delle Nazioni Unite approvò")
    assert "la Dichiarazione Universale dei Diritti Umani" in result.text
    assert "Tutti gli esseri umani nascono liberi ed eguali in dignità e diritti." in result.text


def test_russian_udhr() -> None:
    result = extract_file(TEXT / "udhr_rus.txt")[1]
    assert result.text.startswith("Всеобщая декларация прав человека")
    assert "Все люди рождаются свободными и равными в своем достоинстве и правах." in result.text


def test_cp866_russian_is_decoded() -> None:
    kind, result = extract_file(TEXT / "tika_russian.cp866.txt")
    assert kind == "txt"
    assert result.text.startswith("Однажды, в студеную зимнюю пору,\nЯ из лесу вышел; был сильный мороз.")
    assert detect_language(result.text) == "ru"


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "utf-16"])
def test_legacy_and_utf16_russian_text(tmp_path: Path, encoding: str) -> None:
    original = (TEXT / "udhr_rus.txt").read_text(encoding="utf-8")[:3000]
    path = tmp_path / "ru.txt"
    path.write_bytes(original.encode(encoding))
    kind, result = extract_file(path)
    assert kind == "txt"
    assert result.text == original.strip()


def test_legacy_italian_text(tmp_path: Path) -> None:
    path = tmp_path / "it.txt"
    path.write_bytes("Perché la città è così bella, però più cara.\n".encode("cp1252"))
    assert extract_file(path)[1].text == "Perché la città è così bella, però più cara."


def test_text_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_bytes("\ufeffCitta\u0300 \r\n\r\n\r\n\r\nsecondo   \n\n\n\nterzo\x07\n".encode())
    assert extract_file(path)[1].text == "Città\n\nsecondo\n\nterzo"


def test_max_chars_truncates(tmp_path: Path) -> None:
    assert len(extract(TEXT / "udhr_ita.txt", "txt", max_chars=100).text) == 100
    assert len(extract(PDF / "sample-files_pdflatex-4-pages.pdf", "pdf", max_chars=50).text) == 50


def test_cyrillic_pdf_from_libreoffice() -> None:
    kind, result = extract_file(PDF / "pypdf_multilang_CYRILLIC.pdf")
    assert kind == "pdf"
    assert result.page_count == 1
    assert "Привет, мир" in result.text
    assert "Hello World" in result.text


def test_cyrillic_pdf_with_utf8_cmap_fonts() -> None:
    """KOMPAS-3D/libharu drawing: its fonts use a variable-width UTF-8 CMap, which plain pypdf turns into mojibake."""
    result = extract_file(PDF / "pdfjs_issue20232_CYRILLIC.pdf")[1]
    for word in ("Масса", "Масштаб", "Разраб.", "Пров.", "Лист", "Подп. и", "Копировал"):
        assert word in result.text
    assert "Ñ" not in result.text
    assert detect_language(result.text) == "ru"


def test_multi_page_pdf() -> None:
    result = extract(PDF / "sample-files_pdflatex-4-pages.pdf", "pdf")
    assert result.page_count == 4
    assert result.text.startswith("Hello, here is some text without a meaning.")


@pytest.mark.parametrize(
    "path",
    [
        PDF / "sample-files_grayscale-image_IMAGEONLY.pdf",
        PDF / "tika_testOCR_IMAGEONLY.pdf",
        PDF / "ocrmypdf_c02-22.pdf",
    ],
    ids=lambda path: path.name,
)
def test_image_only_pdf_has_no_text_but_a_page_count(path: Path) -> None:
    assert extract_file(path) == ("pdf", Extracted(text="", page_count=1, encrypted=False))


def test_encrypted_text_pdf_is_read_to_its_last_page() -> None:
    """41 pages, RC4-decrypted (its speed is measured by bench/upload_bench.py, never asserted here)."""
    result = extract(PDF / "tika_testPDF_protected_ENCRYPTED.pdf", "pdf")
    assert result.page_count == 41
    assert result.text.rstrip().endswith("Support rating")


def test_corpus_docx_body_order_tables_headers_and_notes() -> None:
    text = extract_file(DOCX / "tika_testWORD_various.docx")[1].text
    for piece in (
        "This is the header text.",
        "Here is a text box",
        "Bullet 1",
        "Row 1 Col 1\tRow 1 Col 2\tRow 1 Col 3",
        "ゾルゲと尾崎、淡々と最期",
        "This is a footnote.",
        "This is the footer text.",
    ):
        assert piece in text
    assert text.index("This is the header text.") < text.index("Bullet 1") < text.index("This is the footer text.")


def test_corpus_docx_tables_between_paragraphs() -> None:
    text = extract(DOCX / "python-docx_blk-paras-and-tables.docx", "docx").text
    assert text.index("Text before") < text.index("Table") < text.index("Between") < text.index("Text after")


def test_docx_built_with_python_docx(tmp_path: Path) -> None:
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Intestazione — Заголовок"
    section.footer.paragraphs[0].text = "Pagina riservata"
    document.add_heading("Accordo di cooperazione", level=1)
    document.add_paragraph("Le parti convengono quanto segue.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Сторона"
    table.cell(0, 1).text = "Обязательства"
    table.cell(1, 0).text = "Заказчик"
    table.cell(1, 1).text = "оплачивает работы"
    document.add_paragraph("Fatto a Torino, in due originali.")
    path = tmp_path / "accordo.docx"
    document.save(path)

    kind, result = extract_file(path)
    assert kind == "docx"
    assert result.page_count is None
    text = result.text
    assert "Сторона\tОбязательства" in text
    assert "Заказчик\tоплачивает работы" in text
    order = [
        "Intestazione — Заголовок",
        "Accordo di cooperazione",
        "Le parti convengono quanto segue.",
        "Сторона",
        "Fatto a Torino, in due originali.",
        "Pagina riservata",
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert detect_language(text) == "bi"


def test_docx_content_controls_and_tracked_changes(tmp_path: Path) -> None:
    document = (
        f"<w:document {W_NS}><w:body>"
        "<w:sdt><w:sdtContent><w:p><w:r><w:t>Parte contraente: </w:t></w:r>"
        "<w:sdt><w:sdtContent><w:r><w:t>ООО Ромашка</w:t></w:r></w:sdtContent></w:sdt></w:p></w:sdtContent></w:sdt>"
        "<w:p><w:r><w:t>Importo</w:t></w:r><w:r><w:tab/><w:t>100</w:t></w:r>"
        "<w:del><w:r><w:delText>200</w:delText></w:r></w:del><w:ins><w:r><w:t> euro</w:t></w:r></w:ins></w:p>"
        "</w:body></w:document>"
    )
    text = extract_file(write_docx(tmp_path / "sdt.docx", document))[1].text
    assert text == "Parte contraente: ООО Ромашка\nImporto\t100 euro"


def test_odt_inline_elements_headers_and_tables(tmp_path: Path) -> None:
    body = (
        "<text:h>Titolo</text:h>"
        '<text:p>Uno<text:s text:c="3"/>due<text:tab/>tre<text:line-break/>'
        "<text:span>quattro</text:span> <text:a>cinque</text:a>"
        "<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>Nota a piè di pagina"
        "</text:p></text:note-body></text:note></text:p>"
        '<text:p>Spazi<text:s text:c="999999999"/>fine</text:p>'
        "<table:table><table:table-row><table:table-cell><text:p>Москва</text:p></table:table-cell>"
        "<table:table-cell><text:p>Torino</text:p></table:table-cell></table:table-row></table:table>"
        "<text:tracked-changes><text:changed-region><text:deletion><text:p>cancellato</text:p>"
        "</text:deletion></text:changed-region></text:tracked-changes>"
    )
    styles = (
        f'<?xml version="1.0"?><office:document-styles {ODF_NS}><office:master-styles>'
        '<style:master-page style:name="Standard"><style:header><text:p>Intestazione</text:p></style:header>'
        "<style:footer><text:p>Piè di pagina</text:p></style:footer></style:master-page>"
        "</office:master-styles></office:document-styles>"
    )
    path = write_odt(tmp_path / "x.odt", odt_content(body), styles_xml=styles)
    kind, result = extract_file(path)
    assert kind == "odt"
    lines = result.text.split("\n")
    assert lines[0] == "Intestazione"
    assert lines[1] == "Titolo"
    assert lines[2] == "Uno   due\ttre"
    assert lines[3] == "quattro cinque"
    assert lines[4] == "Nota a piè di pagina"
    assert lines[5].startswith("Spazi ") and lines[5].endswith("fine") and len(lines[5]) < 40
    assert lines[6] == "Москва\tTorino"
    assert lines[-1] == "Piè di pagina"
    assert "cancellato" not in result.text


def test_corpus_odt_text_and_footer() -> None:
    text = extract_file(ODT / "tika_testFooter.odt")[1].text
    assert "Here is some text on page 2" in text
    assert text.endswith("Here is footer text")
    assert extract_file(ODT / "odfpy_simpletable.odt")[1].text == "Cell 1\tCell 2\nCell 3 (bold)\tCell 4 (italic)"


# --- language ---------------------------------------------------------------------------------------------------
def test_detect_language_on_pud() -> None:
    italian = (TEXT / "PUD_it.txt").read_text(encoding="utf-8")
    russian = (TEXT / "PUD_ru.txt").read_text(encoding="utf-8")
    assert detect_language(italian) == "it"
    assert detect_language(russian) == "ru"
    assert detect_language(italian[:20_000] + "\n" + russian[:20_000]) == "bi"
    assert detect_language((TEXT / "PUD_it-ru_parallel.tsv").read_text(encoding="utf-8")) == "bi"


def test_detect_language_thresholds() -> None:
    assert detect_language("") is None
    assert detect_language("Ciao, mondo! 12345") is None  # 10 letters
    assert detect_language("Договор о сотрудничестве") == "ru"
    assert detect_language("Договор о сотрудничестве между сторонами (ООО Ромашка, SpA Fiat)") == "ru"
    mix = "Accordo di cooperazione " * 4 + "Договор " * 3
    assert detect_language(mix) == "bi"
    assert detect_language("Accordo di cooperazione " * 10 + "Договор") == "it"


# --- robustness -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        DOCX / "tika_testWORD_various.docx",
        ODT / "odfpy_headerfooter.odt",
        PDF / "sample-files_002-trivial-libre-office-writer.pdf",
        TEXT / "tika_russian.cp866.txt",
    ],
    ids=lambda path: path.suffix,
)
def test_truncated_and_corrupted_files_only_raise_extraction_errors(tmp_path: Path, source: Path) -> None:
    """Whatever the damage, the caller sees a result or an ExtractionError, never a library exception."""
    import random

    data = source.read_bytes()
    rng = random.Random(20240501)
    variants = [data[:cut] for cut in range(1, len(data), max(1, len(data) // 25))]
    for _ in range(25):
        damaged = bytearray(data)
        for _ in range(8):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        variants.append(bytes(damaged))
    path = tmp_path / "damaged"
    with deadline(60):
        for variant in variants:
            path.write_bytes(variant)
            try:
                kind, result = extract_file(path)
            except ExtractionError as error:
                assert error.code in {"unsupported_file_type", "malformed_file", "encrypted_file", "too_complex"}
            else:
                assert kind in SUPPORTED
                assert isinstance(result.text, str)


# No database, search backend or queue here: CI's second pass (PostgreSQL + Redis) does not run these again.
pytestmark = pytest.mark.backend_independent
