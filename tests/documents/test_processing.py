"""The upload's second half: the document page says "processing" while the worker still has queued work for the
document (real queue, real worker pass), and the status endpoint says when it is ready."""

from __future__ import annotations

import pytest

from docmgr.extensions import db
from docmgr.tasks.worker import run_due
from tests.conftest import api_upload, corpus_bytes

pytestmark = pytest.mark.app_config(QUEUE_IMMEDIATE=False, THUMBNAILS_QUEUED=True)


def test_processing_until_the_worker_has_indexed_and_thumbnailed(app, client, make_user, token_for, login):
    firm = make_user("firm")
    headers = token_for(firm)
    response = api_upload(client, headers, [("p.pdf", corpus_bytes("pdf/sample-files_002-trivial-libre-office-writer.pdf"))])
    assert response.status_code == 201
    document_id = response.get_json()["id"]

    status = client.get(f"/api/v1/documents/{document_id}/processing", headers=headers).get_json()
    assert status["state"] == "processing"
    assert set(status["pending"]) == {"search.index", "documents.thumbnail"}
    login(firm)
    page = client.get(f"/documents/{document_id}").get_data(as_text=True)
    assert f'data-processing-url="/api/v1/documents/{document_id}/processing"' in page
    assert "js/processing.js" in page

    db.session.commit()
    run_due(app)  # the worker
    db.session.commit()

    status = client.get(f"/api/v1/documents/{document_id}/processing", headers=headers).get_json()
    assert status == {"document_id": document_id, "state": "ready", "pending": [],
                      "files": [{"id": status["files"][0]["id"], "text_status": "ok", "preview_status": ""}]}
    page = client.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "data-processing-url" not in page  # nothing to poll (the script stays: it carries messages over its reload)


def test_a_scan_is_processing_until_its_text_is_recognised(app, client, make_user, token_for):
    firm = make_user("firm")
    headers = token_for(firm)
    response = api_upload(client, headers, [("scan.pdf", corpus_bytes("pdf/sample-files_grayscale-image_IMAGEONLY.pdf"))])
    assert response.status_code == 201
    status = client.get(f"/api/v1/documents/{response.get_json()['id']}/processing", headers=headers).get_json()
    assert status["state"] == "processing" and "documents.ocr" in status["pending"]


def test_someone_elses_document_is_404(client, make_user, token_for):
    owner, stranger = make_user("firm"), make_user("firm")
    response = api_upload(client, token_for(owner), [("p.txt", b"Proposta di partenariato nel settore energetico.")])
    answer = client.get(f"/api/v1/documents/{response.get_json()['id']}/processing", headers=token_for(stranger))
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "document_not_found"
