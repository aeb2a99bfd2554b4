"""A signature revision may add only the signature (issue 12): real PAdES signatures made with pyHanko over the
frozen draft, where the signing tool slipped something else into the same revision (a stamp over page 1, a text
field, a rewritten page content stream, a widget with a JavaScript action, a page action). Each is refused as a
modification (422 signature_invalid, reason given) and nothing reaches the executed copy; plain, visible and
sequential signatures still execute the agreement."""

from __future__ import annotations

import io

import pytest

from docmgr.extensions import db
from tests.conftest import table_counts
from tests.signatures.conftest import advance, cast, frozen_pdf, identity, make_agreement, upload  # noqa: F401

OVERLAY = "BUDGET: EUR 9,999,999 AMENDED"


@pytest.fixture
def out(make_agreement, advance):  # noqa: F811
    return advance(make_agreement(), "out_for_signature")


def _n(name: str):
    from pyhanko.pdf_utils import generic

    return generic.NameObject(name)


def _rect():
    from pyhanko.pdf_utils import generic

    return generic.ArrayObject([generic.FloatObject(x) for x in (40, 600, 560, 800)])


def _attach_annotation(writer, annotation) -> object:
    from pyhanko.pdf_utils import generic

    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    annotation[_n("/P")] = page_ref
    ref = writer.add_object(annotation)
    annots = page["/Annots"] if "/Annots" in page else None
    if annots is None:
        page[_n("/Annots")] = generic.ArrayObject([ref])
    else:
        annots.append(ref)
    writer.update_container(page)
    return ref


def stamp(writer, subtype: str = "/Stamp"):
    from pyhanko.pdf_utils import generic

    _attach_annotation(writer, generic.DictionaryObject({
        _n("/Type"): _n("/Annot"), _n("/Subtype"): _n(subtype), _n("/Rect"): _rect(),
        _n("/Contents"): generic.TextStringObject(OVERLAY), _n("/DA"): generic.TextStringObject("/Helv 24 Tf 1 0 0 rg"),
    }))


def text_field(writer):
    from pyhanko.pdf_utils import generic

    ref = _attach_annotation(writer, generic.DictionaryObject({
        _n("/Type"): _n("/Annot"), _n("/Subtype"): _n("/Widget"), _n("/FT"): _n("/Tx"), _n("/Rect"): _rect(),
        _n("/T"): generic.TextStringObject("budget"), _n("/V"): generic.TextStringObject(OVERLAY),
    }))
    writer.root[_n("/AcroForm")] = generic.DictionaryObject({_n("/Fields"): generic.ArrayObject([ref])})
    writer.update_root()


def rewritten_content(writer):
    """The page's own content stream rewritten in place: same object, same filter, same /Length (digits changed
    until the compressed size matches), so that no dictionary key anywhere differs, only the drawing."""
    import zlib

    from pyhanko.pdf_utils import generic

    page = writer.root["/Pages"]["/Kids"][0].get_object()
    contents = page.raw_get("/Contents")
    ref = contents if isinstance(contents, generic.IndirectObject) else contents[0]
    stream = ref.get_object()
    original, size = stream.data, len(stream.encoded_data)
    for position, byte in enumerate(original):
        if not 0x30 <= byte <= 0x39:
            continue
        for digit in b"9876543210":
            candidate = original[:position] + bytes([digit]) + original[position + 1:]
            if candidate != original and len(zlib.compress(candidate)) == size:
                stream._data, stream._encoded_data = candidate, None
                writer.mark_update(ref)
                return
    raise AssertionError("no same-size rewrite found")


def page_action(writer):
    from pyhanko.pdf_utils import generic

    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[_n("/AA")] = generic.DictionaryObject({_n("/O"): generic.DictionaryObject({
        _n("/S"): _n("/JavaScript"), _n("/JS"): generic.TextStringObject("app.alert('x')")})})
    writer.update_container(page)


def signed(pdf: bytes, who, tamper=None, field_name: str = "Signature1", visible: bool = False,
           widget_action: bool = False) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if tamper is not None:
        tamper(writer)
    if visible or widget_action:
        fields.append_signature_field(writer, fields.SigFieldSpec(sig_field_name=field_name, box=(50, 50, 250, 120),
                                                                  on_page=0))
    if widget_action:
        form = writer.root["/AcroForm"]
        for field_ref in form["/Fields"]:
            field = field_ref.get_object()
            if field.get("/T") == field_name:
                field[_n("/A")] = generic.DictionaryObject({
                    _n("/S"): _n("/JavaScript"), _n("/JS"): generic.TextStringObject("app.alert('x')")})
                writer.update_container(field)
    signer = signers.SimpleSigner.load(who.key_path, who.cert_path)
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=field_name), signer=signer).getvalue()


def new_catalog(writer):
    """A new catalog object (the old one untouched) with an open action, put in the trailer."""
    from pyhanko.pdf_utils import generic

    catalog = generic.DictionaryObject({key: writer.root.raw_get(key) for key in writer.root})
    catalog[_n("/OpenAction")] = generic.DictionaryObject({
        _n("/S"): _n("/JavaScript"), _n("/JS"): generic.TextStringObject("app.alert('x')")})
    writer._root = writer.add_object(catalog)


TAMPERING = {
    "a new catalog with an open action": new_catalog,
    "a stamp annotation over page 1": lambda w: stamp(w, "/Stamp"),
    "a free-text box over page 1": lambda w: stamp(w, "/FreeText"),
    "a filled text field": text_field,
    "the page content rewritten in place": rewritten_content,
    "a page open action": page_action,
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_a_signing_revision_that_adds_anything_else_is_refused(app, client, cast, out, identity, token_for, tampering):  # noqa: F811
    headers = token_for(cast.legal)
    data = signed(frozen_pdf(app, out), identity, TAMPERING[tampering])
    db.session.rollback()
    counts = table_counts()
    response = upload(client, headers, out.id, out.signatories[0].id, data)
    assert response.status_code == 422, (tampering, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "signature_invalid"
    verification = error["submission"]["verification"]
    assert verification["intact"] is True  # the signature itself is sound: only what else was added is refused
    assert verification["matches_frozen_pdf"] is False
    assert any("signing revision" in reason for reason in error["reasons"]), error["reasons"]
    db.session.rollback()
    # Only the record of the refused submission (and its file, kept as evidence) are added.
    assert table_counts()["agreements"] == counts["agreements"] and table_counts()["documents"] == counts["documents"]
    assert client.get(f"/api/v1/agreements/{out.id}", headers=headers).get_json()["status"] == "out_for_signature"


def test_a_widget_with_a_javascript_action_is_refused(app, client, cast, out, identity, token_for):  # noqa: F811
    data = signed(frozen_pdf(app, out), identity, widget_action=True)
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, data)
    assert response.status_code == 422, response.get_json()
    assert any("signature's widget" in r or "not a signature" in r for r in response.get_json()["error"]["reasons"])


def test_the_second_signature_may_add_only_itself_too(app, client, cast, out, identity, token_for):  # noqa: F811
    headers = token_for(cast.legal)
    first = signed(frozen_pdf(app, out), identity)
    assert upload(client, headers, out.id, out.signatories[0].id, first).status_code == 201
    response = upload(client, headers, out.id, out.signatories[1].id,
                      signed(first, identity, TAMPERING["a stamp annotation over page 1"], "Signature2"))
    assert response.status_code == 422, response.get_json()
    assert client.get(f"/api/v1/agreements/{out.id}", headers=headers).get_json()["status"] == "partially_signed"


def test_plain_visible_and_sequential_signatures_still_execute(app, client, cast, out, identity, token_for):  # noqa: F811
    from pypdf import PdfReader

    headers = token_for(cast.legal)
    first = signed(frozen_pdf(app, out), identity, visible=True)
    response = upload(client, headers, out.id, out.signatories[0].id, first)
    assert response.status_code == 201, response.get_json()
    second = signed(first, identity, field_name="Signature2")
    response = upload(client, headers, out.id, out.signatories[1].id, second)
    assert response.status_code == 201, response.get_json()
    agreement = response.get_json()["agreement"]
    assert agreement["status"] == "executed"
    document = client.get(f"/api/v1/documents/{agreement['executed_document_id']}", headers=headers).get_json()
    content = client.get(f"/api/v1/documents/{document['id']}/files/{document['files'][0]['id']}/content",
                         headers=headers).data
    subtypes = [annotation.get_object()["/Subtype"] for page in PdfReader(io.BytesIO(content)).pages
                for annotation in page.get("/Annots") or []]
    assert subtypes == ["/Widget", "/Widget"]
