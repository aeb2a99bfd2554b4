"""Template injection (in field values and in template bodies written by legal staff) and server-side
fetches by the PDF renderer: literal output or 422 template_error, never the secret key, never a request."""

from __future__ import annotations

import http.server
import io
import threading

import pytest
from pypdf import PdfReader

from docmgr.extensions import db
from tests.security.conftest import error_code, mou_fields, snapshot

SECRET = "test-secret-key-that-must-never-leak-0123456789"
# What an escape would print (the expressions themselves may be echoed as literal text or in an error message).
LEAKS = (SECRET, "root:x:0:0", "<class '", "&lt;class", "<Config", "&lt;Config", "<Request", "&lt;Request",
         "<module '", "&lt;module", "SQLALCHEMY_DATABASE_URI", "<function", "&lt;function", "uid=")


def _pdf_text(data: bytes) -> str:
    return "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def _assert_no_leak(text: str, where: str) -> None:
    squashed = "".join(text.split())
    for leak in LEAKS:
        assert "".join(leak.split()) not in squashed, f"{leak!r} in {where}"


def _agreement(world, template: str = "mou", **fields) -> dict:
    payload = {
        "template": template, "title": fields.pop("title", "Accordo"),
        "organization_ids": [world.ids["org_a"], world.ids["org_a2"]],
        "fields": {**mou_fields(world.ids["org_a"]), **fields} if template == "mou" else fields,
    }
    response = world.app.test_client().post("/api/v1/agreements", json=payload, headers=world.token("legal"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _render(world, agreement_id: int) -> tuple[str, str]:
    """(the preview page's HTML, the text of a freshly rendered draft PDF)."""
    client = world.app.test_client()
    legal = world.token("legal")
    draft = client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=legal)
    assert draft.status_code == 201, draft.get_json()
    pdf = client.get(draft.get_json()["pdf_url"], headers=legal)
    docx = client.get(draft.get_json()["docx_url"], headers=legal)
    assert pdf.status_code == 200 and docx.status_code == 200
    from docx import Document

    docx_text = "\n".join(p.text for p in Document(io.BytesIO(docx.data)).paragraphs)
    preview = world.browser("legal")[0].get(f"/agreements/{agreement_id}/preview")
    assert preview.status_code == 200
    return preview.get_data(as_text=True), _pdf_text(pdf.data) + docx_text


FIELD_INJECTIONS = ["{{ 7*7 }}", "{% raw %}x{% endraw %}", "{{ config }}", "{{ config.SECRET_KEY }}",
                    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "${7*7}", "#{7*7}", "{{ request }}"]


def test_field_values_are_data_not_code(world):
    agreement = _agreement(world, subject_it=" | ".join(FIELD_INJECTIONS), subject_ru="{{ cycler.__init__.__globals__.os }}",
                           title="{{ self._TemplateReference__context }}")
    html, pdf_text = _render(world, agreement["id"])
    _assert_no_leak(html, "preview")
    _assert_no_leak(pdf_text, "draft")
    assert "{{ 7*7 }}" in html  # literal, as typed
    assert "".join("{{7*7}}".split()) in pdf_text
    assert "{%raw%}x{%endraw%}" in pdf_text


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }}",
    "{{ request }}",
    "{{ config.SECRET_KEY }}",
    "{{ config }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ title.__class__.__base__.__subclasses__() }}",
    "{{ fields.__class__.__init__.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ range(10**9)|list }}",
    "{{ 'x' * 1000000000 }}",
    "{{ [0] * 10**9 }}",
    "{{ 2**(10**9) }}",
    "{% set x = fields.update({'a': 1}) %}{{ x }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends 'base.html' %}",
    "{{ url_for.__globals__ }}",
    "{{ 7*7 }}",
]


def _body(expression: str) -> str:
    return (f'<section><div lang="it"><h2>A</h2><p>{expression}</p></div>'
            f'<div lang="ru"><h2>Б</h2><p>x</p></div></section>')


@pytest.mark.parametrize("expression", SANDBOX_ESCAPES)
def test_sandbox_escapes_in_template_bodies(world, expression):
    """Either 422 template_error at creation (nothing stored), or a template that renders harmlessly."""
    client = world.app.test_client()
    key = f"ssti{SANDBOX_ESCAPES.index(expression)}"
    before = snapshot(world.app)
    response = client.post("/api/v1/templates", headers=world.token("legal"),
                           json={"key": key, "name": "T", "body": _body(expression)})
    _assert_no_leak(response.get_data(as_text=True), f"answer for {expression}")
    if response.status_code == 422:
        assert error_code(response) == "template_error", response.get_json()
        assert snapshot(world.app) == before
        return
    assert response.status_code == 201, response.get_json()
    assert expression == "{{ 7*7 }}", f"accepted a sandbox escape: {expression}"
    html, pdf_text = _render(world, _agreement(world, template=key)["id"])
    _assert_no_leak(html, "preview")
    _assert_no_leak(pdf_text, "draft")
    assert "49" in pdf_text


def test_template_form_page_answers_template_error_too(world):
    client, csrf = world.browser("legal")
    before = snapshot(world.app)
    response = client.post("/templates/new", data={"key": "sstiform", "name": "T", "csrf_token": csrf,
                                                   "body": _body("{{ config.SECRET_KEY }}")})
    assert response.status_code == 422
    assert SECRET not in response.get_data(as_text=True)
    assert snapshot(world.app) == before


# --- server-side fetches ---------------------------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        _Recorder.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


@pytest.fixture
def fetched(monkeypatch):
    """Every URL WeasyPrint asks our fetcher for (the fetcher looks the function up at call time)."""
    import docmgr.pdf

    calls: list[str] = []
    original = docmgr.pdf.restricted_url_fetcher

    def recording(url, *args, **kwargs):
        calls.append(url)
        return original(url, *args, **kwargs)

    monkeypatch.setattr(docmgr.pdf, "restricted_url_fetcher", recording)
    return calls


def _hostile_markup(base: str) -> tuple[str, str]:
    html = (
        f'<link rel="stylesheet" href="{base}/link.css">'
        f'<img src="file:///etc/passwd"><img src="{base}/img.png"><img src="/etc/passwd">'
        f'<object data="{base}/object"></object><iframe src="{base}/iframe"></iframe>'
        f'<style>@import url({base}/import.css); @import "file:///etc/passwd";'
        f' p {{ background: url({base}/bg.png) }} h1 {{ background: url(file:///etc/passwd) }}'
        f' @font-face {{ font-family: X; src: url({base}/font.ttf) }}</style>'
        f'<p style="background: url({base}/inline.png)">root</p>'
        '<img src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=">'
        f'<a href="{base}/a">link</a><svg><image href="{base}/svg.png"/></svg>'
    )
    css = f"@import url({base}/css-import.css); body {{ background: url(file:///etc/passwd) }}"
    return html, css


def test_html_to_pdf_fetches_nothing_but_bundled_fonts(app, loopback, fetched):
    from docmgr.pdf import html_to_pdf

    html, css = _hostile_markup(loopback)
    pdf = html_to_pdf(html, css)
    assert pdf.startswith(b"%PDF")
    assert _Recorder.requests == [], _Recorder.requests
    outside = [url for url in fetched if not url.startswith("docmgr-static:/")]
    assert outside, "the fetcher was bypassed: it saw none of the hostile URLs"
    assert "root:x:0:0" not in _pdf_text(pdf)


def test_template_bodies_and_field_values_fetch_nothing(world, loopback, fetched):
    html, _css = _hostile_markup(loopback)
    client = world.app.test_client()
    response = client.post("/api/v1/templates", headers=world.token("legal"), json={
        "key": "fetches", "name": "F",
        "fields": [{"name": "note", "label_it": "N", "label_ru": "N", "type": "long_text", "required": True}],
        "body": f'<section><div lang="it"><h2>A</h2>{html}<p>{{{{ it.note }}}}</p></div>'
                f'<div lang="ru"><h2>Б</h2><p>{{{{ ru.note }}}}</p></div></section>',
    })
    if response.status_code == 422:
        assert error_code(response) == "template_error"
    else:
        assert response.status_code == 201, response.get_json()
        agreement = _agreement(world, template="fetches", note=html)
        _render(world, agreement["id"])
    agreement = _agreement(world, subject_it=html, subject_ru=f"<img src='{loopback}/x.png'>",
                           title=f'<img src="{loopback}/title.png">')
    preview, text = _render(world, agreement["id"])
    assert _Recorder.requests == [], _Recorder.requests
    assert "root:x:0:0" not in text
    # In the preview page the hostile URLs may show as escaped text, never as a tag's attribute.
    from html.parser import HTMLParser

    urls: list[str] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: urls.extend(v or "" for _, v in attrs)
    parser.feed(preview)
    assert not [url for url in urls if loopback in url or url.startswith("file:")], urls


def test_certificate_and_previews_fetch_nothing(world, loopback, fetched):
    """The certificate (signatures) renders names the parties chose: an organisation named like markup
    must not make it fetch either (the executed agreement's certificate was rendered at setup; re-render)."""
    from docmgr.pdf import html_to_pdf

    hostile_name = f'<img src="{loopback}/cert.png"><link rel=stylesheet href="{loopback}/c.css">'
    from markupsafe import escape

    html_to_pdf(f"<p>{escape(hostile_name)}</p>")
    html_to_pdf(f"<p>{hostile_name}</p>")  # even unescaped: the fetcher refuses
    assert _Recorder.requests == []
    db.session.rollback()
