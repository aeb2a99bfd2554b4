"""The agreement's signature page and panel, through the browser forms (CSRF on, no JavaScript)."""

from __future__ import annotations

import io

from docmgr.extensions import db
from tests.conftest import csrf_from
from tests.signatures.conftest import png_scan


def test_panel_offers_the_next_steps_to_legal_staff(cast, make_agreement, login):
    agreement = make_agreement()
    client = login(cast.legal)
    html = client.get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    assert 'name="to" value="in_review"' in html and 'name="to" value="withdrawn"' in html
    assert "Audit trail" in html


def test_transition_and_wet_ink_through_forms(cast, make_agreement, advance, login):
    agreement = advance(make_agreement(), "approved")
    client = login(cast.legal)
    page = client.get(f"/agreements/{agreement.id}/signatures")
    response = client.post(f"/agreements/{agreement.id}/signatures/transition",
                           data={"to": "out_for_signature", "due_at": "2099-01-31",
                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    db.session.expire_all()
    assert agreement.status == "out_for_signature"
    assert agreement.signatories[0].due_at.year == 2099
    page = client.get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    signatory = agreement.signatories[0]
    response = client.post(
        f"/agreements/{agreement.id}/signatures/{signatory.id}/signature",
        data={"method": "wet_ink", "file": (io.BytesIO(png_scan()), "firma.png"), "csrf_token": csrf_from(page)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert signatory.status == "signed" and agreement.status == "partially_signed"


def test_refused_form_shows_the_reason(cast, make_agreement, login):
    agreement = make_agreement(render=False)
    client = login(cast.legal)
    page = client.get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    # No dead button: the page says in words why it cannot be submitted for review yet.
    assert 'id="why-in_review"' in page and "disabled" not in page
    assert "Render a draft first" in page
    response = client.post(f"/agreements/{agreement.id}/signatures/transition",
                           data={"to": "in_review", "csrf_token": csrf_from(page)})
    assert response.status_code == 409
    assert 'data-code="transition_not_allowed"' in response.get_data(as_text=True)


def test_firm_sees_its_agreement_but_no_lifecycle_buttons(cast, make_agreement, login):
    agreement = make_agreement()
    html = login(cast.firm_ru).get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    assert agreement.title in html and 'name="to"' not in html


def test_outsider_gets_404_on_the_pages(cast, make_agreement, login):
    agreement = make_agreement()
    client = login(cast.outsider)
    assert client.get(f"/agreements/{agreement.id}/signatures").status_code == 404
    assert client.get(f"/agreements/{agreement.id}/signatures/certificate.pdf").status_code == 404
    page = client.get("/").get_data(as_text=True)
    token = csrf_from(page) if 'name="csrf_token"' in page else ""
    response = client.post(f"/agreements/{agreement.id}/signatures/transition", data={"to": "in_review", "csrf_token": token})
    assert response.status_code == 404


def test_ministry_reads_the_page_but_cannot_act(cast, make_agreement, login):
    agreement = make_agreement()
    client = login(cast.ministry)
    page = client.get(f"/agreements/{agreement.id}/signatures")
    assert page.status_code == 200 and 'name="to"' not in page.get_data(as_text=True)
    response = client.post(f"/agreements/{agreement.id}/signatures/transition",
                           data={"to": "in_review", "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 403


def test_the_drafting_detail_page_shows_the_panel(cast, make_agreement, login):
    agreement = make_agreement()
    html = login(cast.legal).get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'id="signatures"' in html and 'name="to" value="in_review"' in html


def test_a_due_date_that_is_not_a_date_is_named_and_changes_nothing(cast, make_agreement, advance, login):
    agreement = advance(make_agreement(), "approved")
    client = login(cast.legal)
    page = client.get(f"/agreements/{agreement.id}/signatures")
    response = client.post(f"/agreements/{agreement.id}/signatures/transition",
                           data={"to": "out_for_signature", "due_at": "31/01/2099",
                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-code="invalid_field">Give the due date as a date.</p>' in html  # the panel's summary
    db.session.expire_all()
    assert agreement.status == "approved"
