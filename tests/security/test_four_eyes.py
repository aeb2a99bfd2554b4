"""Four eyes means the approver did not write what they approve (issue 12): whoever changed the fields, the
parties or the signatories, or rendered a draft, since the last approval cannot approve it, whatever their role;
someone who only read it can."""

from __future__ import annotations

import pytest

from docmgr.extensions import db
from tests.security.conftest import error_code, mou_fields, snapshot


@pytest.fixture
def setup(app, make_user, make_org, token_for):
    from docmgr.drafting.services import sync_templates

    sync_templates(db.session)
    db.session.commit()
    org_a, org_b, org_c = make_org(country="IT"), make_org(country="RU"), make_org(country="IT")
    people = {name: token_for(make_user(role)) for name, role in
              (("author", "legal"), ("editor", "legal"), ("reviewer", "legal"), ("other", "legal"), ("admin", "admin"))}
    client = app.test_client()

    def signatories(extra: bool = False) -> list[dict]:
        rows = [{"name": "Mario Rossi", "title": "Direttore", "organization_id": org_a.id},
                {"name": "Иван Петров", "title": "Директор", "organization_id": org_b.id}]
        if extra:
            rows.append({"name": "Luigi Bianchi", "title": "Presidente", "organization_id": org_a.id})
        return rows

    response = client.post("/api/v1/agreements", headers=people["author"], json={
        "template": "mou", "title": "Four eyes", "organization_ids": [org_a.id, org_b.id],
        "fields": mou_fields(org_a.id), "signatories": signatories(),
    })
    assert response.status_code == 201, response.get_json()
    agreement_id = response.get_json()["id"]
    assert client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=people["author"]).status_code == 201

    def call(who: str, method: str, suffix: str = "", **body):
        return getattr(client, method)(f"/api/v1/agreements/{agreement_id}{suffix}", headers=people[who], **body)

    edits = {
        "a field": lambda who: call(who, "patch", json={"fields": {"budget_eur": 2500.0}}),
        "the title": lambda who: call(who, "patch", json={"title": "Four eyes, amended"}),
        "the signatories": lambda who: call(who, "patch", json={"signatories": signatories(extra=True)}),
        "the parties": lambda who: call(who, "patch", json={"organization_ids": [org_a.id, org_b.id, org_c.id],
                                                            "signatories": signatories() + [
                                                                {"name": "Carla Verdi", "title": "CEO",
                                                                 "organization_id": org_c.id}]}),
        "a rendered draft": lambda who: call(who, "post", "/drafts"),
    }
    return call, edits


def _move(call, who: str, to: str):
    return call(who, "post", "/transitions", json={"to": to})


@pytest.mark.parametrize("edit", ["a field", "the title", "the signatories", "the parties", "a rendered draft"])
@pytest.mark.parametrize("editor", ["editor", "admin"])
def test_whoever_changed_it_since_the_last_approval_cannot_approve(app, setup, edit, editor):
    call, edits = setup
    response = edits[edit](editor)
    assert response.status_code in (200, 201), response.get_json()
    if edit != "a rendered draft":
        assert call(editor, "post", "/drafts").status_code == 201
    assert _move(call, editor, "in_review").status_code == 200
    before = snapshot(app)
    response = _move(call, editor, "approved")
    assert response.status_code == 409, response.get_json()
    assert error_code(response) == "four_eyes_required"
    assert "Four-eyes" in response.get_json()["error"]["message"]
    assert snapshot(app) == before
    assert call("reviewer", "get").get_json()["status"] == "in_review"
    assert _move(call, "author", "approved").status_code == 409  # the author, as before
    response = _move(call, "reviewer", "approved")  # someone who only read it
    assert response.status_code == 200, response.get_json()


def test_the_window_starts_again_at_each_approval(setup):
    call, edits = setup
    assert edits["a field"]("editor").status_code == 200
    assert edits["a rendered draft"]("editor").status_code == 201
    assert _move(call, "editor", "in_review").status_code == 200
    assert _move(call, "reviewer", "approved").status_code == 200
    assert _move(call, "author", "draft").status_code == 200  # back for changes
    assert edits["the title"]("other").status_code == 200
    assert edits["a rendered draft"]("other").status_code == 201
    assert _move(call, "other", "in_review").status_code == 200
    response = _move(call, "other", "approved")
    assert response.status_code == 409 and error_code(response) == "four_eyes_required"
    # The editor's changes were approved by someone else already; the reviewer approved, never wrote.
    assert _move(call, "editor", "approved").status_code == 200
