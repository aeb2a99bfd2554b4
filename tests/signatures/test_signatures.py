"""Recording signatures: real PAdES signatures made with pyHanko, wet-ink scans, declines, refusals."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from sqlalchemy import func, select

from docmgr.audit.models import AuditEvent
from docmgr.database import utcnow
from docmgr.extensions import db
from docmgr.signatures.models import SignatureSubmission
from tests.conftest import stored_blob_count, table_counts
from tests.signatures.conftest import frozen_pdf, png_scan, render_agreement_pdf, sign_pdf, upload


@pytest.fixture
def out(make_agreement, advance):
    """An agreement out for signature: one Italian and one Russian signatory."""
    return advance(make_agreement(), "out_for_signature")


def _submissions() -> int:
    return db.session.scalar(select(func.count()).select_from(SignatureSubmission))


def test_valid_self_signed_signature_is_recorded_untrusted(app, client, cast, out, identity, token_for):
    it_signatory = out.signatories[0]
    signed = sign_pdf(frozen_pdf(app, out), identity)
    response = upload(client, token_for(cast.legal), out.id, it_signatory.id, signed)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    verification = body["signatory"]["verification"]
    assert body["signatory"]["status"] == "signed" and body["signatory"]["method"] == "digital"
    assert verification["valid"] is True and verification["intact"] is True
    assert verification["matches_frozen_pdf"] is True
    assert verification["trusted"] is False  # self-signed and no trust roots configured
    assert "Mario Rossi" in verification["signer_subject"]
    assert verification["coverage"] == "ENTIRE_FILE" and verification["signing_time"]
    assert body["agreement"]["status"] == "partially_signed"
    assert body["submission"]["is_valid"] is True
    assert app.extensions["docmgr.store"].read(body["signatory"]["signed_file_sha256"]) == signed


def test_signature_is_trusted_when_its_certificate_is_a_configured_root(app, client, cast, out, identity, token_for):
    app.config["SIGNATURE_TRUST_ROOTS"] = [identity.cert_path]
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, sign_pdf(frozen_pdf(app, out), identity))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["signatory"]["verification"]["trusted"] is True


def test_untrusted_signature_refused_when_trust_is_required(app, client, cast, out, identity, token_for):
    app.config["SIGNATURE_REQUIRE_TRUSTED"] = True
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, sign_pdf(frozen_pdf(app, out), identity))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "signature_invalid"
    assert any("trust root" in r for r in response.get_json()["error"]["reasons"])


def _flip_inside_signed_range(signed: bytes, frozen: bytes) -> bytes:
    """Change one byte the signature covers, after the frozen prefix (in the signing revision)."""
    tampered = bytearray(signed)
    position = signed.index(b"/Annots", len(frozen))  # the page's widget list, rewritten by the signer
    tampered[position + 2] ^= 0x01
    return bytes(tampered)


def test_tampered_signature_is_refused_but_kept_on_record(app, client, cast, out, identity, token_for):
    frozen = frozen_pdf(app, out)
    tampered = _flip_inside_signed_range(sign_pdf(frozen, identity), frozen)
    signatory = out.signatories[0]
    submissions, blobs = _submissions(), stored_blob_count(app)
    response = upload(client, token_for(cast.legal), out.id, signatory.id, tampered)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "signature_invalid"
    assert any("integrity" in reason or "altered" in reason for reason in error["reasons"]), error
    # The refused submission was committed: its row, its file and an audit entry.
    db.session.expire_all()
    assert _submissions() == submissions + 1 and stored_blob_count(app) == blobs + 1
    kept = db.session.get(SignatureSubmission, error["submission"]["id"])
    assert kept.is_valid is False and json.loads(kept.verification_json)["intact"] is False
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signature.rejected")).object_id == signatory.id
    # …and it never counts as signed.
    assert signatory.status == "pending" and signatory.signed_file_sha256 is None
    assert out.status == "out_for_signature"


def test_signature_over_a_different_pdf_is_refused(app, client, cast, out, identity, token_for):
    other = render_agreement_pdf(out.title, "A different text that nobody approved.")
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, sign_pdf(other, identity))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "signature_invalid"
    assert error["submission"]["verification"]["matches_frozen_pdf"] is False
    assert error["submission"]["verification"]["intact"] is True  # a sound signature, over the wrong PDF
    assert any("frozen" in r for r in error["reasons"])


def test_content_appended_to_the_frozen_pdf_before_signing_is_refused(app, client, cast, out, identity, token_for):
    """Starting with the frozen bytes is not enough: the signing revision may not change the content."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(frozen_pdf(app, out)))
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=b"0 0 m 500 500 l S")))
    edited = io.BytesIO()
    writer.write(edited)
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, sign_pdf(edited.getvalue(), identity))
    assert response.status_code == 422
    assert response.get_json()["error"]["submission"]["verification"]["matches_frozen_pdf"] is False


def test_sequential_digital_signatures_execute_the_agreement(app, client, cast, out, identity, token_for):
    headers = token_for(cast.legal)
    first = sign_pdf(frozen_pdf(app, out), identity, "Signature1")
    assert upload(client, headers, out.id, out.signatories[0].id, first).status_code == 201
    second = sign_pdf(first, identity, "Signature2")  # the Russian party signs the Italian party's signed copy
    response = upload(client, headers, out.id, out.signatories[1].id, second)
    assert response.status_code == 201, response.get_json()
    agreement = response.get_json()["agreement"]
    assert agreement["status"] == "executed" and agreement["executed_at"]
    assert len(response.get_json()["signatory"]["verification"]["signatures"]) == 2
    document = client.get(f"/api/v1/documents/{agreement['executed_document_id']}", headers=headers).get_json()
    assert document["kind"] == "agreement"
    assert [f["sha256"] for f in document["files"]] == [response.get_json()["signatory"]["signed_file_sha256"]]
    # Both parties' firm users may read the executed copy; an outsider may not.
    for user, status in ((cast.firm_it, 200), (cast.firm_ru, 200), (cast.outsider, 404)):
        assert client.get(f"/api/v1/documents/{document['id']}", headers=token_for(user)).status_code == status


def test_wet_ink_scans_execute_the_agreement(app, client, cast, out, token_for):
    from pypdf import PdfReader

    headers = token_for(cast.legal)
    scan_pdf = render_agreement_pdf("Scan", "Signed page with a handwritten signature.")
    first = upload(client, headers, out.id, out.signatories[0].id, png_scan(), method="wet_ink", name="firma.png")
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["signatory"]["verification"]["method"] == "wet_ink"
    assert first.get_json()["submission"]["content_type"] == "image/png"
    second = upload(client, headers, out.id, out.signatories[1].id, scan_pdf, method="wet_ink", name="scan.pdf",
                    signed_at=(utcnow() - dt.timedelta(minutes=5)).isoformat())
    assert second.status_code == 201, second.get_json()
    agreement = second.get_json()["agreement"]
    assert agreement["status"] == "executed"
    document = client.get(f"/api/v1/documents/{agreement['executed_document_id']}", headers=headers).get_json()
    # The two scans as files of their own (queued for OCR, so the signed pages become searchable),
    # then the merged executed copy as the newest file.
    assert len(document["files"]) == 3
    assert sorted(f["content_type"] for f in document["files"][:2]) == ["application/pdf", "image/png"]
    assert document["files"][-1]["filename"].endswith("-executed-wet-ink.pdf")
    png_scan_file = next(f for f in document["files"] if f["content_type"] == "image/png")
    # Queued for OCR with the execution; unit-test apps run the task right after the commit (Tesseract present).
    from docmgr.documents.ocr import ocr_status

    expected = "ocr_done" if ocr_status(app.config).available else "ocr_pending"
    assert png_scan_file["text_status"] == expected
    content = client.get(f"/api/v1/documents/{document['id']}/files/{document['files'][-1]['id']}/content", headers=headers)
    merged = PdfReader(io.BytesIO(content.data))
    frozen_pages = len(PdfReader(io.BytesIO(frozen_pdf(app, out))).pages)
    assert len(merged.pages) == frozen_pages + 1 + 1  # the frozen PDF, the PNG page, the scanned PDF's page


@pytest.mark.parametrize(
    "data, method, status, code, field",
    [
        (b"plain text, not a signed copy", "wet_ink", 415, "unsupported_file_type", "file"),
        ("PNG", "digital", 415, "unsupported_file_type", "file"),
        (b"", "wet_ink", 422, "empty_file", "file"),
        (b"%PDF-1.7\n garbage", "wet_ink", 422, "malformed_file", "file"),
        ("PNG", "by_fax", 422, "invalid_field", "method"),
        ("PNG", "", 422, "missing_field", "method"),
    ],
)
def test_bad_uploads_change_nothing(app, client, cast, out, token_for, data, method, status, code, field):
    data = png_scan() if data == "PNG" else data
    headers = token_for(cast.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    response = upload(client, headers, out.id, out.signatories[0].id, data, method=method, name="x.bin")
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["field"] == field
    assert table_counts() == before and stored_blob_count(app) == blobs


@pytest.mark.parametrize("when", ["tomorrow", "before", "not a date"])
def test_signed_at_is_checked(app, client, cast, out, token_for, when):
    values = {
        "tomorrow": (utcnow() + dt.timedelta(days=1)).isoformat(),
        "before": (out.sent_for_signature_at - dt.timedelta(days=2)).isoformat(),
        "not a date": "25/11/2026",
    }
    headers = token_for(cast.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    response = upload(client, headers, out.id, out.signatories[0].id, png_scan(), method="wet_ink",
                      signed_at=values[when])
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "signed_at"
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_signatures_only_while_out_for_signature(app, client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "approved")
    response = upload(client, token_for(cast.legal), agreement.id, agreement.signatories[0].id, png_scan(),
                      method="wet_ink")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_out_for_signature"


def test_a_signatory_signs_once(app, client, cast, out, token_for):
    headers = token_for(cast.legal)
    assert upload(client, headers, out.id, out.signatories[0].id, png_scan(), method="wet_ink").status_code == 201
    again = upload(client, headers, out.id, out.signatories[0].id, png_scan(), method="wet_ink")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "signatory_signed"


def test_decline_ends_the_agreement(client, cast, out, token_for):
    headers = token_for(cast.firm_ru)
    url = f"/api/v1/agreements/{out.id}/signatories/{out.signatories[1].id}/decline"
    missing = client.post(url, json={"reason": "  "}, headers=headers)
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "reason"
    response = client.post(url, json={"reason": "The budget changed."}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["signatory"]["status"] == "declined"
    assert response.get_json()["signatory"]["decline_reason"] == "The budget changed."
    assert response.get_json()["agreement"]["status"] == "declined"
    late = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, png_scan(), method="wet_ink")
    assert late.status_code == 409


def test_who_may_record_a_signature(app, client, cast, out, token_for):
    it_signatory, ru_signatory = out.signatories
    scan = png_scan()
    checks = [
        (cast.ministry, it_signatory, 403),
        (cast.firm_it, ru_signatory, 403),  # another party's signatory
        (cast.outsider, it_signatory, 404),
        (cast.firm_it, it_signatory, 202),  # its own organisation's signatory: the scan waits for legal's review
    ]
    for user, signatory, status in checks:
        response = upload(client, token_for(user), out.id, signatory.id, scan, method="wet_ink")
        assert response.status_code == status, (user.role, response.get_json())
    assert upload(client, {}, out.id, ru_signatory.id, scan, method="wet_ink").status_code == 401
    assert upload(client, token_for(cast.legal), out.id, 99999, scan, method="wet_ink").status_code == 404


def test_who_may_decline(client, cast, out, token_for):
    it_signatory, ru_signatory = out.signatories
    for user, signatory, status in ((cast.ministry, it_signatory, 403), (cast.firm_it, ru_signatory, 403),
                                    (cast.outsider, it_signatory, 404)):
        response = client.post(f"/api/v1/agreements/{out.id}/signatories/{signatory.id}/decline",
                               json={"reason": "no"}, headers=token_for(user))
        assert response.status_code == status, (user.role, response.get_json())
    db.session.expire_all()
    assert out.status == "out_for_signature"


def test_signature_state_and_submissions_are_readable_by_parties_only(app, client, cast, out, identity, token_for):
    upload(client, token_for(cast.legal), out.id, out.signatories[0].id, b"%PDF-1.7 nonsense", method="digital")
    for user, status in ((cast.ministry, 200), (cast.firm_ru, 200), (cast.outsider, 404)):
        response = client.get(f"/api/v1/agreements/{out.id}/signatures", headers=token_for(user))
        assert response.status_code == status
    body = client.get(f"/api/v1/agreements/{out.id}/signatures", headers=token_for(cast.firm_it)).get_json()
    submission = body["submissions"][0]
    assert submission["is_valid"] is False
    url = f"/api/v1/agreements/{out.id}/signatories/{out.signatories[0].id}/submissions/{submission['id']}/content"
    assert client.get(url, headers=token_for(cast.firm_it)).data == b"%PDF-1.7 nonsense"
    assert client.get(url, headers=token_for(cast.outsider)).status_code == 404


def test_oversized_scan_is_refused(app, client, cast, out, token_for):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(buffer, "PNG")  # 90 million pixels, a few kilobytes
    headers = token_for(cast.legal)
    before = table_counts()
    response = upload(client, headers, out.id, out.signatories[0].id, buffer.getvalue(), method="wet_ink", name="huge.png")
    assert response.status_code == 422 and "too large" in response.get_json()["error"]["message"]
    assert table_counts() == before
