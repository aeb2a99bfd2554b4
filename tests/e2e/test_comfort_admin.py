"""Issue 16, legal staff and admins: the inbox (legal's landing page), the audit log's filters, an admin's edit of a
user with a confirmed deactivation, a template uploaded as two files with its live preview and version diff, and
password resets (a temporary password by an admin, and "forgot password")."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO, DEMO_PASSWORD

pytestmark = pytest.mark.browser

INBOX_TITLE = "MoU Inbox e2e – Proverka"
FIELDS = [
    {"name": "subject_it", "label_it": "Oggetto", "label_ru": "Предмет", "type": "text", "required": True},
    {"name": "budget", "label_it": "Bilancio", "label_ru": "Бюджет", "type": "number"},
]
BODY = """<section class="title"><div lang="it"><h1>{{ title_it }}</h1></div><div lang="ru"><h1>{{ title_ru }}</h1></div></section>
<section><div lang="it"><h2>Oggetto</h2><p>{{ fields.subject_it }}</p></div>
<div lang="ru"><h2>Предмет</h2><p>{{ fields.subject_it }}</p></div></section>
"""


def _api(server, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(server.url + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read())


def _agreement_in_review(server) -> int:
    """legal writes an MoU, renders a draft and submits it: legal2 is the one to review it."""
    token = _api(server, "POST", "/auth/token", {"email": DEMO["legal"], "password": DEMO_PASSWORD})["token"]
    orgs = _api(server, "GET", "/organizations", token=token)
    orgs = orgs["items"] if isinstance(orgs, dict) else orgs
    it = next(o for o in orgs if o["country"] == "IT")
    ru = next(o for o in orgs if o["country"] == "RU")
    agreement = _api(server, "POST", "/agreements", {
        "template": "mou", "title": INBOX_TITLE, "organization_ids": [it["id"], ru["id"]],
        "fields": {"subject_it": "la formazione tecnica", "subject_ru": "техническое обучение",
                   "sectors": ["Meccanica / Механика"], "effective_date": "2026-11-25", "duration_years": 2,
                   "budget_eur": 5000.0, "signing_place_it": "Torino", "signing_place_ru": "Турин", "coordinator": it["id"]},
        "signatories": [{"name": "Paolo Neri", "title": "Direttore", "organization_id": it["id"], "email": "p@example.org"},
                        {"name": "Ольга Петрова", "title": "Директор", "organization_id": ru["id"], "email": "o@example.org"}],
    }, token)
    _api(server, "POST", f"/agreements/{agreement['id']}/drafts", {}, token)
    _api(server, "POST", f"/agreements/{agreement['id']}/transitions", {"to": "in_review"}, token)
    return agreement["id"]


def test_inbox_is_where_legal_lands(open_browser, live_server, shot):
    agreement_id = _agreement_in_review(live_server)
    reviewer = open_browser("legal2")
    page = reviewer.page
    assert page.url.endswith("/inbox"), page.url  # the landing page after login
    section = page.locator("#drafts-to-review")
    expect(section.get_by_role("link", name=INBOX_TITLE)).to_be_visible()
    for heading in ("Drafts to review", "Approvals waiting", "Signatures overdue", "Declines"):
        expect(page.get_by_role("heading", name=re.compile(heading))).to_be_visible()
    shot(page, "1-inbox")
    # For its author the same agreement waits for a colleague's approval.
    author = open_browser("legal")
    expect(author.page.locator("#approvals-waiting").get_by_role("link", name=INBOX_TITLE)).to_be_visible()
    section.get_by_role("link", name=INBOX_TITLE).click()
    page.wait_for_url(f"**/agreements/{agreement_id}")


def test_audit_log_in_words_with_filters(open_browser, live_server, shot):
    _agreement_in_review(live_server)
    admin = open_browser("admin")
    page = admin.page
    admin.goto("/audit")
    expect(page.locator("[data-chain=ok]")).to_be_visible()
    page.get_by_label("Action").select_option(label="Agreement status changed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"action=agreement\.transition"))
    rows = page.locator("table.audit-log tbody tr")
    expect(rows.first).to_contain_text("Agreement status changed")
    expect(page.locator("table.audit-log")).to_contain_text("Draft → In review")
    assert rows.count() == page.locator("tr[data-action='agreement.transition']").count()
    shot(page, "1-action")
    legal_id = page.locator("#actor_id option", has_text=DEMO["legal"]).first.get_attribute("value")
    page.get_by_label("Person").select_option(legal_id)
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("To", exact=True).fill("2099-12-31")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"actor_id=\d+"))
    expect(page.locator("table.audit-log")).not_to_contain_text("User #")
    shot(page, "2-person-and-time")
    admin.guard.expect_console_error("status of 422")  # the refused filter below answers 422, as it should
    page.get_by_label("From", exact=True).fill("2099-12-31")
    page.get_by_label("To", exact=True).fill("2020-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("[role=alert]").first).to_contain_text("The start date is after the end date")


def test_admin_edits_a_user_and_confirms_a_deactivation(open_browser, shot):
    admin = open_browser("admin")
    page = admin.page
    admin.goto("/admin/users")
    expect(page.get_by_label("Role")).to_have_value("firm")  # the new-user form starts at the least privilege
    page.get_by_role("link", name="firm.it2@demo.docmgr.test").click()
    page.wait_for_url(re.compile(r"/admin/users/\d+$"))
    shot(page, "1-edit")
    page.get_by_label("Name").fill("Giulia Seconda (e2e)")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Giulia Seconda (e2e)")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("heading", name="Deactivate firm.it2@demo.docmgr.test?")).to_be_visible()
    shot(page, "2-confirm")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("section.card").filter(has_text="State")).to_contain_text("active")
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_role("button", name="Yes, deactivate").click()
    expect(page.locator("section.card").filter(has_text="State")).to_contain_text("deactivated")
    page.get_by_role("button", name="Activate").click()  # leave the demo user as it was
    expect(page.locator("section.card").filter(has_text="State")).not_to_contain_text("deactivated")
    admin.goto("/admin/organizations")
    page.locator("table a").first.click()
    page.wait_for_url(re.compile(r"/admin/organizations/\d+$"))
    shot(page, "3-organisation")


def test_template_upload_with_live_preview_and_diff(open_browser, tmp_path, shot):
    fields_file, body_file = tmp_path / "fields.json", tmp_path / "body.html.j2"
    fields_file.write_text(json.dumps(FIELDS, ensure_ascii=False, indent=2), encoding="utf-8")
    body_file.write_text(BODY, encoding="utf-8")
    legal = open_browser("legal")
    page = legal.page
    legal.goto("/templates/new")
    page.get_by_label("Key (lower-case letters, digits, - and _)").fill("lettera-e2e")
    page.get_by_label("Name (Italian)").fill("Lettera di intenti")
    page.get_by_label("Fields (JSON file)").set_input_files(str(fields_file))
    page.get_by_label("Body (HTML/Jinja file)").set_input_files(str(body_file))
    preview = page.locator("[data-preview-body]")
    # The live preview follows the chosen files (three sandboxed renders on a shared machine: give it time).
    expect(preview).to_contain_text("Предмет", timeout=30_000)
    expect(page.locator("#body")).to_have_value(BODY)
    shot(page, "1-live-preview")
    page.get_by_role("button", name="Preview with sample values").click()
    expect(page.locator("[data-preview-body]")).to_contain_text("Lettera di intenti")
    # A syntax error is shown with its line while typing (the preview request is answered 422).
    legal.guard.expect_console_error("status of 422")
    page.locator("#body").fill(BODY + "{% if %}\n")
    expect(page.locator("[data-preview-status]")).to_contain_text("Line 4", timeout=30_000)
    page.locator("#body").fill(BODY)
    expect(page.locator("[data-preview-status]")).not_to_contain_text("Line 4", timeout=30_000)
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_url("**/templates/lettera-e2e")
    page.get_by_role("link", name="New version").click()
    page.locator("#body").fill(BODY.replace("<h2>Oggetto</h2>", "<h2>Oggetto della lettera</h2>"))
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_url("**/templates/lettera-e2e")
    page.get_by_role("link", name="changes from v1").click()
    expect(page.locator(".diff-add")).to_contain_text("Oggetto della lettera")
    expect(page.locator(".diff-remove")).to_contain_text("<h2>Oggetto</h2>")
    shot(page, "2-diff")


def test_password_reset_by_an_admin_and_forgot_password(open_browser, shot):
    admin = open_browser("admin")
    page = admin.page
    admin.goto("/admin/users")
    page.get_by_role("link", name="firm.ru2@demo.docmgr.test").click()
    page.get_by_role("button", name="Set a temporary password").click()
    temporary = page.locator("[data-temporary-password]").inner_text().strip()
    assert len(temporary) >= 16
    shot(page, "1-temporary")

    user = open_browser()
    user_page = user.page
    user.goto("/login")
    user_page.get_by_label("E-mail").fill("firm.ru2@demo.docmgr.test")
    user_page.get_by_label("Password").fill(temporary)
    user_page.get_by_label("Password").press("Enter")
    user_page.wait_for_url("**/password/change")
    shot(user_page, "2-change")
    user_page.get_by_label("Current password").fill(temporary)
    user_page.locator("#password").fill(DEMO_PASSWORD + "!")
    user_page.get_by_label("The new password again").fill(DEMO_PASSWORD + "!")
    user_page.get_by_role("button", name="Save the new password").click()
    expect(user_page.locator(".flash.success")).to_contain_text("Your password was changed.")
    # Put the demo password back, through the same page.
    user.goto("/password/change")
    user_page.get_by_label("Current password").fill(DEMO_PASSWORD + "!")
    user_page.locator("#password").fill(DEMO_PASSWORD)
    user_page.get_by_label("The new password again").fill(DEMO_PASSWORD)
    user_page.get_by_role("button", name="Save the new password").click()
    expect(user_page.locator(".flash.success")).to_be_visible()

    anonymous = open_browser()
    anonymous.goto("/login")
    anonymous.page.get_by_role("link", name="Forgot your password?").click()
    anonymous.page.get_by_label("E-mail").fill("nobody-e2e@example.org")
    anonymous.page.get_by_role("button", name="Send the link").click()
    expect(anonymous.page.locator("[data-sent]")).to_contain_text("If an account uses this address")
    shot(anonymous.page, "3-forgot")
