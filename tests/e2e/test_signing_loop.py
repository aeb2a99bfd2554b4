"""The signing loop end to end, against the live service (gunicorn + the queue worker), a real SMTP server
(aiosmtpd, the session's ``mailbox``) and a real webhook receiver on loopback:

a sequential two-step agreement goes out for signature → the Italian signatory's invitation arrives (in
Italian; the Russian one not yet) → its link is opened in Chromium, the one-time code read from the mail →
the signatory draws a signature and signs in the browser (sealed by docmgr) → the Russian invitation
arrives (in Russian) → a day passes (the worker's deadline check, run with the clock moved on): a reminder
arrives in Russian with a fresh link, and the invitation's link no longer opens → that signatory uploads a PAdES-signed PDF through their link → the agreement is
executed, the completion mail carries the certificate, and the webhook receiver got every status change
with a valid HMAC.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import DEMO, DEMO_PASSWORD, REPO_ROOT
from tests.security.conftest import mou_fields

pytestmark = pytest.mark.browser

SECRET = "e2e-webhook-secret-0123456789"
WAIT_SECONDS = 60


class Api:
    """The JSON API of the live server as one demo user (bearer token)."""

    def __init__(self, url: str, email: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.token = ""
        self.token = self.call("POST", "/auth/token", {"email": email, "password": DEMO_PASSWORD})["token"]

    def call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + "/api/v1" + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self.opener.open(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:  # say what the service answered
            raise AssertionError(f"{method} {path}: {error.code} {error.read()[:2000]!r}") from None


@pytest.fixture
def receiver():
    """A webhook endpoint on loopback: every POST's headers and raw body."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook
            received.append((dict(self.headers.items()), self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def wait_for(what: str, found):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def mail_to(mailbox, address: str) -> list[EmailMessage]:
    return [m for m in list(mailbox.messages) if address in str(m["To"])]


def invitations(mailbox, address: str) -> list[EmailMessage]:
    """The messages to ``address`` that carry a signing link (not status news nor codes)."""
    return [m for m in mail_to(mailbox, address) if "/sign/" in text_of(m)]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage, server_url: str) -> str:
    match = re.search(re.escape(server_url) + r"(/sign/[A-Za-z0-9_-]+)", text_of(message))
    assert match, text_of(message)
    return match.group(1)


def open_with_code(session, mailbox, address: str, path: str) -> None:
    """Open the link, have the code e-mailed, read it from the mail, enter it."""
    page = session.page
    session.goto(path)
    before = len(mail_to(mailbox, address))
    page.locator(f"form[action='{path}/code'] button[type=submit]").click()
    message = wait_for("the one-time code", lambda: mail_to(mailbox, address)[before:])[0]
    code = re.search(r"\b(\d{6})\b", text_of(message)).group(1)
    page.locator("#code").fill(code)
    page.locator(f"form[action='{path}/verify'] button[type=submit]").click()
    page.wait_for_selector("[data-verified]")


# What the worker's periodic ``signing.deadlines`` task runs, in a process of its own with the live server's
# configuration and the clock moved on by argv[1] seconds: reminders (mails handed to the live worker) and expiries.
DEADLINE_CHECK = """
import json, sys
from datetime import timedelta
from docmgr import create_app
from docmgr.database import utcnow
from docmgr.extensions import db
from docmgr.signing.flow import check_deadlines
app = create_app()
with app.app_context():
    done = check_deadlines(db.session, now=utcnow() + timedelta(seconds=float(sys.argv[1])))
    db.session.commit()
print(json.dumps(done))
"""


def deadline_check_later(live_server, seconds: float) -> dict[str, list[int]]:
    result = subprocess.run([sys.executable, "-c", DEADLINE_CHECK, str(seconds)], env=live_server.env,
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def pades_signed(frozen: bytes, directory) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from tests.signatures.conftest import _make_identity

    who = _make_identity(directory, "Анна Смирнова")
    signer = signers.SimpleSigner.load(who.key_path, who.cert_path)
    writer = IncrementalPdfFileWriter(__import__("io").BytesIO(frozen))
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="AnnaSignature"), signer=signer).getvalue()


def party_orgs(legal: Api) -> tuple[int, int]:
    """The demo's Italian and Russian organisations."""
    organizations = legal.call("GET", "/organizations")
    organizations = organizations["items"] if isinstance(organizations, dict) else organizations
    return (next(o["id"] for o in organizations if o["country"] == "IT"),
            next(o["id"] for o in organizations if o["country"] == "RU"))


def send_out(legal: Api, legal2: Api, agreement_id: int) -> None:
    """Render, review, approve (the second legal officer: four eyes) and send for signature."""
    legal.call("POST", f"/agreements/{agreement_id}/drafts", {})
    for to, who in (("in_review", legal), ("approved", legal2), ("out_for_signature", legal)):
        who.call("POST", f"/agreements/{agreement_id}/transitions", {"to": to})


def test_sequential_agreement_signed_in_the_browser_and_by_pades(live_server, mailbox, receiver, open_browser, shot,
                                                                 tmp_path):
    url, received = receiver
    admin, legal, legal2 = (Api(live_server.url, DEMO[who]) for who in ("admin", "legal", "legal2"))
    hook = admin.call("POST", "/webhooks", {"url": url, "events": ["agreement.status_changed"], "secret": SECRET})
    org_it, org_ru = party_orgs(legal)
    marco, anna = "marco.e2e@example.it", "anna.e2e@example.ru"
    signatories = [
        {"name": "Marco Bianchi", "title": "Direttore", "organization_id": org_it, "email": marco, "order": 1},
        {"name": "Анна Смирнова", "title": "Директор", "organization_id": org_ru, "email": anna, "order": 2},
    ]
    agreement = legal.call("POST", "/agreements", {
        "template": "mou", "title": "MoU e2e firma in sequenza", "organization_ids": [org_it, org_ru],
        "fields": mou_fields(org_it), "signatories": signatories})
    agreement_id = agreement["id"]
    sign_by = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    # How it is signed, set on the draft as the agreement page's form does: in turn, reminders daily, 30 days.
    legal.call("PATCH", f"/agreements/{agreement_id}", {"signing_order": "sequential", "signatories": signatories,
                                                        "reminder_days": 1, "sign_by": sign_by})
    send_out(legal, legal2, agreement_id)

    # Step 1: only the Italian signatory is invited, in Italian.
    invitation = wait_for("Marco's invitation", lambda: invitations(mailbox, marco))[0]
    assert invitation["Content-Language"] == "it"
    assert invitations(mailbox, anna) == []  # sequential: step 2 waits
    path = link_in(invitation, live_server.url)

    browser = open_browser(locale="it-IT")
    open_with_code(browser, mailbox, marco, path)
    page = browser.page
    form = page.locator("[data-signature-form]")
    form.locator("input[name=name]").fill("Marco Bianchi")
    canvas = form.locator("[data-signature-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 20 + step * 35, box["y"] + box["height"] * (0.7 - 0.4 * (step % 2)), steps=4)
    page.mouse.up()
    form.locator("input[name=consent]").check()
    shot(page, "drawn")
    with page.expect_navigation(timeout=120_000):  # sealing and verifying the seal take a few seconds
        form.locator("button[type=submit]").click(no_wait_after=True)
    page.wait_for_selector("[data-done='signed']")
    shot(page, "signed")

    # Step 2: the Russian signatory, invited in Russian once step 1 signed, uploads a PAdES-signed PDF.
    invitation = wait_for("Anna's invitation", lambda: invitations(mailbox, anna))[0]
    assert invitation["Content-Language"] == "ru"
    invited_path = link_in(invitation, live_server.url)

    # A day and five minutes later Anna has not acted: the deadline check reminds her (not Marco, who signed),
    # in Russian, with a fresh link; the agreement (sign-by in 30 days) does not expire.
    assert deadline_check_later(live_server, 86400 + 300) == {"expired": [], "reminded": [agreement_id]}
    reminder = wait_for("Anna's reminder", lambda: invitations(mailbox, anna)[1:])[0]
    assert reminder["Content-Language"] == "ru"
    assert len(invitations(mailbox, marco)) == 1
    path = link_in(reminder, live_server.url)
    assert path != invited_path
    browser = open_browser(locale="ru-RU")
    browser.guard.expect_console_error("status of 410")  # the replaced link answers 410 Gone, as it should
    assert browser.goto(invited_path).status == 410  # the invitation's link was replaced by the reminder's
    assert browser.page.locator("[data-link-state='revoked']").count() == 1
    shot(browser.page, "old-link")
    open_with_code(browser, mailbox, anna, path)
    page = browser.page
    frozen = page.request.get(live_server.url + path + "/document.pdf").body()
    signed = tmp_path / "signed.pdf"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # pyHanko runs its own event loop; Playwright's is running here
        signed.write_bytes(pool.submit(pades_signed, frozen, tmp_path).result())
    upload = page.locator(f"form[action='{path}/upload']")
    upload.locator("input[name=method][value=digital]").check()
    upload.locator("input[type=file]").set_input_files(str(signed))
    with page.expect_navigation(timeout=120_000):  # verification in the limited child, then execution
        upload.locator("button[type=submit]").click(no_wait_after=True)
    page.wait_for_selector("[data-done='signed']")
    shot(page, "uploaded")

    state = legal.call("GET", f"/agreements/{agreement_id}/signatures")
    assert state["status"] == "executed"
    methods = {s["name"]: s["method"] for s in state["signatories"]}
    assert methods == {"Marco Bianchi": "electronic", "Анна Смирнова": "digital"}

    # The completion mail carries the certificate.
    def completion():
        for message in mail_to(mailbox, marco) + mail_to(mailbox, anna):
            names = [part.get_filename() or "" for part in message.iter_attachments()]
            if any(name.endswith("-certificate.pdf") for name in names):
                return message
        return None

    message = wait_for("the completion mail with the certificate", completion)
    certificate = next(p for p in message.iter_attachments() if p.get_filename().endswith("-certificate.pdf"))
    assert certificate.get_content().startswith(b"%PDF")

    # The webhook receiver got every status change, each with a valid HMAC of its raw body.
    expected = ["in_review", "approved", "out_for_signature", "partially_signed", "executed"]

    def changes():
        mine = [json.loads(body) for _, body in received]
        statuses = [b["agreement"]["status"] for b in mine if b["agreement"]["id"] == agreement_id]
        return statuses if len(statuses) >= len(expected) else None

    assert sorted(wait_for("every status change at the webhook", changes), key=expected.index) == expected
    for headers, body in received:
        digest = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Docmgr-Signature"], digest)
    admin.call("DELETE", f"/webhooks/{hook['id']}")


def test_an_agreement_expires_at_its_deadline_with_no_human_action(live_server, mailbox, receiver):
    """Out for signature with a sign-by date of tomorrow; nobody acts. The worker's deadline check two days later
    moves it to ``expired`` by itself: the signatories are told (each in their language), legal is told, the webhook
    gets it."""
    url, received = receiver
    admin, legal, legal2 = (Api(live_server.url, DEMO[who]) for who in ("admin", "legal", "legal2"))
    hook = admin.call("POST", "/webhooks", {"url": url, "events": ["agreement.expired"], "secret": SECRET})
    org_it, org_ru = party_orgs(legal)
    giulia, oleg = "giulia.expiry@example.it", "oleg.expiry@example.ru"
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    agreement = legal.call("POST", "/agreements", {
        "template": "mou", "title": "MoU e2e scadenza", "organization_ids": [org_it, org_ru],
        "fields": mou_fields(org_it), "sign_by": tomorrow,
        "signatories": [{"name": "Giulia Verdi", "title": "Presidente", "organization_id": org_it, "email": giulia},
                        {"name": "Олег Петров", "title": "Директор", "organization_id": org_ru, "email": oleg}]})
    agreement_id = agreement["id"]
    send_out(legal, legal2, agreement_id)
    wait_for("Giulia's invitation", lambda: invitations(mailbox, giulia))

    assert deadline_check_later(live_server, 12 * 3600)["expired"] == []  # still within the sign-by day
    assert agreement_id in deadline_check_later(live_server, 2 * 86400)["expired"]
    assert legal.call("GET", f"/agreements/{agreement_id}/signatures")["status"] == "expired"

    subjects = ("Scaduto: MoU e2e scadenza", "Истёк срок: MoU e2e scadenza", "Expired: MoU e2e scadenza")

    def expiry_mail(address):
        return [m for m in mail_to(mailbox, address) if str(m["Subject"]) in subjects]

    message = wait_for("the expiry mail to the signatory", lambda: expiry_mail(giulia))[0]
    assert (str(message["Subject"]), message["Content-Language"]) == (subjects[0], "it")
    message = wait_for("the expiry mail to the other signatory", lambda: expiry_mail(oleg))[0]
    assert (str(message["Subject"]), message["Content-Language"]) == (subjects[1], "ru")
    wait_for("the expiry mail to legal", lambda: expiry_mail(DEMO["legal"]))

    def expired_hook():
        return [json.loads(body) for _, body in received
                if json.loads(body)["agreement"]["id"] == agreement_id and json.loads(body)["agreement"]["status"] == "expired"]

    wait_for("the expiry at the webhook", expired_hook)
    for headers, body in received:
        assert hmac.compare_digest(headers["X-Docmgr-Signature"],
                                   "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
    admin.call("DELETE", f"/webhooks/{hook['id']}")
