"""The drafting pages, driven like a person would: forms with CSRF, no JavaScript."""

from __future__ import annotations

import json
import shutil

from sqlalchemy import func, select

from docmgr.drafting.models import Agreement, Draft, Template
from docmgr.drafting.services import read_template_files, sync_templates
from docmgr.extensions import db
from tests.conftest import csrf_from, stored_blob_count, table_counts
from tests.drafting.conftest import MOU_FIELDS


def test_legal_drafts_an_agreement_through_the_pages(app, client, login, world):
    login(world.legal)
    page = client.get("/agreements/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="organization_ids"' in html and "Memorandum d&#39;intesa" in html
    token = csrf_from(html)

    refused = client.post("/agreements/new", data={
        "csrf_token": token, "template": "mou", "organization_ids": [str(world.org_it.id)],
    })
    assert refused.status_code == 422
    assert "at least two different parties" in refused.get_data(as_text=True)

    created = client.post("/agreements/new", data={
        "csrf_token": token, "template": "mou", "title": "MoU dalle pagine",
        "organization_ids": [str(world.org_it.id), str(world.org_ru.id)],
    })
    assert created.status_code == 302
    agreement = db.session.scalar(select(Agreement).where(Agreement.title == "MoU dalle pagine"))
    edit_url = f"/agreements/{agreement.id}/edit"
    assert created.headers["Location"].endswith(edit_url)

    form_page = client.get(edit_url).get_data(as_text=True)
    for spec_name in ("subject_it", "effective_date", "duration_years", "coordinator", "sectors"):
        assert f'name="field_{spec_name}"' in form_page
    assert 'type="date"' in form_page

    form = {
        "csrf_token": token, "title": "MoU dalle pagine",
        "organization_ids": [str(world.org_it.id), str(world.org_ru.id)],
        "field_subject_it": MOU_FIELDS["subject_it"], "field_subject_ru": MOU_FIELDS["subject_ru"],
        "field_sectors": "Meccanica / Механика\nEnergia / Энергетика", "field_effective_date": "2026-11-25",
        "field_duration_years": "abc", "field_budget_eur": "1.234,56", "field_coordinator": str(world.org_it.id),
        "sig-0-name": "Marco Bianchi", "sig-0-name_alt": "Марко Бьянки", "sig-0-title": "Amministratore",
        "sig-0-organization_id": str(world.org_it.id), "sig-0-email": "marco@example.org",
        "sig-1-name": "Анна Смирнова", "sig-1-name_alt": "Anna Smirnova", "sig-1-organization_id": str(world.org_ru.id),
        "then": "preview",
    }
    before = table_counts()
    bad = client.post(edit_url, data=form)
    assert bad.status_code == 422
    bad_html = bad.get_data(as_text=True)
    assert "&#39;fields.duration_years&#39; must be a number" in bad_html
    assert 'value="1.234,56"' in bad_html  # what was typed is kept
    assert table_counts() == before

    form["field_duration_years"] = "3"
    saved = client.post(edit_url, data=form)
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/agreements/{agreement.id}/preview")
    db.session.expire_all()
    agreement = db.session.get(Agreement, agreement.id)
    stored = agreement.fields
    assert stored["budget_eur"] == 1234.56 and stored["duration_years"] == 3
    assert stored["sectors"] == ["Meccanica / Механика", "Energia / Энергетика"]
    assert [s.name for s in agreement.signatories] == ["Marco Bianchi", "Анна Смирнова"]

    preview = client.get(f"/agreements/{agreement.id}/preview").get_data(as_text=True)
    assert "Articolo 1 – Oggetto" in preview and "Статья 1. Предмет" in preview
    assert "25 novembre 2026" in preview and "1.234,56" in preview
    assert '<table class="parallel kind-clause"><tr><td lang="it">' in preview
    assert "<script" not in preview.split("<main", 1)[1]

    rendered = client.post(f"/agreements/{agreement.id}/drafts", data={"csrf_token": token})
    assert rendered.status_code == 302
    form["field_duration_years"] = "5"
    form["then"] = "detail"
    assert client.post(edit_url, data=form).status_code == 302
    assert client.post(f"/agreements/{agreement.id}/drafts", data={"csrf_token": token}).status_code == 302
    detail = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f"/agreements/{agreement.id}/drafts/2.pdf" in detail and f"/agreements/{agreement.id}/drafts/1.docx" in detail
    assert f"/agreements/{agreement.id}/drafts/compare?a=1&amp;b=2" in detail

    compare = client.get(f"/agreements/{agreement.id}/drafts/compare?a=1&b=2").get_data(as_text=True)
    assert "<del>3</del><ins>5</ins>" in compare
    download = client.get(f"/agreements/{agreement.id}/drafts/1.pdf")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")

    listing = client.get("/agreements?status=draft").get_data(as_text=True)
    assert "MoU dalle pagine" in listing
    assert client.get("/agreements?status=nonsense").status_code == 422


def test_rendering_with_missing_required_fields_is_explained_on_the_page(app, client, login, world, create_mou):
    agreement = create_mou(fields={})
    login(world.legal)
    preview = client.get(f"/agreements/{agreement['id']}/preview").get_data(as_text=True)
    assert "[Oggetto della cooperazione (italiano)]" in preview  # placeholders show what is missing
    assert "Still to fill in" in preview
    token = csrf_from(preview if "csrf_token" in preview else client.get("/agreements").get_data(as_text=True))
    blobs = stored_blob_count(app)
    response = client.post(f"/agreements/{agreement['id']}/drafts", data={"csrf_token": token})
    assert response.status_code == 302
    assert "fields.subject_it" in client.get(f"/agreements/{agreement['id']}").get_data(as_text=True)
    assert db.session.scalar(select(func.count(Draft.id))) == 0 and stored_blob_count(app) == blobs


def test_legal_creates_a_template_version_and_sees_the_error_line(app, client, login, world):
    login(world.legal)
    page = client.get("/templates/mou/new-version")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Articolo 1 – Oggetto" in html
    token = csrf_from(html)
    current = db.session.scalar(select(Template).where(Template.key == "mou"))
    fields = json.dumps(current.fields)
    before = table_counts()
    broken = client.post("/templates/mou/new-version", data={
        "csrf_token": token, "name": current.name, "name_ru": current.name_ru, "fields": fields,
        "body": current.body.replace("{{ fields.subject_it }}", "{{ fields.subject_it.__class__ }}"),
    })
    assert broken.status_code == 422
    broken_html = broken.get_data(as_text=True)
    line = next(i for i, text in enumerate(current.body.splitlines(), start=1) if "{{ fields.subject_it }}" in text)
    assert f'data-line="{line}"' in broken_html and "template_error" in broken_html
    assert table_counts() == before
    not_json = client.post("/templates/mou/new-version", data={"csrf_token": token, "name": "x", "fields": "[{",
                                                               "body": current.body})
    assert not_json.status_code == 422 and "not valid JSON" in not_json.get_data(as_text=True)

    ok = client.post("/templates/mou/new-version", data={
        "csrf_token": token, "name": current.name + " (2)", "name_ru": current.name_ru, "fields": fields,
        "body": current.body,
    })
    assert ok.status_code == 302
    listing = client.get("/templates").get_data(as_text=True)
    assert "v2" in listing
    assert client.get("/templates/mou?version=1").status_code == 200
    assert client.get("/templates/mou?version=9").status_code == 404

    new = client.post("/templates/new", data={
        "csrf_token": token, "key": "lettera", "name": "Lettera", "name_ru": "Письмо", "fields": "[]",
        "body": '<section><div lang="it"><p>Gentili</p></div><div lang="ru"><p>Уважаемые</p></div></section>',
    })
    assert new.status_code == 302 and new.headers["Location"].endswith("/templates/lettera")


def test_sync_creates_versions_only_for_new_content(app, tmp_path, world):
    from docmgr.config import REPO_ROOT

    directory = tmp_path / "templates"
    shutil.copytree(REPO_ROOT / "templates", directory)
    assert sync_templates(db.session, directory) == []  # the fixture already loaded the same files
    body = directory / "nda.html.j2"
    body.write_text(body.read_text().replace("Articolo 5 – Lingue", "Articolo 5 – Lingue e testi"))
    created = sync_templates(db.session, directory)
    assert [(t.key, t.version) for t in created] == [("nda", 2)]
    assert sync_templates(db.session, directory) == []
    db.session.commit()
    # A version made in the app is not overwritten by an unchanged file on the next sync.
    from docmgr.drafting.services import create_template_version

    create_template_version(db.session, world.legal, "nda", name="NDA rivisto")
    assert sync_templates(db.session, directory) == []
    assert {f.key for f in read_template_files(directory)} == {"mou", "nda", "framework"}


def test_demo_creates_one_mou_with_a_rendered_draft_and_is_idempotent(app):
    from docmgr.demo import load_demo

    load_demo()
    load_demo()
    agreements = list(db.session.scalars(select(Agreement)))
    assert len(agreements) == 1
    mou = agreements[0]
    assert mou.template.key == "mou" and len(mou.signatories) == 2 and len(mou.drafts) == 1
    assert {o.country for o in mou.parties} == {"IT", "RU"}
    assert db.session.scalar(select(func.count(Template.id))) == 3
