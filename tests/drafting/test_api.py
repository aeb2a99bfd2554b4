"""The drafting JSON API: shapes, validation (nothing stored on refusal), drafts, versions, diffs."""

from __future__ import annotations

import hashlib
import io

import docx
import pytest

from docmgr.drafting.models import Agreement, Template
from docmgr.extensions import db
from tests.conftest import stored_blob_count, table_counts
from tests.drafting.conftest import mou_payload, pdf_text, squash


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = []
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                parts.extend(p.text for p in cell.paragraphs)
    return "\n".join(parts)


def render(client, headers, agreement_id):
    response = client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- templates ---------------------------------------------------------------------------------


def test_templates_list_shows_each_template_with_its_fields(client, token_for, world):
    response = client.get("/api/v1/templates", headers=token_for(world.firm_it))
    assert response.status_code == 200
    items = {t["key"]: t for t in response.get_json()}
    assert set(items) == {"mou", "nda", "framework"}
    mou = items["mou"]
    assert set(mou) >= {"id", "key", "name", "version", "fields"}
    assert mou["version"] == 1
    effective = next(f for f in mou["fields"] if f["name"] == "effective_date")
    assert effective == {"name": "effective_date", "label_it": "Data di entrata in vigore",
                         "label_ru": "Дата вступления в силу", "type": "date", "required": True}
    assert client.get("/api/v1/templates").status_code == 401


# --- creating agreements -------------------------------------------------------------------------


def test_create_agreement_answers_201_with_the_full_shape(client, token_for, world, create_mou):
    agreement = create_mou()
    assert agreement["status"] == "draft"
    assert agreement["template"]["key"] == "mou" and agreement["template"]["version"] == 1
    assert agreement["organization_ids"] == [world.org_it.id, world.org_ru.id]
    assert [p["name"] for p in agreement["parties"]] == [world.org_it.name, world.org_ru.name]
    assert agreement["fields"]["effective_date"] == "2026-11-25"
    assert agreement["drafts"] == [] and agreement["frozen_pdf_sha256"] is None
    assert agreement["executed_document_id"] is None
    first, second = agreement["signatories"]
    assert set(first) >= {"id", "name", "title", "organization_id", "email", "status", "signed_at", "method",
                          "verification", "due_at"}
    assert first["status"] == "pending" and first["verification"] is None and first["due_at"] is None
    assert second["name_alt"] == "Anna Smirnova" and second["due_at"] == "2026-12-31T00:00:00Z"
    again = client.get(f"/api/v1/agreements/{agreement['id']}", headers=token_for(world.firm_ru)).get_json()
    assert again == agreement


def test_how_it_is_signed_can_be_given_when_the_agreement_is_created(client, token_for, world, create_mou):
    payload = mou_payload(world)
    payload["signatories"][0]["order"], payload["signatories"][1]["order"] = 2, 1
    agreement = create_mou(signatories=payload["signatories"], signing_order="sequential", sign_by="2099-06-30",
                           reminder_days=4, cc=[{"name": "Avv. Rossi", "email": "rossi@studio.example.it"}])
    assert agreement["signing_order"] == "sequential" and agreement["reminder_days"] == 4
    assert agreement["sign_by"].startswith("2099-06-30")
    assert agreement["cc"] == [{"name": "Avv. Rossi", "email": "rossi@studio.example.it"}]
    assert [s["order"] for s in agreement["signatories"]] == [2, 1]


def test_bad_signing_settings_at_creation_are_refused_by_field_and_create_nothing(client, token_for, world):
    headers = token_for(world.legal)
    before = table_counts()
    response = client.post("/api/v1/agreements", headers=headers, json=mou_payload(
        world, signing_order="alphabetical", reminder_days=0, cc=[{"name": "X", "email": "not-an-address"}]))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert {"signing_order", "reminder_days"} <= set(error["fields"])
    assert table_counts() == before


def test_missing_required_fields_are_allowed_while_drafting_but_not_when_rendering(
    app, client, token_for, world, create_mou
):
    agreement = create_mou(fields={"subject_it": "solo italiano"})
    headers = token_for(world.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "missing_field" and error["field"] == "fields.subject_ru"
    assert "fields.effective_date" in error["message"] and "fields.duration_years" in error["message"]
    assert table_counts() == before and stored_blob_count(app) == blobs


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"template": "lease"}, 422, "unknown_template", "template"),
        ({"template": None}, 422, "missing_field", "template"),
        ({"organization_ids": "one"}, 422, "invalid_field", "organization_ids"),
        ("one_party", 422, "invalid_field", "organization_ids"),
        ({"organization_ids": [1, 99999]}, 422, "invalid_field", "organization_ids"),
        ({"fields": {"colour": "blue"}}, 422, "unknown_field", "fields.colour"),
        ({"fields": {"effective_date": "25/11/2026"}}, 422, "invalid_field", "fields.effective_date"),
        ({"fields": {"effective_date": "2026-02-30"}}, 422, "invalid_field", "fields.effective_date"),
        ({"fields": {"duration_years": "three"}}, 422, "invalid_field", "fields.duration_years"),
        ({"fields": {"duration_years": True}}, 422, "invalid_field", "fields.duration_years"),
        ({"fields": {"sectors": "energia"}}, 422, "invalid_field", "fields.sectors"),
        ({"fields": {"subject_it": 12}}, 422, "invalid_field", "fields.subject_it"),
        ("coordinator_not_party", 422, "invalid_field", "fields.coordinator"),
        ("signatory_not_party", 422, "invalid_field", "signatories[0].organization_id"),
        ({"signatories": [{"name": "", "organization_id": 1}]}, 422, "missing_field", "signatories[0].name"),
        ({"signatories": [{"name": "X", "organization_id": 1, "role": "boss"}]}, 422, "unknown_field",
         "signatories[0].role"),
        ("bad_due_at", 422, "invalid_field", "signatories[1].due_at"),
        ({"proposal_ids": [424242]}, 422, "invalid_field", "proposal_ids"),
        ({"session_id": 777}, 422, "invalid_field", "session_id"),
        ({"colour": "blue"}, 422, "unknown_field", "colour"),
    ],
)
def test_invalid_agreements_are_refused_by_field_and_store_nothing(
    app, client, token_for, world, change, status, code, field
):
    payload = mou_payload(world)
    if change == "one_party":
        payload["organization_ids"] = [world.org_it.id, world.org_it.id]
    elif change == "coordinator_not_party":
        payload["fields"]["coordinator"] = world.org_other.id
    elif change == "signatory_not_party":
        payload["signatories"][0]["organization_id"] = world.org_other.id
    elif change == "bad_due_at":
        payload["signatories"][1]["due_at"] = "soon"
    else:
        payload.update(change)
    headers = token_for(world.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post("/api/v1/agreements", json=payload, headers=headers)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert field in error["message"]  # the message names the field too
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_malformed_body_is_a_400(client, token_for, world):
    response = client.post("/api/v1/agreements", data="not json", headers=token_for(world.legal),
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_linked_proposals_prefill_subject_sectors_and_session(app, client, token_for, world, make_document):
    from datetime import date

    from docmgr.documents.services import create_task_force_session

    forum = create_task_force_session(db.session, None, name="Torino 2013", place="Torino", country="IT",
                                      starts_on=date(2013, 10, 28), ends_on=date(2013, 10, 29))
    db.session.commit()
    proposal = make_document(
        world.legal, title_it="Linee meccatroniche", title_ru="Мехатронные линии", kind="proposal",
        sectors=["mechanics", "energy"], organization_id=world.org_it.id, session_id=forum.id,
    )
    payload = mou_payload(world, proposal_ids=[proposal.id], fields={"effective_date": "2026-11-25"})
    response = client.post("/api/v1/agreements", json=payload, headers=token_for(world.legal))
    assert response.status_code == 201, response.get_json()
    agreement = response.get_json()
    assert agreement["proposal_ids"] == [proposal.id]
    assert agreement["session_id"] == forum.id
    assert agreement["fields"]["subject_it"] == "Linee meccatroniche"
    assert agreement["fields"]["subject_ru"] == "Мехатронные линии"
    assert agreement["fields"]["sectors"] == ["Energia / Энергетика", "Meccanica e meccatronica / Механика и мехатроника"]


# --- rendering drafts ----------------------------------------------------------------------------


def test_rendered_draft_has_both_languages_parties_in_both_scripts_and_every_signatory(
    client, token_for, world, create_mou
):
    agreement = create_mou()
    headers = token_for(world.legal)
    draft = render(client, headers, agreement["id"])
    assert set(draft) >= {"version", "pdf_url", "docx_url", "pdf_sha256", "docx_sha256"}
    assert draft["version"] == 1
    assert draft["pdf_url"] == f"/api/v1/agreements/{agreement['id']}/drafts/1.pdf"
    assert draft["docx_url"] == f"/api/v1/agreements/{agreement['id']}/drafts/1.docx"

    pdf_response = client.get(draft["pdf_url"], headers=headers)
    assert pdf_response.status_code == 200 and pdf_response.mimetype == "application/pdf"
    assert pdf_response.headers["Content-Disposition"].startswith("attachment")
    assert hashlib.sha256(pdf_response.data).hexdigest() == draft["pdf_sha256"]
    docx_response = client.get(draft["docx_url"], headers=headers)
    assert docx_response.status_code == 200 and docx_response.headers["Content-Disposition"].startswith("attachment")
    assert hashlib.sha256(docx_response.data).hexdigest() == draft["docx_sha256"]

    expected = [
        "Memorandum d'intesa", "Меморандум о", "Articolo 1 – Oggetto", "Статья 1. Предмет",
        "la progettazione di linee di assemblaggio meccatroniche", "проектирование мехатронных сборочных линий",
        "Meccatronica Piemontese S.r.l.", "Мекатроника Пьемонтезе",  # party 1 in both scripts
        "ООО «Сибирские технологии»", "OOO Sibirskie tekhnologii",  # party 2 in both scripts
        "Via Nizza 150, 10126 Torino", "Новосибирск, ул. Ленина 12",
        "Marco Bianchi", "Марко Бьянки", "Анна Смирнова", "Anna Smirnova",  # every signatory, both scripts
        "25 novembre 2026", "25 ноября 2026\u202fг.", "1.234,56", "1\u00a0234,56",
    ]
    texts = {"pdf": squash(pdf_text(pdf_response.data)), "docx": docx_text(docx_response.data)}
    for kind, text in texts.items():
        for phrase in expected:
            assert squash(phrase) in (text if kind == "pdf" else squash(text)), (kind, phrase)
    document = docx.Document(io.BytesIO(docx_response.data))
    styles = {p.style.name for t in document.tables for c in t.rows[0].cells for p in c.paragraphs}
    assert {"Heading 1", "Heading 2", "Normal", "List Bullet"} <= styles

    detail = client.get(f"/api/v1/agreements/{agreement['id']}", headers=headers).get_json()
    assert detail["drafts"][0]["pdf_sha256"] == draft["pdf_sha256"]
    assert detail["latest_draft_version"] == 1


def test_field_values_stay_data_in_pdf_docx_and_preview(app, client, token_for, world, create_mou, login):
    import docmgr.pdf

    calls = []
    original = docmgr.pdf.restricted_url_fetcher

    def recording(url, *args, **kwargs):
        calls.append(url)
        return original(url, *args, **kwargs)

    injected = '{{ 7*7 }} <img src="file:///etc/passwd"> {% raw %}'
    agreement = create_mou(fields={**mou_payload(world)["fields"], "subject_it": injected})
    headers = token_for(world.legal)
    app_fetcher = docmgr.pdf.restricted_url_fetcher
    docmgr.pdf.restricted_url_fetcher = recording
    try:
        draft = render(client, headers, agreement["id"])
    finally:
        docmgr.pdf.restricted_url_fetcher = app_fetcher
    pdf = client.get(draft["pdf_url"], headers=headers).data
    text = squash(pdf_text(pdf))
    assert squash(injected) in text and "oggetto: 49" not in text
    assert "root:x:" not in text and b"root:x:" not in pdf
    assert not any("passwd" in url for url in calls)  # escaped text: nothing even asked to fetch it
    assert injected in docx_text(client.get(draft["docx_url"], headers=headers).data)
    page = login(world.legal).get(f"/agreements/{agreement['id']}/preview")
    html = page.get_data(as_text=True)
    assert '{{ 7*7 }} &lt;img src="file:///etc/passwd"&gt; {% raw %}' in html
    assert '<img src="file:///etc/passwd">' not in html


def test_draft_versions_are_immutable_and_compare_shows_what_changed(app, client, token_for, world, create_mou):
    agreement = create_mou()
    headers = token_for(world.legal)
    first = render(client, headers, agreement["id"])
    first_pdf = client.get(first["pdf_url"], headers=headers).data
    first_docx = client.get(first["docx_url"], headers=headers).data

    patched = client.patch(
        f"/api/v1/agreements/{agreement['id']}",
        json={"fields": {"duration_years": 5, "budget_eur": None}, "title": "MoU v2"}, headers=headers,
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["fields"]["duration_years"] == 5 and "budget_eur" not in patched.get_json()["fields"]
    second = render(client, headers, agreement["id"])
    assert second["version"] == 2 and second["pdf_sha256"] != first["pdf_sha256"]

    assert client.get(first["pdf_url"], headers=headers).data == first_pdf
    assert client.get(first["docx_url"], headers=headers).data == first_docx
    assert hashlib.sha256(first_pdf).hexdigest() == first["pdf_sha256"]
    drafts = client.get(f"/api/v1/agreements/{agreement['id']}", headers=headers).get_json()["drafts"]
    assert [(d["version"], d["pdf_sha256"]) for d in drafts] == [(1, first["pdf_sha256"]), (2, second["pdf_sha256"])]

    response = client.get(f"/api/v1/agreements/{agreement['id']}/drafts/compare?a=1&b=2", headers=headers)
    assert response.status_code == 200
    comparison = response.get_json()
    assert comparison["a"]["version"] == 1 and comparison["b"]["version"] == 2
    changed = {c["heading_it"]: c for c in comparison["clauses"] if c["status"] == "changed"}
    duration = changed["Articolo 11 – Durata, rinnovo e recesso"]
    assert {"op": "delete", "text": "3"} in duration["it"] and {"op": "insert", "text": "5"} in duration["it"]
    assert {"op": "insert", "text": "5"} in duration["ru"]
    assert "Articolo 6 – Aspetti finanziari" in changed  # the budget sentence went away
    assert {"name": "duration_years", "a": 3, "b": 5} in comparison["fields"]
    assert comparison["changed_clauses"] == len(changed)
    missing = client.get(f"/api/v1/agreements/{agreement['id']}/drafts/compare?a=1&b=9", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "draft_not_found"
    no_args = client.get(f"/api/v1/agreements/{agreement['id']}/drafts/compare", headers=headers)
    assert no_args.status_code == 422 and no_args.get_json()["error"]["field"] == "a"


def test_a_template_version_used_by_a_draft_never_changes(app, client, token_for, world, create_mou):
    agreement = create_mou()
    headers = token_for(world.legal)
    render(client, headers, agreement["id"])
    old = db.session.get(Template, agreement["template"]["id"])
    old_state = (old.version, old.body, old.fields, old.source_sha256)

    new_body = old.body.replace("<h1>Memorandum d'intesa</h1>", "<h1>Memorandum d'intesa (rev. 2)</h1>")
    response = client.post("/api/v1/templates/mou/versions", json={"body": new_body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["version"] == 2

    db.session.expire_all()
    old = db.session.get(Template, agreement["template"]["id"])
    assert (old.version, old.body, old.fields, old.source_sha256) == old_state
    # The existing agreement stays pinned to v1 and keeps rendering it; new agreements get v2.
    second = render(client, headers, agreement["id"])
    assert "(rev. 2)" not in pdf_text(client.get(second["pdf_url"], headers=headers).data)
    assert client.get(f"/api/v1/agreements/{agreement['id']}", headers=headers).get_json()["template"]["version"] == 1
    newer = client.post("/api/v1/agreements", json=mou_payload(world), headers=headers).get_json()
    assert newer["template"]["version"] == 2
    listed = {t["key"]: t["version"] for t in client.get("/api/v1/templates", headers=headers).get_json()}
    assert listed["mou"] == 2
    versions = client.get("/api/v1/templates?all=1&key=mou", headers=headers).get_json()
    assert sorted(t["version"] for t in versions) == [1, 2]


def test_only_drafts_can_be_edited_or_rendered(app, client, token_for, world, create_mou):
    agreement = create_mou()
    headers = token_for(world.legal)
    row = db.session.get(Agreement, agreement["id"])
    row.status = "in_review"
    db.session.commit()
    before, blobs = table_counts(), stored_blob_count(app)
    for response in (
        client.patch(f"/api/v1/agreements/{agreement['id']}", json={"title": "Changed"}, headers=headers),
        client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=headers),
    ):
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "not_editable"
    assert table_counts() == before and stored_blob_count(app) == blobs
    db.session.expire_all()
    assert db.session.get(Agreement, agreement["id"]).title == agreement["title"]


def test_patch_validates_and_keeps_signatory_ids(app, client, token_for, world, create_mou):
    agreement = create_mou()
    headers = token_for(world.legal)
    url = f"/api/v1/agreements/{agreement['id']}"
    first, second = agreement["signatories"]
    response = client.patch(url, json={"signatories": [
        {"id": first["id"], "name": "Marco Bianchi", "title": "Presidente", "organization_id": world.org_it.id},
        {"name": "Олег Орлов", "name_alt": "Oleg Orlov", "organization_id": world.org_ru.id},
    ]}, headers=headers)
    assert response.status_code == 200, response.get_json()
    signatories = response.get_json()["signatories"]
    assert signatories[0]["id"] == first["id"] and signatories[0]["title"] == "Presidente"
    assert second["id"] not in [s["id"] for s in signatories] and signatories[1]["name"] == "Олег Орлов"

    before = table_counts()
    for payload, field in (
        ({"organization_ids": [world.org_it.id, world.org_other.id]}, "signatories[1].organization_id"),
        ({"fields": {"nope": 1}}, "fields.nope"),
        ({"template": "nda"}, "template"),
        ({"title": ""}, "title"),
    ):
        response = client.patch(url, json=payload, headers=headers)
        assert response.status_code == 422, payload
        assert response.get_json()["error"]["field"] == field
    assert table_counts() == before
    moved = client.patch(url, json={
        "organization_ids": [world.org_it.id, world.org_other.id],
        "signatories": [{"name": "Laura Verdi", "organization_id": world.org_other.id}],
    }, headers=headers)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["organization_ids"] == [world.org_it.id, world.org_other.id]


def test_list_filters_by_status_and_session(client, token_for, world, create_mou):
    first = create_mou()
    create_mou(title="Second")
    row = db.session.get(Agreement, first["id"])
    row.status = "approved"
    db.session.commit()
    headers = token_for(world.legal)
    listed = client.get("/api/v1/agreements", headers=headers).get_json()
    assert listed["total"] == 2 and {"items", "total", "page"} <= set(listed)
    approved = client.get("/api/v1/agreements?status=approved", headers=headers).get_json()
    assert [a["id"] for a in approved["items"]] == [first["id"]]
    assert client.get("/api/v1/agreements?session_id=5", headers=headers).get_json()["total"] == 0
    bad = client.get("/api/v1/agreements?status=signed-ish", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "status"


# --- templates written by legal staff -------------------------------------------------------------

GOOD_BODY = (
    '<section>\n<div lang="it"><h2>Art. 1</h2><p>{{ it.when }}</p></div>\n'
    '<div lang="ru"><h2>Ст. 1</h2><p>{{ ru.when }}</p></div>\n</section>\n'
)
GOOD_FIELDS = [{"name": "when", "label_it": "Quando", "label_ru": "Когда", "type": "date", "required": True}]


def test_legal_creates_a_template_and_versions_of_it(client, token_for, world):
    headers = token_for(world.legal)
    response = client.post("/api/v1/templates", json={
        "key": "letter", "name": "Lettera", "name_ru": "Письмо", "fields": GOOD_FIELDS, "body": GOOD_BODY,
    }, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["version"] == 1 and response.get_json()["fields"][0]["type"] == "date"
    again = client.post("/api/v1/templates", json={"key": "letter", "name": "x", "body": GOOD_BODY}, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "template_exists"
    version = client.post("/api/v1/templates/letter/versions", json={"name": "Lettera 2"}, headers=headers)
    assert version.status_code == 201 and version.get_json()["version"] == 2
    assert client.get("/api/v1/templates/letter/versions/1", headers=headers).get_json()["name"] == "Lettera"
    assert client.get("/api/v1/templates/letter", headers=headers).get_json()["name"] == "Lettera 2"
    assert client.post("/api/v1/templates/nothere/versions", json={"name": "x"}, headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ('<section>\n<div lang="it">{{ \'\'.__class__.__mro__ }}</div><div lang="ru">x</div></section>', 2),
        ('<section>\n<div lang="it">x</div>\n<div lang="ru">{{ cycler.__init__.__globals__ }}</div></section>', 3),
        ('<section>\n\n\n<div lang="it">{% for x in %}</div><div lang="ru">x</div></section>', 4),
        ('<section>\n<div lang="it">{{ it.whenn }}</div><div lang="ru">x</div></section>', 2),
    ],
)
def test_unsafe_or_broken_templates_get_template_error_with_line_and_store_nothing(
    app, client, token_for, world, body, line
):
    headers = token_for(world.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    for url, payload in (
        ("/api/v1/templates", {"key": "evil", "name": "Evil", "fields": GOOD_FIELDS, "body": body}),
        ("/api/v1/templates/mou/versions", {"body": body, "fields": GOOD_FIELDS}),
    ):
        response = client.post(url, json=payload, headers=headers)
        assert response.status_code == 422, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "template_error" and error["field"] == "body"
        assert error["line"] == line and f"Line {line}" in error["message"]
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_bad_field_declarations_are_refused_by_path(client, token_for, world):
    response = client.post("/api/v1/templates", json={
        "key": "bad", "name": "Bad", "body": GOOD_BODY, "fields": [{"name": "when", "type": "datetime"}],
    }, headers=token_for(world.legal))
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "fields[0].type"


def test_a_template_that_fails_at_render_time_reports_its_line(app, client, token_for, world):
    """A version that validated with sample values can still fail on real data (e.g. arithmetic on a
    value); rendering answers template_error with the line, and stores nothing."""
    headers = token_for(world.legal)
    body = ('<section>\n<div lang="it"><p>{{ it.when }}</p></div>\n<div lang="ru">\n'
            '<p>{{ 100 // (fields.n - 3) }}</p></div>\n</section>\n')
    fields = [*GOOD_FIELDS, {"name": "n", "label_it": "N", "label_ru": "N", "type": "number", "required": True}]
    created = client.post("/api/v1/templates", json={"key": "fragile", "name": "Fragile", "fields": fields,
                                                     "body": body}, headers=headers)
    assert created.status_code == 201, created.get_json()
    agreement = client.post("/api/v1/agreements", json={
        "template": "fragile", "organization_ids": [world.org_it.id, world.org_ru.id],
        "fields": {"when": "2026-01-01", "n": 3},
        "signatories": [{"name": "Marco Bianchi", "organization_id": world.org_it.id}],
    }, headers=headers).get_json()
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "template_error" and error["line"] == 4 and "ZeroDivisionError" in error["message"]
    assert table_counts() == before and stored_blob_count(app) == blobs


def test_every_change_is_audited_with_its_agreement(client, token_for, world, create_mou):
    from sqlalchemy import select

    from docmgr.audit.models import AuditEvent
    from docmgr.audit.services import verify_chain

    agreement = create_mou()
    headers = token_for(world.legal)
    client.patch(f"/api/v1/agreements/{agreement['id']}", json={"fields": {"duration_years": 4}}, headers=headers)
    client.patch(f"/api/v1/agreements/{agreement['id']}", json={"fields": {"duration_years": 4}}, headers=headers)
    render(client, headers, agreement["id"])
    events = list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.agreement_id == agreement["id"]).order_by(AuditEvent.id)
    ))
    assert [e.action for e in events] == ["agreement.created", "agreement.updated", "agreement.draft_rendered"]
    assert all(e.actor_id == world.legal.id for e in events)
    assert '"changed":["fields"]' in events[1].data
    assert verify_chain(db.session).ok
