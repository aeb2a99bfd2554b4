"""The trash (issue 16): soft delete, hidden everywhere, restore, purge by the periodic task, retention, and
what can never be deleted (executed agreements and what they cite)."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from docmgr.audit.models import AuditEvent
from docmgr.database import utcnow
from docmgr.documents import trash
from docmgr.documents.models import Document, DocumentFile
from docmgr.documents.services import seal_document
from docmgr.extensions import db
from docmgr.tasks.models import OutboxTask
from docmgr.tasks.worker import run_due
from tests.conftest import api_upload, csrf_from, table_counts
from tests.security.conftest import mou_fields, png_bytes

TEXT = b"Proposta Quarzorosa per turbine idrauliche nei distretti industriali."


@pytest.fixture
def firm(make_user, make_org):
    return make_user("firm", make_org(name="Alfa Idraulica", country="IT"))


@pytest.fixture
def headers(firm, token_for):
    return token_for(firm)


def _upload(client, headers, text: bytes = TEXT, name: str = "quarzo.txt", **fields) -> dict:
    response = api_upload(client, headers, [(name, text)], **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _found(client, headers, q: str) -> list[int]:
    body = client.get(f"/api/v1/search?q={q}", headers=headers).get_json()
    return [hit["document_id"] for hit in body["hits"]]


def test_trash_hides_everywhere_then_restore_brings_it_back(app, client, firm, headers, make_user, token_for):
    document = _upload(client, headers, sectors="energy")
    doc_id, file_id = document["id"], document["files"][0]["id"]
    legal = token_for(make_user("legal"))
    assert _found(client, legal, "Quarzorosa") == [doc_id]

    response = client.delete(f"/api/v1/documents/{doc_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["deleted_at"] and response.get_json()["restorable_until"]

    # Gone for everybody: the document, its file, lists, search hits and facets, downloads.
    for who in (headers, legal):
        assert client.get(f"/api/v1/documents/{doc_id}", headers=who).status_code == 404
        assert client.get(f"/api/v1/documents/{doc_id}/files/{file_id}/content", headers=who).status_code == 404
        assert doc_id not in [d["id"] for d in client.get("/api/v1/documents", headers=who).get_json()["items"]]
        assert _found(client, who, "Quarzorosa") == []
        facets = client.get("/api/v1/search?q=", headers=who).get_json()["facets"]
        assert "energy" not in facets["sector"]
    # …except the trash of its organisation (and the admins'); not another firm's, not legal staff's who did not delete it.
    assert [d["id"] for d in client.get("/api/v1/trash", headers=headers).get_json()["items"]] == [doc_id]
    assert client.get("/api/v1/trash", headers=token_for(make_user("admin"))).get_json()["total"] == 1
    assert client.get("/api/v1/trash", headers=token_for(make_user("firm"))).get_json()["total"] == 0
    assert client.get("/api/v1/trash", headers=legal).get_json()["total"] == 0
    assert client.get("/api/v1/trash", headers=token_for(make_user("ministry"))).status_code == 403
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=headers).status_code == 404  # already there

    response = client.post(f"/api/v1/documents/{doc_id}/restore", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert client.get(f"/api/v1/documents/{doc_id}", headers=legal).status_code == 200
    assert _found(client, legal, "Quarzorosa") == [doc_id]
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == doc_id,
                                                                 AuditEvent.object_type == "Document")).all()
    assert "document.trashed" in actions and "document.restored" in actions


def test_another_firm_can_neither_delete_nor_restore(client, headers, make_user, token_for):
    doc_id = _upload(client, headers)["id"]
    other = token_for(make_user("firm"))
    before = table_counts()
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=other).status_code == 404
    assert table_counts() == before
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=headers).status_code == 200
    assert client.post(f"/api/v1/documents/{doc_id}/restore", headers=other).status_code == 404
    assert client.post(f"/api/v1/documents/{doc_id}/restore",
                       headers=token_for(make_user("ministry"))).status_code == 403


@pytest.mark.app_config(TRASH_DAYS=30, TRASH_BLOB_GRACE_SECONDS=0)
def test_purge_after_the_trash_period_keeps_blobs_still_referenced(app, client, firm, headers, make_user, token_for):
    store = app.extensions["docmgr.store"]
    shared_text = b"Testo condiviso Ossidiana da due documenti."
    first = _upload(client, headers, shared_text, "a.txt")
    second = _upload(client, headers, shared_text, "b.txt")  # same bytes: same blob
    own = _upload(client, headers, b"Solo mio: Pirite nel primo documento.", "c.txt", grouping="versions")
    shared_sha, own_sha = first["files"][0]["sha256"], own["files"][0]["sha256"]
    for doc in (first, own):
        assert client.delete(f"/api/v1/documents/{doc['id']}", headers=headers).status_code == 200

    assert trash.purge_expired(db.session, now=utcnow() + timedelta(days=29)) == []  # still restorable
    db.session.commit()
    purged = trash.purge_expired(db.session, now=utcnow() + timedelta(days=31))
    db.session.commit()
    run_due(app)
    assert sorted(purged) == sorted([first["id"], own["id"]])
    assert db.session.get(Document, first["id"]) is None and db.session.get(Document, own["id"]) is None
    assert db.session.scalar(select(func.count()).select_from(DocumentFile)
                             .where(DocumentFile.document_id.in_([first["id"], own["id"]]))) == 0
    assert store.exists(shared_sha), "the second document still uses this file"
    assert not store.exists(own_sha), "nothing refers to this file any more"
    assert client.get(f"/api/v1/documents/{second['id']}/files/{second['files'][0]['id']}/content",
                      headers=headers).data == shared_text
    assert client.post(f"/api/v1/documents/{first['id']}/restore", headers=headers).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "document.purged")) == 2


def test_the_purge_runs_as_a_periodic_task_of_the_worker(app, client, headers):
    doc_id = _upload(client, headers)["id"]
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=headers).status_code == 200
    db.session.get(Document, doc_id).deleted_at = utcnow() - timedelta(days=31)  # deleted a month ago
    db.session.commit()
    huey = app.extensions["docmgr.tasks"].huey
    due = [task for task in huey.read_periodic(datetime(2026, 1, 1, 4, 23)) if task.name == "docmgr.trash_purge"]
    assert len(due) == 1, "an hourly periodic task of `docmgr worker`"
    huey.execute(due[0])
    db.session.expire_all()
    assert db.session.get(Document, doc_id) is None


def test_retention_period_refuses_deletion_and_purge_and_says_until_when(app, client, headers, make_user, token_for):
    admin = make_user("admin")
    doc_id = _upload(client, headers, kind="proposal")["id"]
    trashed_id = _upload(client, headers, b"Un altro testo: Malachite.", kind="proposal")["id"]
    assert client.delete(f"/api/v1/documents/{trashed_id}", headers=headers).status_code == 200
    trash.set_retention(db.session, admin, {"proposal": "365", "annex": "0"})
    db.session.commit()

    response = client.delete(f"/api/v1/documents/{doc_id}", headers=headers)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "retention_period" and "365 days" in error["message"]
    # Set after it was deleted: it waits in the trash instead of being purged.
    assert trash.purge_expired(db.session, now=utcnow() + timedelta(days=40)) == []
    trash.set_retention(db.session, admin, {"proposal": "0"})
    db.session.commit()
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=headers).status_code == 200


def test_retention_form_admin_only_all_errors_at_once(app, client, make_user, browser):
    admin_client, csrf = browser(make_user("admin"))
    page = admin_client.get("/documents/retention")
    assert page.status_code == 200
    before = table_counts()
    response = admin_client.post("/documents/retention", data={
        "csrf_token": csrf, "days_proposal": "-3", "days_agreement": "many", "days_annex": "10", "days_other": "0"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="days_proposal-error"' in html and 'id="days_agreement-error"' in html
    assert table_counts() == before
    response = admin_client.post("/documents/retention", data={
        "csrf_token": csrf, "days_proposal": "30", "days_agreement": "0", "days_annex": "10", "days_other": "0"})
    assert response.status_code == 302
    assert trash.retention_days(db.session) == {"proposal": 30, "agreement": 0, "annex": 10, "other": 0}
    firm_client, _ = browser(make_user("firm"))
    assert firm_client.get("/documents/retention").status_code == 403


def test_executed_copy_can_never_be_deleted_or_edited(app, client, firm, headers, make_user):
    doc_id = _upload(client, headers)["id"]
    seal_document(db.session, None, db.session.get(Document, doc_id))
    db.session.commit()
    before = table_counts()
    response = client.delete(f"/api/v1/documents/{doc_id}", headers=headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "document_sealed"
    assert "cannot change" in response.get_json()["error"]["message"]
    assert table_counts() == before
    firm_page = client.get(f"/documents/{doc_id}")  # not logged in in the browser: use the form below
    assert firm_page.status_code == 302


def _executed_agreement_citing(client, token_for, make_user, proposal_id: int, org_it: int, org_ru: int) -> int:
    from docmgr.drafting.services import sync_templates

    sync_templates(db.session)
    db.session.commit()
    legal, legal2 = token_for(make_user("legal")), token_for(make_user("legal"))
    response = client.post("/api/v1/agreements", headers=legal, json={
        "template": "mou", "title": "MoU Quarzo", "organization_ids": [org_it, org_ru], "proposal_ids": [proposal_id],
        "fields": mou_fields(org_it), "signatories": [
            {"name": "Marco Rossi", "title": "Direttore", "organization_id": org_it, "email": "m@example.org"},
            {"name": "Анна Иванова", "title": "Директор", "organization_id": org_ru, "email": "a@example.org"}]})
    assert response.status_code == 201, response.get_json()
    agreement_id = response.get_json()["id"]
    assert client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=legal).status_code == 201
    for to, who in (("in_review", legal), ("approved", legal2), ("out_for_signature", legal)):
        response = client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": to}, headers=who)
        assert response.status_code == 200, response.get_json()
    signatories = client.get(f"/api/v1/agreements/{agreement_id}", headers=legal).get_json()["signatories"]
    for index, signatory in enumerate(signatories):  # each party's own scan (a file is one signatory's copy)
        response = client.post(
            f"/api/v1/agreements/{agreement_id}/signatories/{signatory['id']}/signature", headers=legal,
            data={"method": "wet_ink", "file": (io.BytesIO(png_bytes(300 + index)), "scan.png")},
            content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
    return agreement_id


def test_a_proposal_cited_by_an_executed_agreement_is_never_deleted_or_edited(
    app, client, firm, headers, make_user, make_org, token_for, browser,
):
    doc_id = _upload(client, headers)["id"]
    org_ru = make_org(country="RU")
    _executed_agreement_citing(client, token_for, make_user, doc_id, firm.organization_id, org_ru.id)
    before = table_counts()
    response = client.delete(f"/api/v1/documents/{doc_id}", headers=headers)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "document_in_executed_agreement" and "MoU Quarzo" in error["message"]
    response = client.patch(f"/api/v1/documents/{doc_id}", headers=headers, json={"title_it": "Altro"})
    assert response.status_code == 409
    assert table_counts() == before
    # The page offers neither edit nor delete, and says why.
    firm_client, _ = browser(firm)
    html = firm_client.get(f"/documents/{doc_id}").get_data(as_text=True)
    assert "Move to the trash" not in html and f"/documents/{doc_id}/edit" not in html
    assert "MoU Quarzo" in html and 'data-code="not_removable"' in html


def test_a_proposal_of_a_draft_agreement_must_first_be_removed_from_it(app, client, firm, headers, make_user,
                                                                        make_org, token_for):
    from docmgr.drafting.services import sync_templates

    doc_id = _upload(client, headers)["id"]
    sync_templates(db.session)
    db.session.commit()
    org_ru = make_org(country="RU")
    response = client.post("/api/v1/agreements", headers=token_for(make_user("legal")), json={
        "template": "mou", "title": "MoU in bozza", "organization_ids": [firm.organization_id, org_ru.id],
        "proposal_ids": [doc_id], "fields": mou_fields(firm.organization_id)})
    assert response.status_code == 201, response.get_json()
    response = client.delete(f"/api/v1/documents/{doc_id}", headers=headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "document_in_agreement"
    assert "MoU in bozza" in response.get_json()["error"]["message"]


def test_pages_delete_trash_and_restore(app, firm, browser, make_document):
    document = make_document(firm, title_it="Pagina da cestinare")
    firm_client, csrf = browser(firm)
    html = firm_client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "Move to the trash" in html
    response = firm_client.post(f"/documents/{document.id}/delete", data={"csrf_token": csrf})
    assert response.status_code == 302
    assert firm_client.get(f"/documents/{document.id}").status_code == 404
    assert "Pagina da cestinare" not in firm_client.get("/").get_data(as_text=True)
    trash_html = firm_client.get("/trash").get_data(as_text=True)
    assert "Pagina da cestinare" in trash_html
    response = firm_client.post(f"/trash/{document.id}/restore", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/documents/{document.id}")
    assert firm_client.get(f"/documents/{document.id}").status_code == 200
    assert "The trash is empty." in firm_client.get("/trash").get_data(as_text=True)
    assert csrf_from(trash_html)


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_a_file_stored_again_while_its_document_is_purged_is_kept(app, client, headers, run_queue):
    """The race: an upload of the same bytes stores the blob before its row commits; the purge must not delete it."""
    store = app.extensions["docmgr.store"]
    first = _upload(client, headers, b"Lo stesso file Ambra, caricato due volte.", "ambra.txt")
    sha = first["files"][0]["sha256"]
    assert client.delete(f"/api/v1/documents/{first['id']}", headers=headers).status_code == 200
    run_queue()
    os.utime(store.path(sha), (0, 0))  # stored long ago
    trash.purge_expired(db.session, now=utcnow() + timedelta(days=31))
    db.session.commit()
    store.put_bytes(b"Lo stesso file Ambra, caricato due volte.")  # an upload in flight stores it again: "just used"
    run_queue()
    assert store.exists(sha)
    row = db.session.scalar(select(OutboxTask).where(OutboxTask.task == trash.BLOB_TASK))
    assert row.status != "done", "deferred, to look again once no upload can be in flight"
