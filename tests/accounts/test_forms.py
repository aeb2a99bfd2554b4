"""The administration forms (WTForms): every wrong field is named at once, beside its input, with
the service's own message, and nothing is stored."""

from __future__ import annotations

import html as html_lib
import re

from tests.conftest import table_counts


def _field_errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="([\w-]+)-error" role="alert">([^<]*)</p>', html)
    return {field: html_lib.unescape(message) for field, message in found}


def test_new_user_form_names_every_wrong_field_at_once(make_user, browser):
    admin_client, csrf = browser(make_user("admin"))
    before = table_counts()
    response = admin_client.post("/admin/users", data={
        "email": "not-an-address", "password": "short", "role": "emperor", "organization_id": "999999", "csrf_token": csrf,
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_errors(html) == {
        "email": "Give a valid e-mail address.",
        "password": "The password needs at least 8 characters.",
        "role": "Role must be admin, legal, firm or ministry.",
        "org": "No such organisation.",
    }
    assert html.count('class="flash error"') == 4  # the summary lists them all too
    assert 'value="not-an-address"' in html  # what was typed stays in the form
    assert table_counts() == before


def test_new_session_form_names_every_wrong_field_at_once(make_user, browser):
    admin_client, csrf = browser(make_user("admin"))
    before = table_counts()
    response = admin_client.post("/admin/sessions", data={
        "name": " ", "place": "", "country": "FR", "starts_on": "2026-13-01", "ends_on": "", "csrf_token": csrf,
    })
    assert response.status_code == 422
    assert _field_errors(response.get_data(as_text=True)) == {
        "name": "The session needs a name.",
        "place": "The session needs a place.",
        "country": "Country must be IT or RU.",
        "starts_on": "Give a date as YYYY-MM-DD.",
        "ends_on": "Give a date as YYYY-MM-DD.",
    }
    assert table_counts() == before


def test_a_service_refusal_is_shown_beside_its_field(make_user, make_org, browser):
    make_org("Kappa Srl")
    admin_client, csrf = browser(make_user("admin"))
    response = admin_client.post("/admin/organizations", data={
        "name": "kappa srl", "country": "IT", "kind": "firm", "csrf_token": csrf,
    })
    assert response.status_code == 422
    assert _field_errors(response.get_data(as_text=True)) == {"name": "An organisation named 'kappa srl' already exists."}


def test_valid_forms_create(make_user, make_org, browser):
    admin_client, csrf = browser(make_user("admin"))
    org = make_org("Lambda Spa")
    response = admin_client.post("/admin/users", data={
        "email": "New.Person@example.org", "password": "long enough", "role": "firm", "organization_id": str(org.id),
        "name": "New Person", "csrf_token": csrf,
    })
    assert response.status_code == 302
    assert "new.person@example.org" in admin_client.get("/admin/users").get_data(as_text=True)
    response = admin_client.post("/admin/sessions", data={
        "name": "Roma 2027", "place": "Roma", "country": "it", "starts_on": "2027-03-01", "ends_on": "2027-03-02",
        "csrf_token": csrf,
    })
    assert response.status_code == 302
    assert "Roma 2027" in admin_client.get("/admin/sessions").get_data(as_text=True)
