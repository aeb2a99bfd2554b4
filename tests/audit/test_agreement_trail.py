"""An agreement's own trail (API, export, page) and who may read it."""

from __future__ import annotations

import json

from tests.signatures.conftest import png_scan, upload


def test_agreement_trail_lists_its_events_in_order(client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "out_for_signature")
    other = make_agreement()
    assert upload(client, token_for(cast.legal), agreement.id, agreement.signatories[0].id, png_scan(),
                  method="wet_ink").status_code == 201
    body = client.get(f"/api/v1/agreements/{agreement.id}/audit", headers=token_for(cast.ministry)).get_json()
    actions = [e["action"] for e in body["items"]]
    assert actions == ["agreement.transition"] * 3 + ["signature.recorded", "agreement.transition"]
    assert body["items"][-1]["data"]["to_status"] == "partially_signed" and body["items"][-1]["data"]["automatic"]
    assert all(e["agreement_id"] == agreement.id and len(e["hash"]) == 64 for e in body["items"])
    assert other.id not in {e["agreement_id"] for e in body["items"]}


def test_agreement_trail_access(client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "in_review")
    trail = f"/api/v1/agreements/{agreement.id}/audit"
    exports = (f"/api/v1/agreements/{agreement.id}/audit/export", f"/api/v1/audit/export?agreement_id={agreement.id}")
    for user, trail_status, export_status in (
        (cast.legal, 200, 200), (cast.ministry, 200, 200), (cast.admin, 200, 200),
        (cast.firm_it, 200, 403), (cast.outsider, 404, 404),
    ):
        headers = token_for(user)
        assert client.get(trail, headers=headers).status_code == trail_status, user.role
        for url in exports:
            assert client.get(url, headers=headers).status_code == export_status, (user.role, url)
    assert client.get("/api/v1/agreements/99999/audit", headers=token_for(cast.legal)).status_code == 404


def test_agreement_export_holds_only_its_events(client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "approved")
    advance(make_agreement(), "in_review")
    response = client.get(f"/api/v1/agreements/{agreement.id}/audit/export", headers=token_for(cast.legal))
    *rows, trailer = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(rows) == 2 and {r["agreement_id"] for r in rows} == {agreement.id}
    assert trailer["audit_head"]["id"] > rows[-1]["id"]  # the whole chain's head, past this agreement's events


def test_audit_page_for_the_ministry(cast, login):
    page = login(cast.ministry).get("/audit")
    assert page.status_code == 200 and 'data-chain="ok"' in page.get_data(as_text=True)


def test_audit_page_refused_to_firms(cast, login):
    assert login(cast.firm_it).get("/audit").status_code == 403
