"""Every route of ``app.url_map``, tried by the wrong people: firm B with firm A's ids (404, never a leak),
the ministry on every state-changing route (403, nothing changed), and nobody at all (401 / login page).

The table below must name every (endpoint, method) of the app: a new route without an entry fails
``test_every_route_is_in_the_table``, so nobody can add one without saying who may use it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.security.conftest import SECRET_FILENAME, assert_no_secret, error_code, mou_fields, png_bytes, snapshot

Body = Callable[[object], dict]


def _json(data: dict) -> Body:
    return lambda world: {"json": data}


def _upload(**fields) -> Body:
    """A multipart body with a small valid file (fresh stream per request)."""

    def make(world) -> dict:
        return {"data": {**fields, "file": (io.BytesIO(b"Proposta di prova nel settore energetico."), "p.txt")},
                "content_type": "multipart/form-data"}

    return make


def _signature(world) -> dict:
    return {"data": {"method": "wet_ink", "file": (io.BytesIO(png_bytes()), "scan.png")},
            "content_type": "multipart/form-data"}


def _form(**fields) -> Body:
    return lambda world: {"data": dict(fields)}


def _new_agreement(world) -> dict:
    return {"json": {"template": "mou", "title": "X", "organization_ids": [world.ids["org_a"], world.ids["org_a2"]],
                     "fields": mou_fields(world.ids["org_a"])}}


@dataclass(frozen=True)
class Route:
    owned: bool = False  # its URL carries firm A's ids: firm B must get 404
    write: bool = False  # changes state: the ministry must be refused
    public: bool = False  # anonymous callers are served
    body: Body | None = None
    agreement: str = "agreement_exec"  # which of A's agreements the URL names
    query: str = ""
    ministry: int = 403  # what the ministry gets on a write
    owner_reads: bool = True  # firm A itself is served (False: staff only, firm A gets 403)


TEMPLATE_BODY = "<p>{{ title }}</p>"
ROUTES: dict[tuple[str, str], Route] = {
    # --- JSON API ---
    ("api.openapi_json", "GET"): Route(public=True),
    ("api.accounts_api.create_token", "POST"): Route(public=True),
    ("api.accounts_api.revoke_current_token", "DELETE"): Route(),  # one's own token: the ministry may, too
    ("api.accounts_api.list_tokens", "GET"): Route(),
    ("api.accounts_api.revoke_token", "DELETE"): Route(owned=True, write=True, ministry=404),
    ("api.accounts_api.me", "GET"): Route(),
    ("api.accounts_api.list_users", "GET"): Route(),
    ("api.accounts_api.create_user", "POST"): Route(write=True, body=_json(
        {"email": "new@example.org", "password": "long enough pw", "role": "legal"})),
    ("api.accounts_api.organizations", "GET"): Route(),
    ("api.accounts_api.create_organization", "POST"): Route(write=True, body=_json({"name": "New Org", "country": "IT"})),
    ("api.accounts_api.sessions", "GET"): Route(),
    ("api.accounts_api.create_session", "POST"): Route(write=True, body=_json(
        {"name": "Session X", "place": "Roma", "country": "IT", "starts_on": "2026-01-01", "ends_on": "2026-01-02"})),
    ("api.documents_api.list_documents", "GET"): Route(),
    ("api.documents_api.create_document", "POST"): Route(write=True, body=_upload(title_it="Nuova")),
    ("api.documents_api.get_document", "GET"): Route(owned=True),
    ("api.documents_api.update_document", "PATCH"): Route(owned=True, write=True, body=_json({"title_it": "Changed"})),
    ("api.documents_api.add_file", "POST"): Route(owned=True, write=True, body=_upload()),
    ("api.documents_api.file_content", "GET"): Route(owned=True),
    ("api.documents_api.file_pages", "GET"): Route(owned=True),
    ("api.documents_api.ocr_overview", "GET"): Route(),
    # The trash (issue 16): who may change a document moves it there; the ministry deletes nothing.
    ("api.documents_api.trash_document", "DELETE"): Route(owned=True, write=True),
    ("api.documents_api.restore_document", "POST"): Route(owned=True, write=True),
    ("api.documents_api.list_trash", "GET"): Route(),
    ("api.search_api.search", "GET"): Route(query="q=proposta"),
    ("api.search_api.similar", "GET"): Route(owned=True),
    ("api.drafting_api.list_templates", "GET"): Route(),
    ("api.drafting_api.create_template", "POST"): Route(write=True, body=_json(
        {"key": "newkey", "name": "New", "body": TEMPLATE_BODY})),
    ("api.drafting_api.get_template", "GET"): Route(),
    ("api.drafting_api.get_template_version", "GET"): Route(),
    ("api.drafting_api.create_template_version", "POST"): Route(write=True, body=_json({"body": TEMPLATE_BODY})),
    ("api.drafting_api.list_agreements", "GET"): Route(),
    ("api.drafting_api.create_agreement", "POST"): Route(write=True, body=_new_agreement),
    ("api.drafting_api.get_agreement", "GET"): Route(owned=True),
    ("api.drafting_api.update_agreement", "PATCH"): Route(owned=True, write=True, agreement="agreement_draft",
                                                          body=_json({"title": "Changed"})),
    ("api.drafting_api.render_draft", "POST"): Route(owned=True, write=True, agreement="agreement_draft"),
    ("api.drafting_api.list_drafts", "GET"): Route(owned=True),
    ("api.drafting_api.draft_pdf", "GET"): Route(owned=True),
    ("api.drafting_api.draft_docx", "GET"): Route(owned=True),
    ("api.drafting_api.compare_drafts", "GET"): Route(owned=True, query="a=1&b=1"),
    ("api.signatures_api.create_transition", "POST"): Route(owned=True, write=True, agreement="agreement_draft",
                                                            body=_json({"to": "in_review"})),
    ("api.signatures_api.signature_state", "GET"): Route(owned=True),
    ("api.signatures_api.upload_signature", "POST"): Route(owned=True, write=True, agreement="agreement_draft",
                                                           body=_signature),
    ("api.signatures_api.decline_signature", "POST"): Route(owned=True, write=True, agreement="agreement_draft",
                                                            body=_json({"reason": "No."})),
    # Reviewing a wet-ink scan (issue 13): legal staff and administrators only.
    ("api.signatures_api.review_submission", "POST"): Route(owned=True, write=True, body=_json({"decision": "accept"})),
    ("api.signatures_api.certificate", "GET"): Route(owned=True),
    ("api.signatures_api.submission_content", "GET"): Route(owned=True),
    ("api.signatures_api.evidence", "GET"): Route(owned=True),
    ("api.signatures_api.verify_file", "POST"): Route(body=_upload()),  # stores nothing: every role may check a file
    ("api.signatures_api.stats", "GET"): Route(),
    ("api.audit_api.agreement_audit", "GET"): Route(owned=True),
    ("api.audit_api.export_agreement", "GET"): Route(owned=True, owner_reads=False),
    ("api.audit_api.export", "GET"): Route(),
    ("api.audit_api.verify", "GET"): Route(),
    # --- pages ---
    ("static", "GET"): Route(public=True),
    ("accounts.login", "GET"): Route(public=True),
    ("accounts.login", "POST"): Route(public=True),
    ("accounts.logout", "POST"): Route(),
    ("accounts.account", "GET"): Route(),
    ("accounts.account", "POST"): Route(),  # one's own tokens; firm B on A's token: test_token_of_another_user
    ("accounts.admin_users", "GET"): Route(),
    ("accounts.admin_users", "POST"): Route(write=True, body=_form(
        email="new2@example.org", password="long enough pw", role="legal")),
    ("accounts.admin_organizations", "GET"): Route(),
    ("accounts.admin_organizations", "POST"): Route(write=True, body=_form(name="Org X", country="IT", kind="firm")),
    # Admin pages of one user, organisation or session: administrators only (everyone else 403, require_admin);
    # their rows are nobody's own, so they are tried by the ministry and anonymous callers, not by firm B.
    ("accounts.admin_user_edit", "GET"): Route(),
    ("accounts.admin_user_edit", "POST"): Route(write=True, body=_form(action="temporary_password")),
    ("accounts.admin_organization_edit", "GET"): Route(),
    ("accounts.admin_organization_edit", "POST"): Route(write=True, body=_form(name="Renamed", country="IT", kind="firm")),
    ("accounts.admin_session_edit", "GET"): Route(),
    ("accounts.admin_session_edit", "POST"): Route(write=True, body=_form(
        name="S2", place="Roma", country="IT", starts_on="2026-01-01", ends_on="2026-01-02")),
    # Passwords: "forgot password" and the e-mailed link need no account (the link's token is the credential);
    # changing one's own password needs the current one.
    ("accounts.forgot_password", "GET"): Route(public=True),
    ("accounts.forgot_password", "POST"): Route(public=True),
    ("accounts.reset_password", "GET"): Route(public=True),
    ("accounts.reset_password", "POST"): Route(public=True),
    ("accounts.change_password", "GET"): Route(),
    ("accounts.change_password", "POST"): Route(),
    # The inbox: legal staff and administrators (firms and the ministry get 403).
    ("signatures.inbox", "GET"): Route(),
    ("api.signatures_api.inbox", "GET"): Route(),
    ("accounts.admin_sessions", "GET"): Route(),
    ("accounts.admin_sessions", "POST"): Route(write=True, body=_form(
        name="S", place="Roma", country="IT", starts_on="2026-01-01", ends_on="2026-01-02")),
    ("documents.index", "GET"): Route(),
    ("documents.new", "GET"): Route(),
    ("documents.new", "POST"): Route(write=True, body=_upload(title_it="Nuova", kind="proposal")),
    ("documents.detail", "GET"): Route(owned=True),
    ("documents.add_file", "POST"): Route(owned=True, write=True, body=_upload()),
    ("documents.download", "GET"): Route(owned=True),
    ("documents.thumbnail", "GET"): Route(owned=True),
    ("documents.page_image", "GET"): Route(owned=True),
    ("documents.viewer", "GET"): Route(owned=True),
    ("documents.edit", "GET"): Route(owned=True),
    ("documents.edit", "POST"): Route(owned=True, write=True, body=_form(title_it="Changed")),
    ("documents.delete", "POST"): Route(owned=True, write=True),
    ("documents.trash_page", "GET"): Route(),
    ("documents.restore", "POST"): Route(owned=True, write=True),
    ("documents.retention", "GET"): Route(),  # administrators only (others 403)
    ("documents.retention", "POST"): Route(write=True, body=_form(days_proposal="10")),
    # Bulk actions name their documents in the body: firm B on A's ids is tests/documents/test_bulk.py.
    ("documents.bulk_action", "POST"): Route(write=True, body=_form(action="assign", ids="1", sectors="energy")),
    # Notes: legal staff and admins write, the ministry reads; firms neither (404 on others', 403 on their own).
    ("notes.add_document_note", "POST"): Route(owned=True, write=True, body=_form(body="Nota")),
    ("notes.add_agreement_note", "POST"): Route(owned=True, write=True, body=_form(body="Nota")),
    ("notes.delete", "POST"): Route(owned=True, write=True),
    ("search.search_page", "GET"): Route(query="q=proposta"),
    ("drafting.agreements", "GET"): Route(),
    ("drafting.new_agreement", "GET"): Route(),
    ("drafting.new_agreement", "POST"): Route(write=True, body=lambda w: {"data": {
        "template": "mou", "title": "X", "organization_ids": [str(w.ids["org_a"]), str(w.ids["org_a2"])]}}),
    ("drafting.detail", "GET"): Route(owned=True),
    ("drafting.edit", "GET"): Route(owned=True, agreement="agreement_draft", owner_reads=False),
    ("drafting.edit", "POST"): Route(owned=True, write=True, agreement="agreement_draft", body=_form(title="Changed")),
    ("drafting.preview", "GET"): Route(owned=True, agreement="agreement_draft"),
    ("drafting.render_draft", "POST"): Route(owned=True, write=True, agreement="agreement_draft"),
    ("drafting.download_pdf", "GET"): Route(owned=True),
    ("drafting.download_docx", "GET"): Route(owned=True),
    ("drafting.compare", "GET"): Route(owned=True, query="a=1&b=1"),
    ("drafting.templates", "GET"): Route(),
    ("drafting.template_detail", "GET"): Route(),
    ("drafting.template_new", "GET"): Route(),
    ("drafting.template_new", "POST"): Route(write=True, body=_form(key="newkey2", name="N", body=TEMPLATE_BODY)),
    ("drafting.template_diff", "GET"): Route(query="a=1&b=1"),
    ("api.drafting_api.preview_template", "POST"): Route(write=True, body=_json({"name": "N", "body": TEMPLATE_BODY})),
    ("drafting.template_new_version", "GET"): Route(),
    ("drafting.template_new_version", "POST"): Route(write=True, body=_form(name="N", body=TEMPLATE_BODY)),
    ("signatures.dashboard", "GET"): Route(),
    ("signatures.agreement", "GET"): Route(owned=True),
    ("signatures.transition", "POST"): Route(owned=True, write=True, agreement="agreement_draft",
                                             body=_form(to="in_review")),
    ("signatures.upload_signature", "POST"): Route(owned=True, write=True, agreement="agreement_draft", body=_signature),
    ("signatures.decline", "POST"): Route(owned=True, write=True, agreement="agreement_draft", body=_form(reason="No.")),
    # Signing in the browser: only a firm user named on the row (the ministry and staff get 403).
    ("signatures.sign_in_browser", "POST"): Route(owned=True, write=True, agreement="agreement_draft",
                                                  body=_form(name="X", typed_signature="X", consent="yes")),
    ("signatures.certificate", "GET"): Route(owned=True),
    ("signatures.submission", "GET"): Route(owned=True),
    ("signatures.evidence", "GET"): Route(owned=True),
    ("signatures.verify", "GET"): Route(),
    ("signatures.verify", "POST"): Route(body=_upload()),
    ("audit.index", "GET"): Route(),
    # The task queue: administrators only; its rows belong to no organisation (see the row-id rule below).
    ("api.tasks_api.queue", "GET"): Route(),
    ("api.tasks_api.retry", "POST"): Route(write=True),
    ("tasks.index", "GET"): Route(),
    ("tasks.retry", "POST"): Route(write=True),
    # Login throttles: administrators only (a firm or the ministry gets 403 from require_admin).
    ("accounts.admin_throttles", "GET"): Route(),
    ("accounts.admin_throttles", "POST"): Route(write=True, body=_form(email="x@example.org", remote_addr="127.0.0.9")),
    ("api.accounts_api.list_throttles", "GET"): Route(),
    ("api.accounts_api.lift_throttle", "POST"): Route(write=True, body=_json(
        {"email": "x@example.org", "remote_addr": "127.0.0.9"})),
    # Sent mail: administrators only.
    ("mail.index", "GET"): Route(),
    ("api.mail_api.mail", "GET"): Route(),
    # Signing links: legal sends or revokes them on an agreement it may see; firm B gets 404 on A's agreement.
    ("api.signing_api.invite", "POST"): Route(owned=True, write=True, agreement="agreement_draft"),
    ("api.signing_api.revoke", "DELETE"): Route(owned=True, write=True, agreement="agreement_draft"),
    # The link holder's pages need no account: the secret token in the URL is the credential (an unknown token
    # gets a 410 page and changes nothing: tests/signing).
    ("signing.page", "GET"): Route(public=True),
    ("signing.send_code", "POST"): Route(public=True),
    ("signing.verify", "POST"): Route(public=True),
    ("signing.document", "GET"): Route(public=True),
    ("signing.upload", "POST"): Route(public=True),
    ("signing.decline", "POST"): Route(public=True),
    ("signing.sign", "POST"): Route(public=True),
    # Legal compares a wet-ink scan with the signature page: whoever may read the agreement's submissions.
    ("signatures.review_scan", "GET"): Route(owned=True),
    ("signatures.review_page", "GET"): Route(owned=True),
    ("signatures.review_submission", "POST"): Route(owned=True, write=True, body=_form(decision="accept")),
    ("drafting.signing_settings", "POST"): Route(owned=True, write=True, agreement="agreement_draft",
                                                  body=_form(signing_order="parallel")),
    # A completion mail's download link (files too large to attach): the signed token is the credential.
    ("signing.executed_file", "GET"): Route(public=True),
    # Everyone chooses their own status mails (the ministry too: it changes nothing but its own choice).
    ("mail.notifications", "GET"): Route(),
    ("mail.notifications", "POST"): Route(body=_form(events="executed")),
    ("api.mail_api.my_notifications", "GET"): Route(),
    ("api.mail_api.update_my_notifications", "PATCH"): Route(body=_json({"executed": True})),
    # Webhooks: administrators only; endpoints belong to no organisation (see the row-id rule below).
    ("api.webhooks_api.webhooks", "GET"): Route(),
    ("api.webhooks_api.create", "POST"): Route(write=True, body=_json(
        {"url": "https://hook.example.org/x", "events": ["agreement.executed"]})),
    ("api.webhooks_api.update", "PATCH"): Route(write=True, body=_json({"active": False})),
    ("api.webhooks_api.delete", "DELETE"): Route(write=True),
    ("api.webhooks_api.deliveries", "GET"): Route(),
    ("webhooks.index", "GET"): Route(),
    ("webhooks.create", "POST"): Route(write=True, body=_form(url="https://hook.example.org/x",
                                                              events="agreement.executed")),
    ("webhooks.set_active", "POST"): Route(write=True, body=_form(active="false")),
    ("webhooks.delete", "POST"): Route(write=True),
    # Saved searches: each user's own (the ministry too: saving a search changes nobody's data); another
    # user's id answers 404 like a missing one.
    ("api.documents_api.document_processing", "GET"): Route(owned=True),  # what the worker still does for it
    ("api.saved_searches_api.list_saved_searches", "GET"): Route(),
    ("api.saved_searches_api.save_search", "POST"): Route(body=_json({"name": "Mine", "q": "proposta"})),
    ("api.saved_searches_api.update_saved_search", "PATCH"): Route(owned=True, body=_json({"name": "Renamed"})),
    ("api.saved_searches_api.delete_saved_search", "DELETE"): Route(owned=True),
    ("saved_searches.index", "GET"): Route(),
    ("saved_searches.save", "POST"): Route(body=_form(name="Mine", q="proposta")),
    ("saved_searches.edit", "POST"): Route(owned=True, body=_form(name="Renamed")),
    ("saved_searches.delete", "POST"): Route(owned=True),
}


ADMIN_ROWS = frozenset({"accounts.admin_user_edit", "accounts.admin_organization_edit", "accounts.admin_session_edit"})


def _rules(app):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def url_for_rule(world, rule, route: Route) -> str:
    """The rule's path with firm A's ids (the agreement the route entry names)."""
    ids = world.ids
    draft = route.agreement == "agreement_draft"
    values = {
        "document_id": ids["doc_a"], "file_id": ids["file_a"], "page": 1, "agreement_id": ids[route.agreement],
        "version": 1, "signatory_id": ids["signatory_draft" if draft else "signatory_exec"],
        "submission_id": ids["submission_exec"], "token_id": ids["token_a"], "key": "mou", "filename": "css/app.css",
        "task_id": 1, "webhook_id": 1, "token": "not-a-signing-link-token", "saved_search_id": ids["saved_search_a"],
        "user_id": world.users["firm_a"].id, "org_id": ids["org_a"], "session_id": 1, "note_id": ids["note_a"],
    }
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(values[name]), path)
    return path + (f"?{route.query}" if route.query else "")


def _send(client, method: str, url: str, route: Route, world, headers=None, csrf: str | None = None):
    kwargs = route.body(world) if route.body else {}
    if csrf is not None and not url.startswith("/api/"):
        kwargs.setdefault("data", {})["csrf_token"] = csrf
    return client.open(url, method=method, headers=headers or {}, **kwargs)


def _cases(predicate, methods=("GET", "POST", "PATCH", "DELETE"), *, api: bool | None = None):
    return [pytest.param(endpoint, method, id=f"{endpoint}-{method}") for (endpoint, method), route in ROUTES.items()
            if predicate(route) and method in methods and (api is None or endpoint.startswith("api.") == api)]


def test_every_route_is_in_the_table(world):
    present = {(rule.endpoint, method) for rule, method in _rules(world.app)}
    missing = sorted(present - set(ROUTES))
    stale = sorted(set(ROUTES) - present)
    assert not missing, f"routes without a security entry (add them to ROUTES): {missing}"
    assert not stale, f"entries for routes that no longer exist: {stale}"


def test_every_route_with_an_id_is_tried_as_an_outsider(world):
    """Every rule that takes an id of a row (not a template key or a static path) is marked owned."""
    for rule, method in _rules(world.app):
        row_ids = set(rule.arguments) - {"key", "filename", "page", "version", "task_id", "webhook_id", "token"}  # queue rows, webhooks: admin only;
        # a signing link's token is its holder's secret, not a row id
        if rule.endpoint in ADMIN_ROWS:  # administrators' pages of one row: everyone else gets 403 (require_admin)
            continue
        if row_ids and (rule.endpoint, method) != ("api.accounts_api.revoke_token", "DELETE"):
            assert ROUTES[(rule.endpoint, method)].owned, (rule.endpoint, method)


def _rule_for(world, endpoint: str, method: str):
    for rule, rule_method in _rules(world.app):
        if rule.endpoint == endpoint and rule_method == method:
            return rule
    raise AssertionError(endpoint)


@pytest.mark.parametrize(("endpoint", "method"), _cases(lambda r: r.owned))
def test_firm_b_gets_404_on_firm_a_ids(world, endpoint, method):
    route = ROUTES[(endpoint, method)]
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    is_api = url.startswith("/api/")
    headers = world.token("firm_b") if is_api else {}
    client, csrf = (world.app.test_client(), None) if is_api else world.browser("firm_b")
    before = snapshot(world.app)
    response = _send(client, method, url, route, world, headers=headers, csrf=csrf)
    assert response.status_code == 404, (url, response.status_code, response.get_data(as_text=True)[:300])
    if is_api:
        assert response.mimetype == "application/json"
        assert error_code(response).endswith("not_found"), response.get_json()
    assert_no_secret(response.get_data(as_text=True), url)
    assert snapshot(world.app) == before


@pytest.mark.parametrize(("endpoint", "method"), _cases(lambda r: r.owned, ("GET",)))
def test_firm_a_itself_is_served_on_its_reads(world, endpoint, method):
    """The other side of the 404s above: the same URLs work for the owner, so the 404 is about who asks.
    (Writes by the owner are the modules' own tests.)"""
    route = ROUTES[(endpoint, method)]
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    if url.startswith("/api/"):
        response = world.app.test_client().get(url, headers=world.token("firm_a"))
    else:
        response = world.browser("firm_a")[0].get(url)
    if not route.owner_reads:
        assert response.status_code == 403, (url, response.status_code)
    else:
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])


@pytest.mark.parametrize(("endpoint", "method"), _cases(lambda r: r.write))
def test_ministry_cannot_change_anything(world, endpoint, method):
    route = ROUTES[(endpoint, method)]
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    is_api = url.startswith("/api/")
    headers = world.token("ministry") if is_api else {}
    client, csrf = (world.app.test_client(), None) if is_api else world.browser("ministry")
    before = snapshot(world.app)
    response = _send(client, method, url, route, world, headers=headers, csrf=csrf)
    assert response.status_code == route.ministry, (url, response.status_code, response.get_data(as_text=True)[:400])
    if is_api:
        assert response.mimetype == "application/json"
    assert snapshot(world.app) == before


@pytest.mark.parametrize(("endpoint", "method"), _cases(lambda r: not r.public))
def test_anonymous_is_sent_to_log_in(world, endpoint, method):
    route = ROUTES[(endpoint, method)]
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    before = snapshot(world.app)
    response = _send(world.app.test_client(), method, url, route, world)
    if url.startswith("/api/"):
        assert response.status_code == 401, (url, response.status_code)
        assert response.mimetype == "application/json"
        assert error_code(response) == "not_authenticated"
    elif method == "GET":
        assert response.status_code == 302, (url, response.status_code)
        assert response.headers["Location"].startswith("/login")
    else:
        # A form post without a session has no CSRF token either: refused before anything else.
        assert response.status_code == 400, (url, response.status_code)
        assert 'data-code="csrf_failed"' in response.get_data(as_text=True), url
    assert_no_secret(response.get_data(as_text=True), url)
    assert snapshot(world.app) == before


@pytest.mark.parametrize(("endpoint", "method"), _cases(lambda r: not r.public and r.owned, ("POST",), api=False))
def test_anonymous_form_post_with_a_valid_csrf_token_is_sent_to_log_in(world, endpoint, method):
    """Past the CSRF check (a token from the login page), a page still wants a logged-in user."""
    route = ROUTES[(endpoint, method)]
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    client = world.app.test_client()
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    before = snapshot(world.app)
    response = _send(client, method, url, route, world, csrf=token)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login"), (url, response.status_code)
    assert snapshot(world.app) == before


def test_token_of_another_user_cannot_be_revoked(world):
    """Firm B cannot revoke firm A's token, neither through the API nor through the account page."""
    url = f"/api/v1/auth/tokens/{world.ids['token_a']}"
    before = snapshot(world.app)
    assert world.app.test_client().delete(url, headers=world.token("firm_b")).status_code == 404
    client, csrf = world.browser("firm_b")
    response = client.post("/account", data={"action": "revoke_token", "token_id": world.ids["token_a"],
                                             "csrf_token": csrf})
    assert response.status_code == 404
    assert snapshot(world.app) == before
    assert world.app.test_client().get("/api/v1/me", headers=world.token("firm_a")).status_code == 200


def test_listings_and_facets_do_not_count_firm_a(world):
    client = world.app.test_client()
    headers = world.token("firm_b")
    for url in ("/api/v1/documents", "/api/v1/agreements", "/api/v1/search?q=ALPHASECRETTITLE",
                "/api/v1/search?q=", "/api/v1/search?q=trivial"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        assert_no_secret(response.get_data(as_text=True), url)
    body = client.get("/api/v1/search?q=", headers=headers).get_json()
    organizations = body["facets"].get("organization", {})
    assert str(world.ids["org_a"]) not in organizations and "Alphasecret Firm S.r.l." not in str(organizations)
    assert body["total"] == 1  # firm B's own document only
    browser, _ = world.browser("firm_b")
    for url in ("/", "/search?q=", "/agreements", "/templates", "/search?q=trivial"):
        response = browser.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.get_data(as_text=True), url)
    # The query itself is echoed back; the document it names is not.
    page = browser.get("/search?q=ALPHASECRETTITLE").get_data(as_text=True)
    assert f'/documents/{world.ids["doc_a"]}"' not in page and SECRET_FILENAME not in page
    hits = client.get("/api/v1/search?q=ALPHASECRETTITLE", headers=world.token("legal")).get_json()
    assert hits["total"] == 1  # the same query finds it for someone who may see it


@pytest.mark.parametrize("url", [
    "/documents/..%2f..%2fetc", "/documents/..%2F..%2Fetc%2Fpasswd", "/documents/-1", "/documents/1e3",
    "/documents/%2e%2e", "/api/v1/documents/..%2f..%2fetc", "/api/v1/documents/99999999999999999999999",
    "/agreements/0x1", "/static/..%2f..%2fconfig.py", "/static/../../docmgr/config.py",
])
def test_odd_ids_in_urls_are_404(world, url):
    browser, _ = world.browser("legal")
    response = browser.get(url) if not url.startswith("/api/") else world.app.test_client().get(
        url, headers=world.token("legal"))
    assert response.status_code == 404, (url, response.status_code)
    assert "SECRET_KEY" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("outer", "inner"), [
    ("/api/v1/documents/{doc_b}/files/{file_a}/content", "file of A under document B"),
    ("/documents/{doc_b}/files/{file_a}/download", "file of A under document B (page)"),
    ("/documents/{doc_b}/files/{file_a}/thumbnail.png", "thumbnail of A's file under B"),
    ("/documents/{doc_b}/files/{file_a}/pages/1.png", "page image of A's file under B"),
    ("/api/v1/documents/{doc_b}/files/{file_a}/pages", "pages of A's file under B"),
    ("/api/v1/agreements/{agreement_draft}/signatories/{signatory_exec}/submissions/{submission_exec}/content",
     "submission of agreement 1 under agreement 2"),
    ("/api/v1/agreements/{agreement_exec}/signatories/{signatory_draft}/submissions/{submission_exec}/content",
     "submission under a signatory of another agreement"),
    ("/agreements/{agreement_draft}/signatures/{signatory_exec}/submissions/{submission_exec}",
     "submission page of agreement 1 under agreement 2"),
])
def test_nested_ids_must_belong_together(world, outer, inner):
    """Firm B owns document B; a legal officer sees both agreements: neither may reach a child through the
    wrong parent."""
    url = outer.format(**world.ids)
    who = "firm_b" if "doc_b" in outer else "legal"
    if url.startswith("/api/"):
        response = world.app.test_client().get(url, headers=world.token(who))
    else:
        response = world.browser(who)[0].get(url)
    assert response.status_code == 404, (inner, response.status_code)
    assert_no_secret(response.get_data(as_text=True), inner)


@pytest.mark.parametrize("method", ["decline", "signature"])
def test_signatory_of_one_agreement_under_another(world, method):
    url = f"/api/v1/agreements/{world.ids['agreement_draft']}/signatories/{world.ids['signatory_exec']}/{method}"
    body = {"json": {"reason": "No."}} if method == "decline" else _signature(world)
    before = snapshot(world.app)
    response = world.app.test_client().post(url, headers=world.token("legal"), **body)
    assert response.status_code == 404, response.get_json()
    assert snapshot(world.app) == before


def test_draft_of_one_agreement_under_another(world):
    """Version 2 exists only for the draft agreement: asked for under the executed one, it is 404 (pdf, docx,
    page and API), while the right parent serves it."""
    client = world.app.test_client()
    headers = world.token("legal")
    draft_id, executed_id = world.ids["agreement_draft"], world.ids["agreement_exec"]
    versions = [d["version"] for d in client.get(f"/api/v1/agreements/{draft_id}/drafts", headers=headers).get_json()]
    if 2 not in versions:
        assert client.post(f"/api/v1/agreements/{draft_id}/drafts", headers=headers).status_code == 201
    assert client.get(f"/api/v1/agreements/{draft_id}/drafts/2.pdf", headers=headers).status_code == 200
    browser = world.browser("legal")[0]
    for url in (f"/api/v1/agreements/{executed_id}/drafts/2.pdf", f"/api/v1/agreements/{executed_id}/drafts/2.docx",
                f"/agreements/{executed_id}/drafts/2.pdf", f"/agreements/{executed_id}/drafts/2.docx",
                f"/api/v1/agreements/{executed_id}/drafts/0.docx"):
        response = client.get(url, headers=headers) if url.startswith("/api/") else browser.get(url)
        assert response.status_code == 404, url
        if url.startswith("/api/"):
            assert error_code(response).endswith("not_found"), url
    compare = client.get(f"/api/v1/agreements/{executed_id}/drafts/compare?a=1&b=2", headers=headers)
    assert compare.status_code == 404, compare.get_json()
