"""The upload page's form (WTForms): every wrong field at once, beside its input, nothing stored."""

from __future__ import annotations

import html as html_lib
import io
import re

from tests.conftest import stored_blob_count, table_counts


def _field_errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="([\w-]+)-error" role="alert">([^<]*)</p>', html)
    return {field: html_lib.unescape(message) for field, message in found}


def test_upload_form_names_every_wrong_field_at_once(app, make_user, browser):
    client, csrf = browser(make_user("legal"))
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post("/documents/new", data={
        "title_it": "Proposta", "kind": "poem", "sectors": ["energy", "space"], "organization_id": "abc",
        "session_id": "1.5", "file": (io.BytesIO(b"Accordo di partenariato tra le parti.\n" * 5), "accordo.txt"),
        "csrf_token": csrf,
    }, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_errors(html) == {
        "kind": "Kind must be one of proposal, agreement, annex, other.",
        "sectors": "Unknown sector 'space'; choose from energy, construction, mechanics, nanotech, biotech, other.",
        "organization_id": "Choose a value from the list.",
        "session_id": "Choose a value from the list.",
    }
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_an_over_long_title_is_refused_at_the_edge(app, make_user, browser):
    """Field lengths are capped before any view runs (security, issue 12): a precise 422, nothing stored."""
    client, csrf = browser(make_user("legal"))
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post("/documents/new", data={
        "title_it": "x" * 501, "kind": "proposal", "csrf_token": csrf,
        "file": (io.BytesIO(b"Accordo di partenariato tra le parti.\n" * 5), "accordo.txt"),
    }, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "title_it" in response.get_data(as_text=True) and "500" in response.get_data(as_text=True)
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_a_title_in_one_language_is_required(make_user, make_org, browser):
    client, csrf = browser(make_user("legal"))
    org = make_org("Mu Srl")
    response = client.post("/documents/new", data={
        "title_it": " ", "title_ru": "", "kind": "proposal", "organization_id": str(org.id), "csrf_token": csrf,
    }, content_type="multipart/form-data")
    assert response.status_code == 422
    assert _field_errors(response.get_data(as_text=True)) == {"title_it": "Give a title in Italian or in Russian (or both)."}


def test_fields_pass_then_the_service_checks_the_files(make_user, make_org, browser):
    client, csrf = browser(make_user("legal"))
    org = make_org("Nu Srl")
    response = client.post("/documents/new", data={
        "title_it": "Proposta", "kind": "proposal", "sectors": ["energy"], "organization_id": str(org.id), "csrf_token": csrf,
    }, content_type="multipart/form-data")
    assert response.status_code == 422
    assert _field_errors(response.get_data(as_text=True)) == {"file": "Attach at least one file."}
    response = client.post("/documents/new", data={
        "title_it": "Proposta", "kind": "proposal", "sectors": ["energy"], "organization_id": str(org.id), "csrf_token": csrf,
        "file": (io.BytesIO(b"Proposta di partenariato industriale tra le imprese.\n" * 5), "proposta.txt"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302


def test_the_upload_script_is_told_where_to_go_and_the_message_waits_there(make_user, browser):
    """The page's script (XMLHttpRequest) gets the address, not a redirect it would follow and so spend the flash
    message naming what was created; a plain form post is still redirected."""
    client, csrf = browser(make_user("firm"))

    def post(headers: dict, names: list[str]):
        files = [(io.BytesIO(f"Proposta di partenariato numero {n} nel settore energetico.".encode()), f"{n}.txt")
                 for n in names]
        return client.post("/documents/new", data={"title_it": "Lotto", "kind": "proposal", "csrf_token": csrf,
                                                    "file": files}, content_type="multipart/form-data", headers=headers)

    response = post({"X-Requested-With": "XMLHttpRequest"}, ["uno", "due", "tre"])
    assert response.status_code == 200 and response.get_json() == {"location": "/"}
    page = client.get("/").get_data(as_text=True)
    message = re.search(r'<p class="flash success" role="status">([^<]*)</p>', page).group(1)
    assert html_lib.unescape(message) == (
        "3 documents were uploaded, one per file: Lotto – uno; Lotto – due; Lotto – tre.")
    assert "flash success" not in client.get("/").get_data(as_text=True)  # shown once

    response = post({"X-Requested-With": "XMLHttpRequest"}, ["solo"])
    location = response.get_json()["location"]
    assert re.fullmatch(r"/documents/\d+", location)
    assert "The document was uploaded." in client.get(location).get_data(as_text=True)

    response = post({}, ["quattro", "cinque"])
    assert response.status_code == 302 and response.headers["Location"] == "/"
