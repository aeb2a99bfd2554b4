"""The OpenAPI document is valid, and the real answers of every /api/v1 route match it.

The spec is generated from the serializers (docmgr/*/serializers.py), which the views dump through.
Here a real scenario (uploads, agreements, rendered drafts, transitions, signatures, declines, the
audit trail) drives every route through the test client; each answer, success or refusal, is checked
against the response the spec documents for its status (JSON bodies with jsonschema: every field of a
fixed shape is required and no other is allowed). Which routes must be driven comes from the app's
URL map, so a new route without a spec entry or without a call here fails.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_spec

from docmgr.api import bp
from docmgr.extensions import db
from docmgr.search.indexers import enqueue_index
from tests.conftest import PASSWORD
from tests.security.conftest import mou_fields, png_bytes

API = bp.url_prefix
TEMPLATE_BODY = (
    '<section>\n<div lang="it"><h2>Art. 1</h2><p>{{ it.when }}</p></div>\n'
    '<div lang="ru"><h2>Ст. 1</h2><p>{{ ru.when }}</p></div>\n</section>\n'
)
TEMPLATE_FIELDS = [{"name": "when", "label_it": "Quando", "label_ru": "Когда", "type": "date", "required": True}]


def api_routes(app) -> set[tuple[str, str]]:
    """(endpoint, METHOD) of every /api/v1 route of the app."""
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules() if rule.rule.startswith(API + "/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def spec_path(app, path: str, method: str) -> tuple[str, str]:
    """The endpoint and the OpenAPI path ("/api/v1/documents/{document_id}") a real request goes to."""
    endpoint, _ = app.url_map.bind("localhost").match(path.split("?")[0], method=method)
    rule = next(r for r in app.url_map.iter_rules(endpoint) if method in (r.methods or ()))
    openapi_path = rule.rule
    for arg in rule.arguments:
        openapi_path = openapi_path.replace(f"<int:{arg}>", "{" + arg + "}").replace(f"<{arg}>", "{" + arg + "}")
    return endpoint, openapi_path


def validator_for(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator of one response schema, its $refs resolved inside the spec."""
    return Draft202012Validator({**schema, "components": spec["components"]})


class Checker:
    """Sends real requests and checks each answer against the spec; records which routes succeeded."""

    def __init__(self, app, client, spec: dict[str, Any]):
        self.app, self.client, self.spec = app, client, spec
        self.served: set[tuple[str, str]] = set()  # (endpoint, METHOD) answered 2xx and matching the spec

    def __call__(self, method: str, path: str, status: int, headers: dict[str, str] | None = None,
                 **kwargs: Any):
        response = self.client.open(API + path, method=method, headers=headers or {}, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.get_data(as_text=True)[:500])
        endpoint, openapi_path = spec_path(self.app, API + path, method)
        self.check(method, openapi_path, response)
        if status < 300:
            self.served.add((endpoint, method))
        return response

    def check(self, method: str, openapi_path: str, response) -> None:
        operation = self.spec["paths"][openapi_path][method.lower()]
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, f"{method} {openapi_path}: status {response.status_code} is not in the spec"
        content = documented.get("content")
        if content is None:
            assert response.data == b"", f"{method} {openapi_path}: the spec says no body"
            return
        ranges = {response.mimetype, response.mimetype.split("/")[0] + "/*", "*/*"}
        assert ranges & set(content), (method, openapi_path, response.mimetype, sorted(content))
        if response.mimetype == "application/json":
            body = response.get_json()
            errors = sorted(validator_for(self.spec, content["application/json"]["schema"]).iter_errors(body),
                            key=str)
            assert not errors, f"{method} {openapi_path} {response.status_code}: " + "; ".join(
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_spec_is_a_valid_openapi_document(spec):
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)


def test_the_spec_describes_exactly_the_api_routes(app, spec):
    described = {(path, method.upper()) for path, operations in spec["paths"].items() for method in operations}
    routed = set()
    for endpoint, method in api_routes(app):
        rule = next(r for r in app.url_map.iter_rules(endpoint) if method in (r.methods or ()))
        routed.add((spec_path(app, _example_url(rule.rule), method)[1], method))
    assert routed == described


def _example_url(rule: str) -> str:
    return re.sub(r"<int:[a-z_]+>", "1", re.sub(r"<[a-z_]+>", "x", rule))


def test_the_error_shape_is_the_contracts(spec, client):
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["code", "message"]
    # The limits a refusal names (availability: the edge's caps, login throttles), all optional.
    assert set(error["properties"]) == {"code", "message", "field", "max_length", "maximum", "retry_after", "fields",
                                        "signatory_id"}
    assert error["additionalProperties"] is False
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") == []:
                continue  # public: nobody to refuse
            assert "401" in operation["responses"], (path, method)


def test_documents_describe_what_the_api_returns(spec):
    """The fields the hand-written spec used to miss are now described, as required."""
    summary = spec["components"]["schemas"]["DocumentSummary"]
    for name in ("organization", "languages", "created_at", "updated_at"):
        assert name in summary["required"], name
    file = spec["components"]["schemas"]["DocumentFile"]
    for name in ("page_count", "text_status", "language_detected"):
        assert name in file["required"], name


# --- every route, with real data -------------------------------------------------------------------


@pytest.fixture
def people(app, make_org, make_user):
    from docmgr.drafting.services import sync_templates

    sync_templates(db.session)
    db.session.commit()
    org_it = make_org("Alfa Meccanica S.r.l.", "IT", name_alt="Альфа Мекканика")
    org_ru = make_org("ООО «Бета»", "RU", name_alt="OOO Beta")
    users = {
        "admin": make_user("admin"), "legal": make_user("legal"), "legal2": make_user("legal"),
        "ministry": make_user("ministry"), "firm": make_user("firm", org_it), "firm_ru": make_user("firm", org_ru),
    }
    return {"org_it": org_it, "org_ru": org_ru, **users}


def _pdf(text: str) -> bytes:
    from docmgr.pdf import html_to_pdf

    return html_to_pdf(f"<h1>Proposta</h1><p>{text}</p>")


def test_every_route_answers_as_the_spec_says(app, client, spec, people):
    call = Checker(app, client, spec)
    tokens: dict[str, dict[str, str]] = {}

    def login(role: str) -> dict[str, str]:
        body = call("POST", "/auth/token", 201, json={"email": people[role].email, "password": PASSWORD}).get_json()
        tokens[role] = {"Authorization": f"Bearer {body['token']}"}
        return tokens[role]

    admin, legal, legal2, ministry, firm, firm_ru = (
        login(role) for role in ("admin", "legal", "legal2", "ministry", "firm", "firm_ru"))
    org_it, org_ru = people["org_it"].id, people["org_ru"].id

    # Refusals in the one error shape: not logged in, wrong password, malformed, invalid, not found.
    call("GET", "/documents", 401)
    call("POST", "/auth/token", 401, json={"email": people["firm"].email, "password": "wrong"})
    call("POST", "/auth/token", 400, data="not json", content_type="application/json")
    call("GET", "/documents/999999", 404, headers=firm)
    call("GET", "/stats", 403, headers=firm)
    call("GET", "/openapi.json", 200)

    # Accounts.
    call("GET", "/me", 200, headers=firm)
    call("GET", "/auth/tokens", 200, headers=firm)
    call("GET", "/users", 200, headers=admin)
    call("POST", "/users", 201, headers=admin,
         json={"email": "new@example.org", "password": PASSWORD, "role": "firm", "organization_id": org_it, "name": "Nuovo"})
    call("POST", "/users", 422, headers=admin, json={"email": "x@example.org", "password": PASSWORD, "role": "king"})
    call("GET", "/organizations", 200, headers=firm)
    call("POST", "/organizations", 201, headers=admin, json={"name": "Gamma S.p.A.", "country": "IT", "kind": "firm"})
    call("GET", "/sessions", 200, headers=firm)
    # Login throttles (availability): failures in a row lock one (address, e-mail) pair; an admin lifts it.
    for _ in range(5):
        call("POST", "/auth/token", 401, json={"email": "nobody@example.org", "password": "wrong guess"})
    call("POST", "/auth/token", 429, json={"email": "nobody@example.org", "password": "wrong guess"})
    call("GET", "/auth/throttles", 200, headers=admin)
    call("GET", "/auth/throttles", 403, headers=firm)
    call("POST", "/auth/throttles/lift", 200, headers=admin, json={"email": "nobody@example.org", "remote_addr": "127.0.0.1"})
    call("POST", "/auth/throttles/lift", 404, headers=admin, json={"email": "nobody@example.org", "remote_addr": "127.0.0.1"})
    call("POST", "/auth/token", 413, data='{"email": "' + "x" * 2_000_000 + '"}', content_type="application/json")
    call("POST", "/auth/token", 422, json={"email": "x" * 300 + "@example.org", "password": "p"})
    forum = call("POST", "/sessions", 201, headers=admin, json={
        "name": "Sessione di Torino", "place": "Torino", "country": "IT", "starts_on": "2026-11-24",
        "ends_on": "2026-11-25"}).get_json()

    # Documents: a real PDF, then its Russian text, then reading them back.
    document = call("POST", "/documents", 201, headers=firm, content_type="multipart/form-data", data={
        "title_it": "Proposta energetica", "kind": "proposal", "sectors": "energy,mechanics",
        "session_id": str(forum["id"]), "language": "it",
        "file": (io.BytesIO(_pdf("Turbine eoliche per la rete elettrica di Novosibirsk.")), "proposta.pdf"),
    }).get_json()
    doc_id, file_id = document["id"], document["files"][0]["id"]
    call("POST", "/documents", 422, headers=firm, content_type="multipart/form-data",
         data={"kind": "poem", "file": (io.BytesIO(b"Testo."), "p.txt")})
    call("POST", "/documents", 415, headers=firm, content_type="multipart/form-data",
         data={"title_it": "Strumento", "file": (io.BytesIO(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(200)), "tool.exe")})
    call("POST", f"/documents/{doc_id}/files", 201, headers=firm, content_type="multipart/form-data", data={
        "language": "ru", "file": (io.BytesIO("Ветряные турбины для электросети.".encode()), "predlozhenie.txt")})
    call("GET", "/documents", 200, headers=firm)
    call("GET", f"/documents?kind=proposal&session_id={forum['id']}&page=1&per_page=5", 200, headers=legal)
    call("GET", f"/documents/{doc_id}", 200, headers=firm)
    call("GET", f"/documents/{doc_id}", 404, headers=firm_ru)
    call("PATCH", f"/documents/{doc_id}", 200, headers=firm, json={"title_ru": "Энергетическое предложение"})
    call("PATCH", f"/documents/{doc_id}", 422, headers=firm, json={"colour": "red"})
    call("GET", f"/documents/{doc_id}/files/{file_id}/content", 200, headers=firm)
    call("GET", f"/documents/{doc_id}/files/{file_id}/pages", 200, headers=firm)
    call("GET", "/documents/ocr", 200, headers=firm)
    call("GET", "/documents/ocr", 200, headers=admin)
    # Several files are separate documents by default; the trash and back.
    extra = call("POST", "/documents", 201, headers=firm, content_type="multipart/form-data", data={
        "title_it": "Da cestinare", "grouping": "separate",
        "file": [(io.BytesIO(b"Primo file di prova."), "uno.txt"), (io.BytesIO(b"Secondo file di prova."), "due.txt")],
    }).get_json()
    assert len(extra["documents"]) == 2
    call("DELETE", f"/documents/{extra['id']}", 200, headers=firm)
    call("GET", "/trash?page=1&per_page=10", 200, headers=firm)
    call("POST", f"/documents/{extra['id']}/restore", 200, headers=firm)
    call("POST", f"/documents/{extra['id']}/restore", 404, headers=firm)

    # Search.
    call("GET", "/search?q=turbine", 200, headers=firm)
    call("GET", "/search?q=&kind=proposal&sort=date", 200, headers=legal)
    call("GET", "/search?date_from=yesterday", 422, headers=legal)
    call("GET", f"/documents/{doc_id}/processing", 200, headers=firm)
    # Saved searches (each user's own).
    saved = call("POST", "/saved-searches", 201, headers=firm,
                 json={"name": "Turbine", "q": "turbine", "filters": {"sector": "energy", "language": "en"}, "digest": True})
    call("POST", "/saved-searches", 422, headers=firm, json={"name": "", "q": "turbine"})
    call("GET", "/saved-searches", 200, headers=firm)
    call("PATCH", f"/saved-searches/{saved.get_json()['id']}", 200, headers=firm, json={"name": "Turbine eoliche"})
    call("PATCH", f"/saved-searches/{saved.get_json()['id']}", 404, headers=legal, json={"name": "x"})
    call("DELETE", f"/saved-searches/{saved.get_json()['id']}", 204, headers=firm)
    call("GET", f"/documents/{doc_id}/similar?limit=3", 200, headers=legal)

    # Templates.
    call("GET", "/templates", 200, headers=firm)
    call("GET", "/templates/mou", 200, headers=firm)
    call("GET", "/templates/mou/versions/1", 200, headers=firm)
    call("POST", "/templates", 201, headers=legal, json={
        "key": "letter", "name": "Lettera", "name_ru": "Письмо", "fields": TEMPLATE_FIELDS, "body": TEMPLATE_BODY})
    call("POST", "/templates", 409, headers=legal, json={"key": "letter", "name": "x", "body": TEMPLATE_BODY})
    call("POST", "/templates/letter/versions", 201, headers=legal, json={"name": "Lettera 2"})
    call("POST", "/templates/preview", 200, headers=legal, json={"name": "Lettera", "fields": TEMPLATE_FIELDS,
                                                                 "body": TEMPLATE_BODY})
    call("POST", "/templates/preview", 422, headers=legal, json={"name": "Lettera", "body": "{{ broken"})

    # Agreements and drafts.
    def new_agreement(title: str) -> dict[str, Any]:
        return call("POST", "/agreements", 201, headers=legal, json={
            "template": "mou", "title": title, "organization_ids": [org_it, org_ru], "proposal_ids": [doc_id],
            "session_id": forum["id"], "fields": mou_fields(org_it), "signatories": [
                {"name": "Marco Bianchi", "title": "Direttore", "organization_id": org_it, "email": "m@example.org"},
                {"name": "Анна Смирнова", "title": "Директор", "organization_id": org_ru, "email": "a@example.org"},
            ]}).get_json()

    agreement = new_agreement("MoU Alfa–Beta")
    agreement_id = agreement["id"]
    call("DELETE", f"/documents/{doc_id}", 409, headers=firm)  # an agreement refers to it
    call("GET", "/agreements", 200, headers=firm)
    call("GET", f"/agreements/{agreement_id}", 200, headers=firm)
    call("PATCH", f"/agreements/{agreement_id}", 200, headers=legal, json={"title": "MoU Alfa–Beta (rev.)"})
    call("PATCH", f"/agreements/{agreement_id}", 200, headers=legal,
         json={"signing_order": "parallel", "sign_by": "2099-01-31", "reminder_days": 3,
               "cc": [{"name": "Counsel", "email": "counsel@example.org"}]})
    call("PATCH", f"/agreements/{agreement_id}", 422, headers=legal, json={"reminder_days": 0, "sign_by": "2000-01-01"})
    call("POST", f"/agreements/{agreement_id}/drafts", 201, headers=legal)
    call("PATCH", f"/agreements/{agreement_id}", 200, headers=legal,
         json={"fields": {**mou_fields(org_it), "duration_years": 5}})
    call("POST", f"/agreements/{agreement_id}/drafts", 201, headers=legal, json={})
    call("GET", f"/agreements/{agreement_id}/drafts", 200, headers=firm)
    call("GET", f"/agreements/{agreement_id}/drafts/1.pdf", 200, headers=firm)
    call("GET", f"/agreements/{agreement_id}/drafts/2.docx", 200, headers=firm)
    call("GET", f"/agreements/{agreement_id}/drafts/compare?a=1&b=2", 200, headers=firm)
    call("GET", f"/agreements/{agreement_id}/drafts/compare?a=1", 422, headers=firm)

    # The lifecycle, then signatures: a refused digital copy, two wet-ink scans, executed.
    call("POST", f"/agreements/{agreement_id}/transitions", 409, headers=legal, json={"to": "executed"})
    for to, who in (("in_review", legal), ("approved", legal2), ("out_for_signature", legal)):
        call("POST", f"/agreements/{agreement_id}/transitions", 200, headers=who, json={"to": to})
    state = call("GET", f"/agreements/{agreement_id}/signatures", 200, headers=firm).get_json()
    first, second = (s["id"] for s in state["signatories"])
    # Signing links (issue 13): sent by e-mail (recorded here: no SMTP server), revoked.
    call("POST", f"/agreements/{agreement_id}/signatories/{first}/invitation", 201, headers=legal)
    call("POST", f"/agreements/{agreement_id}/signatories/{first}/invitation", 403, headers=firm)
    call("DELETE", f"/agreements/{agreement_id}/signatories/{first}/invitation", 200, headers=legal)
    frozen = client.get(f"{API}/agreements/{agreement_id}/drafts/{state['frozen_draft_version']}.pdf", headers=legal).data

    def sign(signatory_id: int, status: int, data: bytes, method: str, name: str, **form):
        return call("POST", f"/agreements/{agreement_id}/signatories/{signatory_id}/signature", status, headers=legal,
                    content_type="multipart/form-data",
                    data={"method": method, "signed_at": dt.datetime.now(dt.UTC).isoformat(),
                          "file": (io.BytesIO(data), name), **form})

    refused = sign(first, 422, frozen, "digital", "unsigned.pdf").get_json()
    assert refused["error"]["code"] == "signature_invalid" and refused["error"]["submission"]["is_valid"] is False
    # A firm user's own scan waits for legal's review (202), then counts once accepted.
    waiting = call("POST", f"/agreements/{agreement_id}/signatories/{first}/signature", 202, headers=firm,
                   content_type="multipart/form-data",
                   data={"method": "wet_ink", "file": (io.BytesIO(png_bytes()), "scan.png")}).get_json()
    assert waiting["submission"]["review_status"] == "pending"
    review_url = f"/agreements/{agreement_id}/signatories/{first}/submissions/{waiting['submission']['id']}/review"
    call("POST", review_url, 422, headers=legal, json={"decision": "reject"})
    call("POST", review_url, 403, headers=firm, json={"decision": "accept"})
    assert call("POST", review_url, 200, headers=legal, json={"decision": "accept"}).get_json()["submission"][
        "review_status"] == "accepted"
    call("POST", review_url, 409, headers=legal, json={"decision": "accept"})
    duplicate = sign(second, 409, png_bytes(), "wet_ink", "scan2.png").get_json()
    assert duplicate["error"]["code"] == "duplicate_signature_file"
    signed = sign(second, 201, png_bytes(), "wet_ink", "scan2.png", shared_counterpart="true").get_json()
    assert signed["agreement"]["status"] == "executed"
    submission_id = signed["submission"]["id"]
    call("GET", f"/agreements/{agreement_id}/certificate.pdf", 200, headers=firm)
    call("GET", f"/agreements/{agreement_id}/signatories/{second}/submissions/{submission_id}/content", 200,
         headers=legal)
    call("GET", f"/agreements/{agreement_id}/evidence", 200, headers=firm)
    checked = call("POST", "/verify", 200, headers=firm, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(frozen), "final.pdf")}).get_json()
    assert checked["agreements"][0]["agreement_id"] == agreement_id

    # A second agreement, declined by a signatory.
    other = new_agreement("MoU declinato")
    call("POST", f"/agreements/{other['id']}/drafts", 201, headers=legal)
    for to, who in (("in_review", legal), ("approved", legal2), ("out_for_signature", legal)):
        call("POST", f"/agreements/{other['id']}/transitions", 200, headers=who, json={"to": to})
    call("POST", f"/agreements/{other['id']}/signatories/{other['signatories'][1]['id']}/decline", 200, headers=legal,
         json={"reason": "Condizioni non accettabili."})

    # The audit trail and the figures.
    call("GET", f"/agreements/{agreement_id}/audit", 200, headers=firm)
    call("GET", "/audit/export", 200, headers=admin)
    call("GET", f"/audit/export?format=csv&agreement_id={agreement_id}", 200, headers=admin)
    call("GET", "/audit/export?format=xml", 422, headers=admin)
    call("GET", f"/agreements/{agreement_id}/audit/export?format=csv", 200, headers=legal)
    call("GET", "/audit/verify", 200, headers=admin)
    call("GET", "/inbox", 200, headers=legal2)
    call("GET", "/inbox", 403, headers=ministry)
    call("GET", f"/stats?session_id={forum['id']}", 200, headers=ministry)
    call("GET", "/stats", 200, headers=legal)

    # The task queue (administrators): work that failed, listed, then retried.
    enqueue_index(db.session, "report", 1)  # no indexer for "report": the task fails and waits for a retry
    db.session.commit()
    failed = call("GET", "/queue?status=failed", 200, headers=admin).get_json()["items"]
    assert [(t["task"], t["status"]) for t in failed] == [("search.index", "failed")]
    call("GET", "/queue", 200, headers=admin)
    call("GET", "/queue", 403, headers=legal)
    call("GET", "/queue?status=lost", 422, headers=admin)
    call("POST", f"/queue/{failed[0]['id']}/retry", 200, headers=admin)
    call("POST", "/queue/999999/retry", 404, headers=admin)
    # Sent mail (administrators): every message recorded (no SMTP server here: recorded, not sent).
    mail = call("GET", "/mail", 200, headers=admin).get_json()
    assert mail["counts"]["queued"] == 0
    call("GET", "/mail?status=not_sent", 200, headers=admin)
    call("GET", "/mail", 403, headers=legal)
    call("GET", "/mail?status=lost", 422, headers=admin)
    # Notification choices: one's own.
    call("GET", "/me/notifications", 200, headers=firm)
    call("PATCH", "/me/notifications", 200, headers=firm, json={"declined": False})
    call("PATCH", "/me/notifications", 422, headers=firm, json={"declined": "no"})
    # Webhooks (administrators), registered after the last status change here (nothing is delivered).
    hook = call("POST", "/webhooks", 201, headers=admin, json={
        "url": "https://hook.example.org/docmgr", "events": ["agreement.executed"], "secret": "x" * 20}).get_json()
    call("POST", "/webhooks", 422, headers=admin, json={"url": "http://hook.example.org/", "events": ["agreement.executed"]})
    call("GET", "/webhooks", 200, headers=admin)
    call("GET", "/webhooks", 403, headers=legal)
    call("PATCH", f"/webhooks/{hook['id']}", 200, headers=admin, json={"active": False})
    call("GET", f"/webhooks/{hook['id']}/deliveries", 200, headers=admin)
    call("DELETE", f"/webhooks/{hook['id']}", 204, headers=admin)
    call("DELETE", f"/webhooks/{hook['id']}", 404, headers=admin)

    # Tokens last: revoke one by id, then the one in use.
    listed = call("GET", "/auth/tokens", 200, headers=firm).get_json()
    spare = login("firm")
    call("DELETE", f"/auth/tokens/{listed[0]['id']}", 204, headers=spare)
    call("DELETE", "/auth/token", 204, headers=spare)
    call("GET", "/me", 401, headers=spare)

    missing = sorted(api_routes(app) - call.served)
    assert not missing, f"routes never answered successfully here (add a call): {missing}"


# --- the check is sharp: an undocumented field, or a field the spec drops, fails it -----------------


def _document_answer(client, token_for, make_user, make_document) -> tuple[dict[str, Any], dict[str, Any]]:
    user = make_user("firm")
    document = make_document(user)
    body = client.get(f"{API}/documents/{document.id}", headers=token_for(user)).get_json()
    spec = client.get(f"{API}/openapi.json").get_json()
    return spec, body


def _schema_of(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["paths"]["/api/v1/documents/{document_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("change", [
    lambda spec, body: body.update(secret="x"),  # a serializer adds an undocumented field
    lambda spec, body: body["files"][0].update(storage_path="/srv/x"),  # … in a nested shape
    lambda spec, body: body.pop("organization"),  # a serializer drops a documented field
    lambda spec, body: spec["components"]["schemas"]["Document"]["properties"].pop("languages"),  # the spec drops one
    lambda spec, body: body.update(created_at=None),  # a null where the spec says string
], ids=["extra_field", "extra_nested_field", "dropped_field", "spec_drops_field", "wrong_type"])
def test_the_check_fails_when_answer_and_spec_differ(client, token_for, make_user, make_document,
                                                     change: Callable[[dict, dict], Any]):
    spec, body = _document_answer(client, token_for, make_user, make_document)
    validator_for(spec, _schema_of(spec)).validate(body)  # as served: valid
    spec, body = copy.deepcopy(spec), copy.deepcopy(body)
    change(spec, body)
    with pytest.raises(ValidationError):
        validator_for(spec, _schema_of(spec)).validate(body)
