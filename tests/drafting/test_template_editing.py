"""Templates without pasting JSON: the two files uploaded, errors with line numbers, a preview with sample
values by the real renderer (HTML, PDF, and the API the live preview calls), version history with diff."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from docmgr.drafting.models import Template
from docmgr.drafting.template_editing import element_lines
from docmgr.extensions import db
from tests.conftest import csrf_from, table_counts

FIELDS = [
    {"name": "subject_it", "label_it": "Oggetto", "label_ru": "Предмет", "type": "text", "required": True},
    {"name": "budget", "label_it": "Bilancio", "label_ru": "Бюджет", "type": "number"},
]
BODY = """<section class="title"><div lang="it"><h1>{{ title_it }}</h1></div><div lang="ru"><h1>{{ title_ru }}</h1></div></section>
<section><div lang="it"><h2>Oggetto</h2><p>{{ fields.subject_it }}</p></div>
<div lang="ru"><h2>Предмет</h2><p>{{ fields.subject_it }}</p></div></section>
"""


def _token(client) -> str:
    return csrf_from(client.get("/templates/new").get_data(as_text=True))


def _files(fields: str | bytes, body: str | bytes) -> dict:
    as_bytes = lambda v: v if isinstance(v, bytes) else v.encode()  # noqa: E731
    return {"fields_file": (io.BytesIO(as_bytes(fields)), "fields.json"), "body_file": (io.BytesIO(as_bytes(body)), "body.html")}


def test_upload_the_two_files_creates_the_template(client, login, world):
    login(world.legal)
    response = client.post("/templates/new", content_type="multipart/form-data", data={
        "csrf_token": _token(client), "key": "accordo-quadro", "name": "Accordo quadro", "name_ru": "Рамочное соглашение",
        "fields": "", "body": "", **_files("\ufeff" + json.dumps(FIELDS, ensure_ascii=False), BODY),
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    template = db.session.scalar(select(Template).where(Template.key == "accordo-quadro"))
    assert template.body == BODY and [f["name"] for f in template.fields] == ["subject_it", "budget"]


def test_preview_with_sample_values_saves_nothing(client, login, world):
    login(world.legal)
    before = table_counts()
    data = {"csrf_token": _token(client), "key": "anteprima", "name": "Anteprima", "fields": json.dumps(FIELDS),
            "body": BODY, "action": "preview"}
    response = client.post("/templates/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    preview = html[html.index("data-preview-body"):]
    assert "Предмет" in preview and "Oggetto" in preview and "Anteprima" in preview
    pdf = client.post("/templates/new", data={**data, "action": "preview_pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert table_counts() == before


def test_errors_name_their_lines(client, login, world):
    login(world.legal)
    token = _token(client)
    bad_json = '[\n  {"name": "a"},\n  {"name": "b",,}\n]'
    response = client.post("/templates/new", data={"csrf_token": token, "key": "k1", "name": "N", "fields": bad_json,
                                                   "body": BODY})
    assert response.status_code == 422 and "line 3" in response.get_data(as_text=True)
    bad_type = json.dumps([FIELDS[0], {"name": "x", "type": "colour"}], indent=2)
    response = client.post("/templates/new", data={"csrf_token": token, "key": "k2", "name": "N", "fields": bad_type,
                                                   "body": BODY})
    assert response.status_code == 422 and 'data-line="9"' in response.get_data(as_text=True)
    bad_body = BODY + "{% if %}\n"
    response = client.post("/templates/new", data={"csrf_token": token, "key": "k3", "name": "N",
                                                   "fields": json.dumps(FIELDS), "body": bad_body, "action": "preview"})
    assert response.status_code == 422 and 'data-line="4"' in response.get_data(as_text=True)
    not_utf8 = client.post("/templates/new", content_type="multipart/form-data", data={
        "csrf_token": token, "key": "k4", "name": "N", **_files(json.dumps(FIELDS), "ok\n\xe8".encode("latin-1"))})
    assert not_utf8.status_code == 422 and "UTF-8" in not_utf8.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Template).where(Template.key.like("k%"))) == 0


def test_element_lines():
    assert element_lines('[\n {"a": 1},\n\n {"b": [1,\n 2]}, 3]') == [2, 4, 5]
    assert element_lines("{}") == [] and element_lines("") == []


def test_live_preview_api(client, token_for, world):
    headers = token_for(world.legal)
    response = client.post("/api/v1/templates/preview", headers=headers,
                           json={"name": "Anteprima", "fields": FIELDS, "body": BODY})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "Предмет" in body["html"] and "subject_it" in body["sample_values"]
    refused = client.post("/api/v1/templates/preview", headers=headers,
                          json={"name": "N", "fields": FIELDS, "body": "{{ fields.subject_it }\n"})
    assert refused.status_code == 422 and refused.get_json()["error"]["line"] == 1
    assert client.post("/api/v1/templates/preview", headers=token_for(world.ministry),
                       json={"name": "N", "fields": [], "body": BODY}).status_code == 403


def test_version_history_with_diff(client, login, world):
    login(world.legal)
    token = _token(client)
    assert client.post("/templates/new", data={"csrf_token": token, "key": "storia", "name": "Storia",
                                               "fields": json.dumps(FIELDS), "body": BODY}).status_code == 302
    changed = BODY.replace("<h2>Oggetto</h2>", "<h2>Oggetto dell'accordo</h2>")
    assert client.post("/templates/storia/new-version", data={"csrf_token": token, "name": "Storia",
                                                              "fields": json.dumps(FIELDS[:1]), "body": changed}).status_code == 302
    detail = client.get("/templates/storia").get_data(as_text=True)
    assert "/templates/storia/diff?a=1&amp;b=2" in detail
    html = client.get("/templates/storia/diff?a=1&b=2").get_data(as_text=True)
    assert '<span class="diff-add">+&lt;section&gt;&lt;div lang=&#34;it&#34;&gt;&lt;h2&gt;Oggetto dell&#39;accordo' in html
    assert '<span class="diff-remove">-&lt;section&gt;&lt;div lang=&#34;it&#34;&gt;&lt;h2&gt;Oggetto&lt;/h2&gt;' in html
    fields_part = html.split("<h2>Body</h2>")[0]
    assert '<span class="diff-remove">-    &#34;name&#34;: &#34;budget&#34;,</span>' in fields_part
    assert client.get("/templates/storia/diff?a=1&b=9").status_code == 404
