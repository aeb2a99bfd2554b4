"""Who chose a file's language (issue 16, "a French scan labelled bilingual"): detection's label of a scan is
replaced by what OCR's text says, an uploader's choice never is, and the edit form / PATCH make one.

Real Tesseract (ita+rus, as the service runs it), the real worker, SQLite and the Whoosh index."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.documents.models import DocumentFile
from docmgr.extensions import db
from tests.conftest import table_counts
from tests.documents.test_language import french_scan_png
from tests.documents.test_ocr import (
    ITALIAN,
    RUSSIAN,
    file_row,
    image_bytes,
    needs_tesseract,
    run_worker,
    scanned_page,
    scanned_pdf,
    upload,
)

pytestmark = pytest.mark.app_config(QUEUE_IMMEDIATE=False)


def language_events(file_id: int) -> list[dict]:
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "document.language_changed", AuditEvent.object_id == file_id)).all()
    return [json.loads(e.data) for e in events]


def search_ids(client, headers, **query) -> list[int]:
    found = client.get("/api/v1/search", query_string=query, headers=headers)
    assert found.status_code == 200, found.get_data(as_text=True)
    return [hit["document_id"] for hit in found.get_json()["hits"]]


@needs_tesseract
def test_a_french_scan_becomes_french_after_ocr_and_is_reindexed(app, client, headers):
    document = upload(client, headers, "lettre.png", french_scan_png(), title_it="Lettera", title_ru="Письмо")
    [file] = document["files"]
    # No text yet: the title's language is a guess ("bi" with both titles), detection's to correct.
    assert (file["language"], file["language_source"], file["text_status"]) == ("bi", "detected", "ocr_pending")

    assert run_worker(app) == 1

    row = file_row(file["id"])
    assert (row.language, row.language_detected, row.language_source, row.version) == ("fr", "fr", "detected", 1)
    [event] = language_events(file["id"])
    assert event["language"] == ["bi", "fr"] and event["source"] == "detected"
    api = client.get(f"/api/v1/documents/{document['id']}", headers=headers).get_json()
    assert api["languages"] == ["fr"] and api["files"][0]["language"] == "fr"
    assert document["id"] in search_ids(client, headers, language="fr")  # the reindex ran after OCR
    assert document["id"] not in search_ids(client, headers, language="bi")


@needs_tesseract
@pytest.mark.parametrize(("lines", "titles", "guessed", "expected"), [
    (RUSSIAN, {"title_it": "Accordo scansionato"}, "it", "ru"),
    (ITALIAN, {"title_it": "", "title_ru": "Отсканированное соглашение"}, "ru", "it"),
])
def test_italian_and_russian_scans_get_their_language_from_the_text(app, client, headers, lines, titles, guessed,
                                                                    expected):
    document = upload(client, headers, "scan.pdf", scanned_pdf([lines]), **titles)
    [file] = document["files"]
    assert (file["language"], file["language_source"]) == (guessed, "detected")
    assert run_worker(app) == 1
    row = file_row(file["id"])
    assert (row.language, row.language_detected, row.language_source) == (expected, expected, "detected")


@needs_tesseract
def test_the_uploaders_choice_survives_ocr(app, client, headers):
    document = upload(client, headers, "lettre.png", french_scan_png(), title_it="Lettera", language="it")
    [file] = document["files"]
    assert (file["language"], file["language_source"]) == ("it", "uploader")
    assert run_worker(app) == 1
    row = file_row(file["id"])
    assert (row.language, row.language_detected, row.language_source) == ("it", "fr", "uploader")
    assert row.text_status == "ocr_done" and language_events(file["id"]) == []


@needs_tesseract
def test_a_scan_relabelled_in_the_edit_form_keeps_that_language_after_ocr(app, client, headers, firm, browser):
    document = upload(client, headers, "scan.png", image_bytes(scanned_page(RUSSIAN), "PNG"), title_it="Scansione")
    [file] = document["files"]
    web, csrf = browser(firm)
    page = web.get(f"/documents/{document['id']}/edit").get_data(as_text=True)
    assert f'name="language-{file["id"]}"' in page
    response = web.post(f"/documents/{document['id']}/edit", data={
        "csrf_token": csrf, "title_it": "Scansione", f"language-{file['id']}": "bi"})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    row = file_row(file["id"])
    assert (row.language, row.language_source) == ("bi", "uploader")

    assert run_worker(app) == 1
    row = file_row(file["id"])
    assert (row.language, row.language_detected, row.language_source) == ("bi", "ru", "uploader")


# --- relabelling by hand (no OCR needed) -------------------------------------------------------------------------


def test_patch_relabels_files_as_the_uploaders_choice(app, client, headers):
    document = upload(client, headers, "it.txt", b"Proposta di partenariato nel settore energetico italiano.",
                      title_it="Proposta")
    first = document["files"][0]
    assert (first["language"], first["language_source"]) == ("it", "detected")
    added = client.post(f"/api/v1/documents/{document['id']}/files", headers=headers,
                        data={"file": (io.BytesIO(b"Seconda versione della proposta energetica."),
                                       "it2.txt")}, content_type="multipart/form-data")
    assert added.status_code == 201 and added.get_json()["version"] == 2

    # The first file becomes the first English file; the second stays Italian v2.
    response = client.patch(f"/api/v1/documents/{document['id']}", headers=headers,
                            json={"files": [{"id": first["id"], "language": "en"}]})
    assert response.status_code == 200, response.get_json()
    files = {f["id"]: f for f in response.get_json()["files"]}
    assert (files[first["id"]]["language"], files[first["id"]]["version"], files[first["id"]]["language_source"]) == (
        "en", 1, "uploader")
    assert sorted(response.get_json()["languages"]) == ["en", "it"]
    [event] = language_events(first["id"])
    assert event["language"] == ["it", "en"] and event["version"] == [1, 1] and event["source"] == "uploader"

    # Confirming a detected language makes it the uploader's too; naming the same again changes nothing.
    second = added.get_json()["id"]
    for _ in range(2):
        response = client.patch(f"/api/v1/documents/{document['id']}", headers=headers,
                                json={"files": [{"id": second, "language": "it"}]})
        assert response.status_code == 200
    row = file_row(second)
    assert (row.language, row.version, row.language_source) == ("it", 2, "uploader")
    assert len(language_events(second)) == 1


@pytest.mark.parametrize(("files", "message_part"), [
    ([{"id": 999999, "language": "it"}], "999999"),
    ("it", "list"),
    ([{"id": "1", "language": "it"}], "list"),
    ([{"id": 0, "language": "it", "extra": 1}], "list"),
    ([{"language": "zz"}], "list"),
])
def test_patch_refuses_bad_file_languages_and_changes_nothing(app, client, headers, files, message_part):
    document = upload(client, headers, "it.txt", b"Proposta di partenariato nel settore energetico italiano.")
    before = table_counts()
    response = client.patch(f"/api/v1/documents/{document['id']}", headers=headers, json={"files": files})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == "files" and message_part in error["message"]
    assert table_counts() == before


@pytest.mark.parametrize("language", ["zz", "english", "", "IT"])
def test_patch_refuses_unknown_languages(app, client, headers, language):
    document = upload(client, headers, "it.txt", b"Proposta di partenariato nel settore energetico italiano.")
    file_id = document["files"][0]["id"]
    response = client.patch(f"/api/v1/documents/{document['id']}", headers=headers,
                            json={"files": [{"id": file_id, "language": language}], "title_it": "Cambiato"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "files"
    db.session.expire_all()
    row = db.session.get(DocumentFile, file_id)
    assert (row.language, row.language_source, row.document.title_it) == ("it", "detected", "Proposta di prova")


def test_the_edit_form_changes_only_the_languages_changed(app, client, headers, firm, browser):
    document = upload(client, headers, "it.txt", b"Proposta di partenariato nel settore energetico italiano.")
    file_id = document["files"][0]["id"]
    web, csrf = browser(firm)
    # Saving the form with the language as it was leaves it detection's.
    response = web.post(f"/documents/{document['id']}/edit", data={
        "csrf_token": csrf, "title_it": "Nuovo titolo", f"language-{file_id}": "it"})
    assert response.status_code == 302
    assert (file_row(file_id).language_source, language_events(file_id)) == ("detected", [])

    before = table_counts()
    response = web.post(f"/documents/{document['id']}/edit", data={
        "csrf_token": csrf, "title_it": "Altro titolo", f"language-{file_id}": "xx", "language-424242": "it"})
    assert response.status_code == 422
    assert 'id="files-error"' in response.get_data(as_text=True)
    assert table_counts() == before

    response = web.post(f"/documents/{document['id']}/edit", data={
        "csrf_token": csrf, "title_it": "Nuovo titolo", f"language-{file_id}": "ru"})
    assert response.status_code == 302
    row = file_row(file_id)
    assert (row.language, row.language_source) == ("ru", "uploader")
    page = web.get(f"/documents/{document['id']}/edit").get_data(as_text=True)
    assert '<option value="ru" selected>' in page
