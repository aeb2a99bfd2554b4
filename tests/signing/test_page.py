"""The agreement page tells one story: how it is signed (a form for legal while draft or approved),
one table of signatories, decline reasons labelled, refusals in words instead of dead buttons, and each
wet-ink scan shown beside the final draft's signature page."""

from __future__ import annotations

import io

from docmgr.extensions import db
from tests.conftest import csrf_from


def test_legal_sets_how_it_is_signed_on_the_page(cast, make_agreement, login):
    agreement = make_agreement()
    first, second = agreement.signatories
    client = login(cast.legal)
    page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-form="signing-settings"' in page
    assert page.count('data-table="signatories"') == 1  # one table of signatories
    form = {"csrf_token": csrf_from(page), "signing_order": "sequential", f"order-{first.id}": "1",
            f"order-{second.id}": "2", "sign_by": "2099-06-30", "reminder_days": "4",
            "cc": "Avv. Rossi <rossi@studio.example.it>\ncounsel@example.org"}
    answer = client.post(f"/agreements/{agreement.id}/signing", data=form)
    assert answer.status_code == 303
    db.session.expire_all()
    agreement = db.session.get(type(agreement), agreement.id)
    assert agreement.signing_order == "sequential" and agreement.reminder_days == 4
    assert [s.order for s in agreement.signatories] == [1, 2]
    assert agreement.cc == [{"name": "Avv. Rossi", "email": "rossi@studio.example.it"},
                            {"name": "", "email": "counsel@example.org"}]
    page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-signing-order="sequential"' in page and "rossi@studio.example.it" in page

    bad = {**form, "reminder_days": "90", "sign_by": "2001-01-01", "cc": "not an address"}
    answer = client.post(f"/agreements/{agreement.id}/signing", data=bad, follow_redirects=True)
    text = answer.get_data(as_text=True)
    assert "Reminders go out every 1 to 60 days." in text and "already passed" in text
    db.session.expire_all()
    assert db.session.get(type(agreement), agreement.id).reminder_days == 4  # nothing changed
    # The page offers no dead button: what cannot be done yet is said in words.
    assert "disabled" not in text


def test_scans_beside_the_signature_page_and_labelled_declines(cast, make_agreement, advance, login):
    from docmgr.signatures import services
    from tests.signatures.conftest import png_scan

    agreement = make_agreement()
    advance(agreement, "out_for_signature")
    outcome = services.record_signature(db.session, cast.legal, agreement.id, agreement.signatories[0].id,
                                        stream=io.BytesIO(png_scan()), filename="s.png", method="wet_ink")
    db.session.commit()
    services.decline(db.session, cast.legal, agreement.id, agreement.signatories[1].id, "Clausola 4 inaccettabile")
    db.session.commit()
    client = login(cast.legal)
    page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f'data-review="{outcome.submission.id}"' in page
    assert "Reason for declining: Clausola 4 inaccettabile" in page
    base = f"/agreements/{agreement.id}/signatures/{agreement.signatories[0].id}/submissions/{outcome.submission.id}"
    for side in ("review-scan.png", "review-page.png"):
        image = client.get(f"{base}/{side}")
        assert image.status_code == 200 and image.data.startswith(b"\x89PNG"), side
    # (Who may open them: tests/security/test_access_matrix.py, an outsider gets 404.)
