"""Who sees and changes what, on every drafting route (API and pages), tested from each side:
a party's firm reads; another firm gets 404 for everything of it; the ministry reads and gets 403 on
writes; legal staff write."""

from __future__ import annotations

import pytest

from docmgr.extensions import db
from tests.conftest import csrf_from, stored_blob_count, table_counts
from tests.drafting.conftest import mou_payload


@pytest.fixture
def rendered(client, token_for, world, create_mou):
    """An agreement between org_it and org_ru with one rendered draft."""
    agreement = create_mou()
    response = client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=token_for(world.legal))
    assert response.status_code == 201
    return agreement


def api_reads(agreement_id: int) -> list[str]:
    return [
        f"/api/v1/agreements/{agreement_id}",
        f"/api/v1/agreements/{agreement_id}/drafts",
        f"/api/v1/agreements/{agreement_id}/drafts/1.pdf",
        f"/api/v1/agreements/{agreement_id}/drafts/1.docx",
        f"/api/v1/agreements/{agreement_id}/drafts/compare?a=1&b=1",
    ]


def api_writes(agreement_id: int, world) -> list[tuple[str, str, dict | None]]:
    return [
        ("PATCH", f"/api/v1/agreements/{agreement_id}", {"title": "Changed"}),
        ("POST", f"/api/v1/agreements/{agreement_id}/drafts", None),
    ]


def page_reads(agreement_id: int) -> list[str]:
    return [
        f"/agreements/{agreement_id}",
        f"/agreements/{agreement_id}/preview",
        f"/agreements/{agreement_id}/drafts/1.pdf",
        f"/agreements/{agreement_id}/drafts/1.docx",
        f"/agreements/{agreement_id}/drafts/compare?a=1&b=1",
    ]


def _call(client, method, url, headers, body):
    return client.open(url, method=method, headers=headers, json=body if body is not None else None)


@pytest.mark.parametrize("reader", ["firm_it", "firm_ru", "ministry", "legal", "admin"])
def test_parties_staff_and_ministry_read_everything_of_the_agreement(client, token_for, world, rendered, reader):
    headers = token_for(getattr(world, reader))
    for url in api_reads(rendered["id"]):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (reader, url, response.get_json())
    listed = client.get("/api/v1/agreements", headers=headers).get_json()
    assert [a["id"] for a in listed["items"]] == [rendered["id"]]
    assert client.get("/api/v1/templates", headers=headers).status_code == 200


def test_another_firm_gets_404_for_everything_of_it_and_sees_none_in_lists(app, client, token_for, world, rendered):
    headers = token_for(world.firm_other)
    for url in [*api_reads(rendered["id"]), f"/api/v1/agreements/{rendered['id']}/drafts/compare"]:
        response = client.get(url, headers=headers)
        assert response.status_code == 404, url
        assert response.get_json()["error"]["code"] == "agreement_not_found"
    before, blobs = table_counts(), stored_blob_count(app)
    for method, url, body in api_writes(rendered["id"], world):
        response = _call(client, method, url, headers, body)
        assert response.status_code == 404, url
    assert table_counts() == before and stored_blob_count(app) == blobs
    listed = client.get("/api/v1/agreements", headers=headers).get_json()
    assert listed == {"items": [], "total": 0, "page": 1, "per_page": 20}
    # The same answer as for an id that does not exist at all: nothing leaks.
    missing = client.get("/api/v1/agreements/999999", headers=headers)
    assert missing.status_code == 404 and missing.get_json() == client.get(
        f"/api/v1/agreements/{rendered['id']}", headers=headers
    ).get_json()


@pytest.mark.parametrize("writer", ["firm_it", "ministry"])
def test_party_firms_and_the_ministry_cannot_change_anything(app, client, token_for, world, rendered, writer):
    headers = token_for(getattr(world, writer))
    before, blobs = table_counts(), stored_blob_count(app)
    writes = [
        *api_writes(rendered["id"], world),
        ("POST", "/api/v1/agreements", mou_payload(world)),
        ("POST", "/api/v1/templates", {"key": "x1", "name": "X", "body": "<section></section>"}),
        ("POST", "/api/v1/templates/mou/versions", {"name": "Renamed"}),
    ]
    for method, url, body in writes:
        response = _call(client, method, url, headers, body)
        assert response.status_code == 403, (writer, url, response.get_json())
        assert response.get_json()["error"]["code"] == "forbidden_role"
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_pages_follow_the_same_rules(app, client, login, world, rendered):
    agreement_id = rendered["id"]

    login(world.firm_it)
    for url in page_reads(agreement_id):
        assert client.get(url).status_code == 200, url
    assert "MoU meccatronica" in client.get("/agreements").get_data(as_text=True)
    for url in (f"/agreements/{agreement_id}/edit", "/agreements/new", "/templates/new", "/templates/mou/new-version"):
        assert client.get(url).status_code == 403, url
    token = csrf_from(client.get(f"/agreements/{agreement_id}").get_data(as_text=True))
    before, blobs = table_counts(), stored_blob_count(app)
    assert client.post(f"/agreements/{agreement_id}/drafts", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/agreements/{agreement_id}/edit", data={"csrf_token": token, "title": "x"}).status_code == 403
    assert table_counts() == before and stored_blob_count(app) == blobs
    client.post("/logout", data={"csrf_token": token})

    login(world.firm_other)
    before, blobs = table_counts(), stored_blob_count(app)  # logging in writes its own rows
    for url in [*page_reads(agreement_id), f"/agreements/{agreement_id}/edit"]:
        assert client.get(url).status_code == 404, url
    page = client.get("/agreements").get_data(as_text=True)
    assert "MoU meccatronica" not in page
    token = csrf_from(client.get("/agreements").get_data(as_text=True))
    assert client.post(f"/agreements/{agreement_id}/drafts", data={"csrf_token": token}).status_code == 404
    assert table_counts() == before and stored_blob_count(app) == blobs
    client.post("/logout", data={"csrf_token": token})

    login(world.ministry)
    before, blobs = table_counts(), stored_blob_count(app)
    for url in page_reads(agreement_id):
        assert client.get(url).status_code == 200, url
    assert client.get(f"/agreements/{agreement_id}/edit").status_code == 403
    token = csrf_from(client.get("/agreements").get_data(as_text=True))
    assert client.post(f"/agreements/{agreement_id}/drafts", data={"csrf_token": token}).status_code == 403
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_not_logged_in_gets_401_from_the_api_and_the_login_page_otherwise(client, rendered):
    assert client.get(f"/api/v1/agreements/{rendered['id']}").status_code == 401
    assert client.get("/api/v1/agreements").status_code == 401
    response = client.get(f"/agreements/{rendered['id']}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_drafts_of_an_agreement_are_not_reachable_through_another_agreement(client, token_for, world, rendered):
    """Draft N of agreement A is not draft N of agreement B: ids are checked together."""
    other = client.post(
        "/api/v1/agreements", json=mou_payload(world, organization_ids=[world.org_it.id, world.org_other.id],
                                               signatories=[]),
        headers=token_for(world.legal),
    ).get_json()
    headers = token_for(world.firm_other)
    assert client.get(f"/api/v1/agreements/{other['id']}", headers=headers).status_code == 200
    response = client.get(f"/api/v1/agreements/{other['id']}/drafts/1.pdf", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "draft_not_found"
    db.session.rollback()
