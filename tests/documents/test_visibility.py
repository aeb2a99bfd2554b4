"""Nobody sees what is not theirs: every document route tried from the other side."""

from __future__ import annotations

import io

import pytest

from tests.conftest import api_upload, corpus_bytes, multipart, stored_blob_count, table_counts

SECRET_TITLE = "Segreto industriale della Alfa"
SECRET_TITLE_RU = "Промышленная тайна"


@pytest.fixture
def world(make_org, make_user, make_document):
    """Firm A with a document, firm B with its own, plus staff."""
    org_a, org_b = make_org("Alfa Srl"), make_org("Beta Srl")
    firm_a, firm_b = make_user("firm", org_a), make_user("firm", org_b)
    doc_a = make_document(
        firm_a, title_it=SECRET_TITLE, title_ru=SECRET_TITLE_RU,
        files=[("alfa.txt", b"Il nostro segreto: turbine idroelettriche di nuova generazione.", "it")],
    )
    doc_b = make_document(firm_b, title_it="Documento della Beta")
    return {
        "org_a": org_a, "org_b": org_b, "firm_a": firm_a, "firm_b": firm_b, "doc_a": doc_a, "doc_b": doc_b,
        "file_a": doc_a.files[0].id, "file_b": doc_b.files[0].id,
        "legal": make_user("legal"), "ministry": make_user("ministry"), "admin": make_user("admin"),
    }


def _assert_hidden(response) -> None:
    assert response.status_code == 404, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_data(as_text=True)
    assert SECRET_TITLE not in body and SECRET_TITLE_RU not in body and "alfa.txt" not in body


def test_firm_b_cannot_reach_firm_a_through_the_api(app, client, world, token_for):
    headers = token_for(world["firm_b"])
    doc_a, file_a, doc_b, file_b = world["doc_a"].id, world["file_a"], world["doc_b"].id, world["file_b"]
    before, blobs = table_counts(), stored_blob_count(app)

    _assert_hidden(client.get(f"/api/v1/documents/{doc_a}", headers=headers))
    _assert_hidden(client.patch(f"/api/v1/documents/{doc_a}", json={"title_it": "Preso"}, headers=headers))
    _assert_hidden(client.post(
        f"/api/v1/documents/{doc_a}/files", data=multipart([("x.txt", b"Un testo qualsiasi da aggiungere.")]),
        headers=headers, content_type="multipart/form-data",
    ))
    _assert_hidden(client.get(f"/api/v1/documents/{doc_a}/files/{file_a}/content", headers=headers))
    # A's file id under B's own document id
    _assert_hidden(client.get(f"/api/v1/documents/{doc_b}/files/{file_a}/content", headers=headers))
    # and the same answer as for ids that do not exist at all
    missing = client.get("/api/v1/documents/999999", headers=headers)
    assert missing.get_json() == client.get(f"/api/v1/documents/{doc_a}", headers=headers).get_json()

    listing = client.get("/api/v1/documents", headers=headers).get_json()
    assert [item["id"] for item in listing["items"]] == [doc_b] and listing["total"] == 1
    filtered = client.get(f"/api/v1/documents?organization_id={world['org_a'].id}", headers=headers).get_json()
    assert filtered["items"] == [] and filtered["total"] == 0
    assert SECRET_TITLE not in client.get("/api/v1/documents", headers=headers).get_data(as_text=True)
    assert client.get(f"/api/v1/documents/{doc_b}/files/{file_b}/content", headers=headers).status_code == 200

    assert table_counts() == before and stored_blob_count(app) == blobs


def test_firm_b_cannot_reach_firm_a_in_the_browser(app, world, browser):
    b_client, csrf = browser(world["firm_b"])
    doc_a, file_a, doc_b = world["doc_a"].id, world["file_a"], world["doc_b"].id
    before, blobs = table_counts(), stored_blob_count(app)

    _assert_hidden(b_client.get(f"/documents/{doc_a}"))
    _assert_hidden(b_client.get(f"/documents/{doc_a}/files/{file_a}/download"))
    _assert_hidden(b_client.get(f"/documents/{doc_b}/files/{file_a}/download"))
    _assert_hidden(b_client.post(
        f"/documents/{doc_a}/files", data={"file": (io.BytesIO(b"Testo da aggiungere al documento."), "x.txt"),
                                           "csrf_token": csrf},
        content_type="multipart/form-data",
    ))
    index = b_client.get("/").get_data(as_text=True)
    assert SECRET_TITLE not in index and "Documento della Beta" in index
    filtered = b_client.get(f"/?organization_id={world['org_a'].id}").get_data(as_text=True)
    assert SECRET_TITLE not in filtered
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_firm_cannot_upload_for_another_organisation(app, client, world, token_for, browser):
    headers = token_for(world["firm_b"])
    b_client, csrf = browser(world["firm_b"])
    before, blobs = table_counts(), stored_blob_count(app)
    response = api_upload(client, headers, [("x.txt", corpus_bytes("text/udhr_ita.txt"))],
                          organization_id=str(world["org_a"].id))
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "organization_id"
    page = b_client.post(
        "/documents/new",
        data={"title_it": "Per la Alfa", "organization_id": str(world["org_a"].id), "csrf_token": csrf,
              "file": (io.BytesIO(corpus_bytes("text/udhr_ita.txt")), "x.txt")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_firm_uploads_land_in_its_own_organisation(client, world, token_for):
    response = api_upload(client, token_for(world["firm_b"]), [("x.txt", corpus_bytes("text/udhr_ita.txt"))])
    assert response.status_code == 201 and response.get_json()["organization_id"] == world["org_b"].id


@pytest.mark.parametrize("role", ["legal", "ministry", "admin"])
def test_staff_and_ministry_read_everything(client, world, token_for, role):
    headers = token_for(world[role])
    listing = client.get("/api/v1/documents", headers=headers).get_json()
    assert {item["id"] for item in listing["items"]} == {world["doc_a"].id, world["doc_b"].id}
    assert listing["total"] == 2
    assert client.get(f"/api/v1/documents/{world['doc_a'].id}", headers=headers).get_json()["title_it"] == SECRET_TITLE
    content = client.get(f"/api/v1/documents/{world['doc_a'].id}/files/{world['file_a']}/content", headers=headers)
    assert content.status_code == 200


def test_ministry_changes_nothing(app, client, world, token_for, browser):
    headers = token_for(world["ministry"])
    m_client, csrf = browser(world["ministry"])
    doc_a = world["doc_a"].id
    before, blobs = table_counts(), stored_blob_count(app)
    response = api_upload(client, headers, [("x.txt", corpus_bytes("text/udhr_ita.txt"))],
                          organization_id=str(world["org_a"].id))
    assert response.status_code == 403
    assert client.patch(f"/api/v1/documents/{doc_a}", json={"title_it": "Nuovo"}, headers=headers).status_code == 403
    response = client.post(
        f"/api/v1/documents/{doc_a}/files", data=multipart([("x.txt", b"Un altro testo della proposta.")]),
        headers=headers, content_type="multipart/form-data",
    )
    assert response.status_code == 403
    page = m_client.post(
        "/documents/new",
        data={"title_it": "Nuovo", "organization_id": str(world["org_a"].id), "csrf_token": csrf,
              "file": (io.BytesIO(b"Testo della proposta ministeriale."), "x.txt")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 403
    page = m_client.post(
        f"/documents/{doc_a}/files",
        data={"csrf_token": csrf, "file": (io.BytesIO(b"Testo della proposta ministeriale."), "x.txt")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 403
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_legal_changes_any_document(client, world, token_for):
    headers = token_for(world["legal"])
    response = client.patch(f"/api/v1/documents/{world['doc_a'].id}", json={"kind": "annex"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["kind"] == "annex"


def test_a_shared_document_is_readable_but_not_writable_by_the_partner(client, world, token_for):
    from docmgr.documents.services import share_document
    from docmgr.extensions import db

    share_document(db.session, None, world["doc_a"], [world["org_b"].id])
    db.session.commit()
    headers = token_for(world["firm_b"])
    assert client.get(f"/api/v1/documents/{world['doc_a'].id}", headers=headers).status_code == 200
    listing = client.get("/api/v1/documents", headers=headers).get_json()
    assert listing["total"] == 2
    response = client.patch(f"/api/v1/documents/{world['doc_a'].id}", json={"title_it": "Mio"}, headers=headers)
    assert response.status_code == 403


def test_firm_user_without_organisation_sees_nothing(client, world, make_user, token_for):
    from docmgr.accounts.models import User
    from docmgr.extensions import db

    orphan = make_user("firm", world["org_a"])
    db.session.get(User, orphan.id).organization_id = None
    db.session.commit()
    headers = token_for(orphan)
    assert client.get("/api/v1/documents", headers=headers).get_json()["total"] == 0
    assert client.get(f"/api/v1/documents/{world['doc_a'].id}", headers=headers).status_code == 404
