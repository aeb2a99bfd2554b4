"""The completion certificate, and the whole path through the drafting module's real API."""

from __future__ import annotations

import io

from pypdf import PdfReader

from docmgr.extensions import db
from tests.signatures.conftest import frozen_pdf, png_scan, sign_pdf, upload


def _text(data: bytes) -> str:
    return "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def test_certificate_names_parties_signatories_hashes_and_chain_head(app, client, cast, make_agreement, advance,
                                                                      identity, token_for):
    agreement = advance(make_agreement(), "out_for_signature")
    headers = token_for(cast.legal)
    certificate_url = f"/api/v1/agreements/{agreement.id}/certificate.pdf"
    assert client.get(certificate_url, headers=headers).status_code == 404  # not executed yet
    it_signatory, ru_signatory = agreement.signatories
    assert upload(client, headers, agreement.id, it_signatory.id, png_scan(), method="wet_ink").status_code == 201
    done = upload(client, headers, agreement.id, ru_signatory.id, sign_pdf(frozen_pdf(app, agreement), identity))
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["agreement"]["certificate_url"] == certificate_url

    response = client.get(certificate_url, headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    db.session.expire_all()
    assert app.extensions["docmgr.store"].read(agreement.certificate_sha256) == response.data
    text = _text(response.data)
    squashed = lambda s: "".join(s.split())  # noqa: E731
    for expected in (cast.org_it.name, cast.org_ru.name, it_signatory.name, ru_signatory.name,
                     agreement.frozen_pdf_sha256, it_signatory.signed_file_sha256, ru_signatory.signed_file_sha256,
                     "MarioRossi"):
        assert squashed(expected) in text, expected
    from sqlalchemy import select

    from docmgr.audit.models import AuditEvent

    issued = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "agreement.certificate_issued"))
    import json

    head_hash = json.loads(issued.data)["chain_head_hash"]
    assert head_hash == db.session.get(AuditEvent, issued.id - 1).hash
    assert head_hash in text
    # Parties read it; an outsider does not even learn that it exists.
    assert client.get(certificate_url, headers=token_for(cast.firm_ru)).status_code == 200
    assert client.get(certificate_url, headers=token_for(cast.outsider)).status_code == 404


def test_end_to_end_with_the_drafting_api(app, client, make_org, make_user, token_for, identity):
    """A MoU made and rendered by the drafting module, reviewed, frozen, signed digitally by both parties."""
    from docmgr.drafting.services import sync_templates
    from tests.drafting.conftest import MOU_FIELDS

    sync_templates(db.session)
    db.session.commit()
    org_it, org_ru = make_org(country="IT"), make_org(country="RU")
    author, reviewer = make_user("legal"), make_user("legal")
    headers, reviewer_headers = token_for(author), token_for(reviewer)
    created = client.post("/api/v1/agreements", headers=headers, json={
        "template": "mou", "title": "MoU end to end", "organization_ids": [org_it.id, org_ru.id],
        "fields": dict(MOU_FIELDS, coordinator=org_it.id),
        "signatories": [{"name": "Marco Bianchi", "organization_id": org_it.id},
                        {"name": "Анна Смирнова", "organization_id": org_ru.id}],
    })
    assert created.status_code == 201, created.get_json()
    agreement_id = created.get_json()["id"]
    url = f"/api/v1/agreements/{agreement_id}/transitions"
    early = client.post(url, json={"to": "in_review"}, headers=headers)
    assert early.status_code == 409  # nothing rendered yet
    draft = client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=headers)
    assert draft.status_code == 201, draft.get_json()
    assert client.post(url, json={"to": "in_review"}, headers=headers).status_code == 200
    assert client.post(url, json={"to": "approved"}, headers=headers).get_json()["error"]["code"] == "four_eyes_required"
    assert client.post(url, json={"to": "approved"}, headers=reviewer_headers).status_code == 200
    frozen = client.post(url, json={"to": "out_for_signature"}, headers=headers).get_json()
    assert frozen["frozen_pdf_sha256"] == draft.get_json()["pdf_sha256"]
    assert client.patch(f"/api/v1/agreements/{agreement_id}", json={"title": "Changed"}, headers=headers).status_code == 409

    pdf = client.get(draft.get_json()["pdf_url"], headers=headers).data
    first = sign_pdf(pdf, identity, "Signature1")
    second = sign_pdf(first, identity, "Signature2")
    signatories = frozen["signatories"]
    assert upload(client, headers, agreement_id, signatories[0]["id"], first).status_code == 201
    done = upload(client, headers, agreement_id, signatories[1]["id"], second)
    assert done.status_code == 201, done.get_json()
    detail = client.get(f"/api/v1/agreements/{agreement_id}", headers=headers).get_json()
    assert detail["status"] == "executed" and detail["executed_document_id"] and detail["certificate_sha256"]
    assert all(s["verification"]["valid"] for s in detail["signatories"])
    certificate = client.get(f"/api/v1/agreements/{agreement_id}/certificate.pdf", headers=headers)
    assert "АннаСмирнова" in _text(certificate.data)
