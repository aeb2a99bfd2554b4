"""Stored XSS: hostile text in every place a user can put text (titles, file names, extracted text, template
names and fields, organisation and session names, signatory names, decline reasons, audit data, search
queries and snippets), then every page is read back: the payload is always escaped, JSON is always JSON."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest

from docmgr.extensions import db
from tests.security.conftest import mou_fields
from tests.security.test_access_matrix import ROUTES, _rule_for, url_for_rule

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
QUOTE = "' onmouseover='alert(1)"
JS_URL = "javascript:alert(1)"
PAYLOAD = f"Xss{SCRIPT}{IMG}{QUOTE} {JS_URL}"
RAW_MARKERS = ("<script>alert(1)", "<img src=x onerror", "onerror=alert(1)>")


class _Tags(HTMLParser):
    """Every start tag's attributes, as a browser would parse them (escaped text inside a value stays inside)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not dict(attrs).get("src"):
            self.problems.append("inline <script>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    ("javascript:", "vbscript:", "data:text/html")):
                self.problems.append(f"<{tag} {name}={value!r}>")
WORD = "zanzibarxss"  # a searchable word beside the payload in the extracted text


def _docx(text: str) -> bytes:
    from docx import Document

    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def assert_escaped(body: str, where: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in body, f"raw payload {marker!r} in {where}"
    tags = _Tags()
    tags.feed(body)
    assert not tags.problems, f"{where}: {tags.problems}"


@pytest.fixture(scope="module")
def hostile(world):
    """Payloads everywhere, through the real API, by the people allowed to put them there; then the world's
    ids point at these things, so the route table reads them back."""
    client = world.app.test_client()
    admin, legal, firm = world.token("admin"), world.token("legal"), world.token("firm_a")
    org = client.post("/api/v1/organizations", json={"name": "Org " + PAYLOAD, "country": "IT",
                                                      "name_alt": PAYLOAD}, headers=admin)
    assert org.status_code == 201, org.get_json()
    forum = client.post("/api/v1/sessions", json={"name": "Sess " + PAYLOAD, "place": PAYLOAD, "country": "RU",
                                                  "starts_on": "2026-01-01", "ends_on": "2026-01-02"}, headers=admin)
    assert forum.status_code == 201, forum.get_json()
    document = client.post("/api/v1/documents", headers=firm, content_type="multipart/form-data", data={
        "title_it": "Doc " + PAYLOAD, "title_ru": PAYLOAD, "kind": "proposal",
        "file": (io.BytesIO(_docx(f"Proposta {WORD} {PAYLOAD} fine.")), f"f{SCRIPT}{IMG}.docx"),
    })
    assert document.status_code == 201, document.get_json()
    body = {
        "template": "mou", "title": "Agr " + PAYLOAD, "organization_ids": [world.ids["org_a"], world.ids["org_a2"]],
        "fields": {**mou_fields(world.ids["org_a"]), "subject_it": PAYLOAD, "subject_ru": PAYLOAD,
                   "sectors": [PAYLOAD]},
        "signatories": [{"name": "Sig " + PAYLOAD, "title": PAYLOAD, "organization_id": world.ids["org_a"],
                         "email": "s@example.org"}],
    }
    agreement = client.post("/api/v1/agreements", json=body, headers=legal)
    assert agreement.status_code == 201, agreement.get_json()
    agreement_id = agreement.get_json()["id"]
    assert client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=legal).status_code == 201
    assert client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=legal).status_code == 201
    template = client.post("/api/v1/templates", headers=legal, json={
        "key": "xss", "name": "Tpl " + PAYLOAD, "name_ru": PAYLOAD,
        "fields": [{"name": "note", "label_it": PAYLOAD, "label_ru": PAYLOAD, "type": "text", "required": True,
                    "help": PAYLOAD}],
        "body": '<section><div lang="it"><h2>A</h2><p>{{ it.note }}</p></div>'
                '<div lang="ru"><h2>Б</h2><p>{{ ru.note }}</p></div></section>',
    })
    assert template.status_code == 201, template.get_json()
    # The audit trail gets a hostile e-mail through a failed login.
    client.post("/api/v1/auth/token", json={"email": f"{IMG}@x.org", "password": "wrong password"})
    doc = document.get_json()
    world.ids.update(doc_a=doc["id"], file_a=doc["files"][0]["id"], agreement_exec=agreement_id,
                     agreement_draft=agreement_id)
    signatories = agreement.get_json()["signatories"]
    world.ids.update(signatory_draft=signatories[0]["id"], signatory_exec=signatories[0]["id"])
    db.session.commit()
    return world


PAGES = [pytest.param(e, id=e) for (e, m) in ROUTES if m == "GET" and not e.startswith("api.") and e != "static"]


@pytest.mark.parametrize("endpoint", PAGES)
@pytest.mark.parametrize("role", ["admin", "firm_a"])
def test_every_page_escapes_stored_payloads(hostile, endpoint, role):
    world = hostile
    route = ROUTES[(endpoint, "GET")]
    url = url_for_rule(world, _rule_for(world, endpoint, "GET"), route)
    if endpoint == "drafting.template_detail" or endpoint == "drafting.template_new_version":
        url = url.replace("/mou", "/xss")
    if endpoint == "drafting.compare":
        url = url.replace("a=1&b=1", "a=1&b=2")
    response = world.browser(role)[0].get(url)
    assert response.status_code < 500, (url, response.status_code)
    if response.mimetype == "text/html":
        assert_escaped(response.get_data(as_text=True), f"{url} as {role}")
    else:  # downloads and images are attachments or our own PNGs, never HTML
        assert response.mimetype != "text/html"


@pytest.mark.parametrize("url", ["/search?q={q}", "/?q={q}", "/agreements?status={q}", "/search?q=" + WORD,
                                 "/search?q={q}&kind={q}&sector={q}&organization_id={q}", "/audit?action={q}",
                                 "/login?next={q}", "/documents/new?title_it={q}"])
def test_reflected_parameters_are_escaped(hostile, url):
    from urllib.parse import quote

    client = hostile.browser("admin")[0]
    response = client.get(url.format(q=quote(PAYLOAD)))
    assert response.status_code < 500, url
    assert_escaped(response.get_data(as_text=True), url)


def test_search_snippets_mark_only_the_terms(hostile):
    response = hostile.app.test_client().get(f"/api/v1/search?q={WORD}", headers=hostile.token("admin"))
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["total"] == 1  # the one hostile proposal
    assert any("<mark>" in snippet for snippet in body["hits"][0]["highlights"])
    for hit in body["hits"]:
        for snippet in hit["highlights"]:
            without_marks = snippet.replace("<mark>", "").replace("</mark>", "")
            assert "<" not in without_marks and ">" not in without_marks.replace("&gt;", ""), snippet
    page = hostile.browser("admin")[0].get(f"/search?q={WORD}").get_data(as_text=True)
    assert "<mark>" in page  # highlighting survives, the payload beside it does not
    assert_escaped(page, "search page")


@pytest.mark.parametrize("url", [
    "/api/v1/documents/{doc_a}", "/api/v1/documents", "/api/v1/agreements/{agreement_exec}", "/api/v1/templates/xss",
    "/api/v1/organizations", "/api/v1/sessions", "/api/v1/agreements/{agreement_exec}/audit",
    "/api/v1/search?q=" + WORD, "/api/v1/agreements/{agreement_exec}/signatures",
])
def test_json_answers_are_json(hostile, url):
    response = hostile.app.test_client().get(url.format(**hostile.ids), headers=hostile.token("admin"))
    assert response.status_code == 200, url
    assert response.headers["Content-Type"].startswith("application/json"), url
    assert SCRIPT in response.get_data(as_text=True) or "\\u003cscript" in response.get_data(as_text=True) \
        or url.startswith("/api/v1/search") or "audit" in url
