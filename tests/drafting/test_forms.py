"""The drafting pages' forms (WTForms): malformed values are named beside their fields, all at once,
and nothing is stored."""

from __future__ import annotations

import html as html_lib
import re

from tests.conftest import csrf_from, table_counts


def _field_errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="([\w.\[\]-]+)-error" role="alert">([^<]*)</p>', html)
    return {field: html_lib.unescape(message) for field, message in found}


def test_new_agreement_form_names_every_malformed_list_at_once(client, login, world):
    login(world.legal)
    token = csrf_from(client.get("/agreements/new").get_data(as_text=True))
    before = table_counts()
    response = client.post("/agreements/new", data={
        "csrf_token": token, "template": "mou", "organization_ids": [str(world.org_it.id), "x"],
        "proposal_ids": ["1e3"], "session_id": "-",
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_errors(html) == {
        "organization_ids": "Choose a value from the list.", "proposal_ids": "Choose a value from the list.",
        "session_id": "Choose a value from the list.",
    }
    assert html.count('class="flash error"') == 3
    assert 'class="field invalid"><legend>' in html
    assert table_counts() == before


def test_template_form_names_a_json_syntax_error_by_line(client, login, world):
    login(world.legal)
    token = csrf_from(client.get("/templates/new").get_data(as_text=True))
    before = table_counts()
    response = client.post("/templates/new", data={
        "csrf_token": token, "key": "broken", "name": "Rotto", "fields": '[\n{"name": "a",\n}', "body": "x",
    })
    html = html_lib.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "The field list is not valid JSON (line 3)" in html
    assert table_counts() == before


def test_edit_form_names_every_wrong_template_field_at_once(client, login, world):
    login(world.legal)
    token = csrf_from(client.get("/agreements/new").get_data(as_text=True))
    created = client.post("/agreements/new", data={
        "csrf_token": token, "template": "mou", "title": "MoU dei moduli",
        "organization_ids": [str(world.org_it.id), str(world.org_ru.id)],
    })
    edit_url = created.headers["Location"]
    before = table_counts()
    response = client.post(edit_url, data={
        "csrf_token": token, "title": "MoU dei moduli", "organization_ids": [str(world.org_it.id), str(world.org_ru.id)],
        "field_effective_date": "25/11/2026", "field_duration_years": "tre", "field_budget_eur": "1.234,56",
        "field_coordinator": "x",
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_errors(html) == {
        "fields.effective_date": "'fields.effective_date' must be a date as YYYY-MM-DD.",
        "fields.duration_years": "'fields.duration_years' must be a number.",
        "fields.coordinator": "Choose a value from the list.",
    }
    assert 'value="1.234,56"' in html and 'value="tre"' in html  # what was typed is kept
    assert table_counts() == before
