"""The executed copy of a signed agreement is read-only for everybody (issue 12, "Integrity of signed agreements"):
no new file or version, no new title, kind, sectors or session, through the API or the pages, by the owning
firm, the other party, legal staff or an administrator. The agreement, its drafts, signatures and certificate
stay as they were too. Each refusal is a 409 with a reason, and changes nothing."""

from __future__ import annotations

import io

import pytest

from docmgr.drafting.models import Agreement
from docmgr.extensions import db
from tests.conftest import corpus_bytes
from tests.security.conftest import error_code, mou_fields, png_bytes, snapshot

FORGED = "FORGED AMENDMENT: budget EUR 9,999,999"
WRITERS = ("firm_a", "firm_a2", "legal", "legal2", "admin")


def executed_document_id(world) -> int:
    db.session.rollback()
    return db.session.get(Agreement, world.ids["agreement_exec"]).executed_document_id


def state(world, doc_id: int):
    for role in WRITERS:
        world.token(role)  # issued before the snapshot, not counted as a change
    client = world.app.test_client()
    document = client.get(f"/api/v1/documents/{doc_id}", headers=world.token("legal")).get_json()
    agreement = client.get(f"/api/v1/agreements/{world.ids['agreement_exec']}", headers=world.token("legal")).get_json()
    certificate = client.get(f"/api/v1/agreements/{world.ids['agreement_exec']}/certificate.pdf", headers=world.token("legal"))
    return document, agreement, certificate.status_code, certificate.data, snapshot(world.app)


def _pdf_upload(name: str = "agreement-executed-wet-ink.pdf") -> dict:
    forged = corpus_bytes("pdf/sample-files_002-trivial-libre-office-writer.pdf")
    return {"data": {"file": (io.BytesIO(forged), name)}, "content_type": "multipart/form-data"}


ATTEMPTS = {
    "add a same-named file": lambda doc: ("post", f"/api/v1/documents/{doc}/files", _pdf_upload()),
    "add a file in another language": lambda doc: (
        "post", f"/api/v1/documents/{doc}/files",
        {"data": {"language": "ru", "file": (io.BytesIO(FORGED.encode()), "addendum.txt")},
         "content_type": "multipart/form-data"}),
    "change the title": lambda doc: ("patch", f"/api/v1/documents/{doc}", {"json": {"title_it": FORGED}}),
    "change the Russian title": lambda doc: ("patch", f"/api/v1/documents/{doc}", {"json": {"title_ru": FORGED}}),
    "change the kind": lambda doc: ("patch", f"/api/v1/documents/{doc}", {"json": {"kind": "proposal"}}),
    "change the sectors": lambda doc: ("patch", f"/api/v1/documents/{doc}", {"json": {"sectors": ["energy"]}}),
    "clear the session": lambda doc: ("patch", f"/api/v1/documents/{doc}", {"json": {"session_id": None}}),
}


@pytest.mark.parametrize("role", WRITERS)
@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
def test_nobody_changes_the_executed_document_through_the_api(world, role, attempt):
    doc_id = executed_document_id(world)
    before = state(world, doc_id)
    method, path, body = ATTEMPTS[attempt](doc_id)
    response = getattr(world.app.test_client(), method)(path, headers=world.token(role), **body)
    assert response.status_code == 409, (role, attempt, response.status_code, response.get_data(as_text=True)[:300])
    assert error_code(response) == "document_sealed"
    assert "executed" in response.get_json()["error"]["message"]
    assert state(world, doc_id) == before


@pytest.mark.parametrize("role", ("firm_a", "legal", "admin"))
def test_nobody_adds_a_file_to_the_executed_document_from_its_page(world, role):
    doc_id = executed_document_id(world)
    client, csrf = world.browser(role)
    before = state(world, doc_id)
    page = client.get(f"/documents/{doc_id}").get_data(as_text=True)
    assert 'data-code="document_sealed"' in page and "/files\"" not in page  # the page offers no upload form
    body = _pdf_upload()
    body["data"]["csrf_token"] = csrf
    response = client.post(f"/documents/{doc_id}/files", **body)
    assert response.status_code == 409
    assert error_code(response) == "document_sealed"
    assert "executed copy" in response.get_data(as_text=True)
    assert state(world, doc_id) == before


AGREEMENT_ATTEMPTS = {
    "edit the fields": lambda w: ("patch", "", {"json": {"fields": {**mou_fields(w.ids["org_a"]), "budget_eur": 9999999.0}}}),
    "rename it": lambda w: ("patch", "", {"json": {"title": "FORGED"}}),
    "render a new draft": lambda w: ("post", "/drafts", {}),
    "send it back to draft": lambda w: ("post", "/transitions", {"json": {"to": "draft"}}),
    "withdraw it": lambda w: ("post", "/transitions", {"json": {"to": "withdrawn"}}),
    "sign again": lambda w: ("post", f"/signatories/{w.ids['signatory_exec']}/signature",
                             {"data": {"method": "wet_ink", "file": (io.BytesIO(png_bytes()), "scan.png")},
                              "content_type": "multipart/form-data"}),
    "decline after the fact": lambda w: ("post", f"/signatories/{w.ids['signatory_exec']}/decline",
                                         {"json": {"reason": "changed my mind"}}),
}


@pytest.mark.parametrize("role", ("legal", "admin"))
@pytest.mark.parametrize("attempt", sorted(AGREEMENT_ATTEMPTS))
def test_the_executed_agreement_its_signatures_and_certificate_stay_as_they_are(world, role, attempt):
    doc_id = executed_document_id(world)
    before = state(world, doc_id)
    method, suffix, body = AGREEMENT_ATTEMPTS[attempt](world)
    path = f"/api/v1/agreements/{world.ids['agreement_exec']}{suffix}"
    response = getattr(world.app.test_client(), method)(path, headers=world.token(role), **body)
    assert response.status_code == 409, (attempt, response.status_code, response.get_data(as_text=True)[:300])
    assert response.get_json()["error"]["message"]
    assert state(world, doc_id) == before
