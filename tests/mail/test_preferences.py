"""Per-user notification choices: GET|PATCH /api/v1/me/notifications and the account page's form; a
user who switched "signature recorded" off gets no such mail, the others still do."""

from __future__ import annotations

import io

from docmgr.extensions import db
from tests.conftest import csrf_from


def test_choices_through_the_api_and_the_page(client, cast, token_for, login):
    headers = token_for(cast.firm_it)
    assert client.get("/api/v1/me/notifications", headers=headers).get_json() == {
        "signature_recorded": True, "declined": True, "executed": True, "expired": True}
    answer = client.patch("/api/v1/me/notifications", headers=headers, json={"signature_recorded": False})
    assert answer.status_code == 200 and answer.get_json()["signature_recorded"] is False
    for bad in ({"executed": "no"}, {"birthdays": True}):
        refused = client.patch("/api/v1/me/notifications", headers=headers, json=bad)
        assert refused.status_code == 422, bad
    assert client.get("/api/v1/me/notifications", headers=headers).get_json()["executed"] is True

    login(cast.legal)
    page = client.get("/account").get_data(as_text=True)
    assert 'data-form="notifications"' in page and 'value="expired" checked' in page
    saved = client.post("/account/notifications", data={"csrf_token": csrf_from(page), "events": ["executed"]})
    assert saved.status_code == 303
    page = client.get("/account").get_data(as_text=True)
    assert 'value="executed" checked' in page and 'value="expired" checked' not in page
    legal_headers = token_for(cast.legal)
    assert client.get("/api/v1/me/notifications", headers=legal_headers).get_json() == {
        "signature_recorded": False, "declined": False, "executed": True, "expired": False}


def test_an_opted_out_user_gets_no_signature_mail(client, smtp, cast, token_for, make_agreement, advance):
    from docmgr.signatures import services
    from tests.signatures.conftest import png_scan

    firm_it, firm_ru = cast.firm_it, cast.firm_ru
    client.patch("/api/v1/me/notifications", headers=token_for(firm_ru), json={"signature_recorded": False})
    agreement = make_agreement()
    advance(agreement, "out_for_signature")
    smtp.messages.clear()
    services.record_signature(db.session, cast.legal, agreement.id, agreement.signatories[0].id,
                              stream=io.BytesIO(png_scan()), filename="s.png", method="wet_ink")
    db.session.commit()
    got = sorted(m["To"].addresses[0].addr_spec for m in smtp.messages)
    assert got == sorted([cast.legal.email, firm_it.email])
    assert cast.outsider.email not in got
