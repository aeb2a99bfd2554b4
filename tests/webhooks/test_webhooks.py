"""Webhooks against a real HTTP receiver on loopback (http.server in a thread): every status change is POSTed
by the queue — never by the request that caused it — with a valid HMAC-SHA256 of the raw body; a failing, a
hanging (short timeout) and a redirecting endpoint are logged and retried with back-off; bad registrations are
refused with 422 and change nothing; only administrators manage endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from docmgr.database import utcnow
from docmgr.extensions import db
from docmgr.tasks.models import OutboxTask
from docmgr.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

SECRET = "s3cret-key-for-the-receiver-0123"


@dataclass
class Receiver:
    """What the endpoint received; ``mode`` is how it answers: ok, fail (500), hang, drip (slowly), redirect."""

    url: str = ""
    mode: str = "ok"
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((dict(self.headers.items()), body))
            if state.mode == "hang":
                state.release.wait(5)
                return
            if state.mode == "drip":  # answers at once, then one byte every 0.2 s: no read ever waits long
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    if state.release.wait(0.2):
                        return
                    self.wfile.write(b".")
                    self.wfile.flush()
                return
            if state.mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()
                return
            code, text = (200, b"thanks") if state.mode == "ok" else (500, b"receiver is broken")
            self.send_response(code)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def register(client, headers, url, events=("agreement.status_changed",), secret=SECRET, status=201):
    answer = client.post("/api/v1/webhooks", headers=headers, json={"url": url, "events": list(events), "secret": secret})
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def valid_hmac(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Docmgr-Signature", ""), expected)


def due_now():
    for row in db.session.scalars(select(OutboxTask).where(OutboxTask.status == "pending")):
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_every_status_change_is_delivered_by_the_queue_with_a_valid_hmac(app, client, receiver, cast, make_agreement,
                                                                        advance, run_queue, token_for, login):
    admin = token_for(cast.admin)
    created = register(client, admin, receiver.url)
    assert created["secret"] == SECRET and created["active"] is True
    assert "secret" not in client.get("/api/v1/webhooks", headers=admin).get_json()["items"][0]
    agreement = make_agreement()
    advance(agreement, "out_for_signature")
    assert receiver.requests == []  # the requests that changed the status did not call the endpoint
    run_queue()
    assert len(receiver.requests) == 3
    bodies = []
    for headers, body in receiver.requests:
        assert valid_hmac(headers, body) and headers["Content-Type"] == "application/json"
        bodies.append(json.loads(body))
    assert [(b["agreement"]["previous_status"], b["agreement"]["status"]) for b in bodies] == [
        ("draft", "in_review"), ("in_review", "approved"), ("approved", "out_for_signature")]
    assert set(bodies[0]) == {"event", "delivery_id", "occurred_at", "agreement"}
    assert set(bodies[0]["agreement"]) == {"id", "title", "status", "previous_status"}
    assert bodies[0]["agreement"]["id"] == agreement.id and bodies[0]["event"] == "agreement.status_changed"

    log = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=admin).get_json()["items"]
    assert {d["status"] for d in log} == {"delivered"}
    assert log[0]["log"][0]["status_code"] == 200 and log[0]["log"][0]["response_head"] == "thanks"
    page = login(cast.admin).get("/webhooks").get_data(as_text=True)
    assert receiver.url in page and 'data-status="delivered"' in page and "thanks" in page
    assert run_queue() == 0 and len(receiver.requests) == 3  # delivered once


@pytest.mark.app_config(QUEUE_IMMEDIATE=False, WEBHOOK_TIMEOUT_SECONDS=0.5)
@pytest.mark.parametrize("mode", ["hang", "drip", "fail", "redirect"])
def test_a_hanging_failing_or_redirecting_endpoint_is_logged_and_retried(app, client, receiver, cast, make_agreement,
                                                                        advance, run_queue, token_for, mode):
    hook = register(client, token_for(cast.admin), receiver.url, events=("agreement.in_review",))
    agreement = make_agreement()
    receiver.mode = mode
    advance(agreement, "in_review")
    assert receiver.requests == []
    run_queue()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    expected = {"hang": None, "drip": None, "fail": 500, "redirect": 302}[mode]
    assert delivery.last_status_code == expected
    if mode in ("hang", "drip"):  # one deadline for the whole exchange, however the endpoint spreads its answer
        assert "timed out" in delivery.last_error.lower()
        attempt = db.session.scalars(select(WebhookAttempt)).one()
        assert 450 <= attempt.duration_ms < 2500, attempt.duration_ms
    row = db.session.scalars(select(OutboxTask).where(OutboxTask.task == "webhook.deliver")).one()
    assert row.status == "pending" and row.next_attempt_at > utcnow() + timedelta(seconds=5)  # back-off
    receiver.release.set()
    receiver.mode = "ok"
    due_now()
    run_queue()
    db.session.expire_all()
    delivery = db.session.get(WebhookDelivery, delivery.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert [valid_hmac(h, b) for h, b in receiver.requests] == [True, True]
    assert receiver.requests[0][1] == receiver.requests[1][1]  # the same bytes on the retry
    del hook


@pytest.mark.parametrize(("body", "code"), [
    ({"url": "http://partner.example.org/hook", "events": ["agreement.executed"]}, "https_required"),
    ({"url": "ftp://127.0.0.1/hook", "events": ["agreement.executed"]}, "invalid_url"),
    ({"url": "https://user:pw@partner.example.org/hook", "events": ["agreement.executed"]}, "invalid_url"),
    ({"url": "https://partner.example.org:99999/hook", "events": ["agreement.executed"]}, "invalid_url"),
    ({"url": "https://partner.example.org/hook", "events": ["agreement.exploded"]}, "invalid_events"),
    ({"url": "https://partner.example.org/hook", "events": []}, "missing_field"),
    ({"url": "https://partner.example.org/hook", "events": ["agreement.executed"], "secret": "short"}, "invalid_secret"),
    ({"url": "https://partner.example.org/hook", "events": ["agreement.executed"], "extra": 1}, "unknown_field"),
])
def test_bad_registrations_are_refused_and_change_nothing(app, client, cast, token_for, body, code):
    answer = client.post("/api/v1/webhooks", headers=token_for(cast.admin), json=body)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == code, answer.get_json()
    assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0


def test_https_is_accepted_and_only_admins_manage_webhooks(app, client, cast, token_for, login):
    created = register(client, token_for(cast.admin), "https://partner.example.org/hook", secret=None)
    assert len(created["secret"]) >= 32
    for user in (cast.legal, cast.ministry, cast.firm_it):
        headers = token_for(user)
        assert client.get("/api/v1/webhooks", headers=headers).status_code == 403
        assert client.post("/api/v1/webhooks", headers=headers, json={
            "url": "https://x.example.org/", "events": ["agreement.executed"]}).status_code == 403
        assert client.delete(f"/api/v1/webhooks/{created['id']}", headers=headers).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Webhook)) == 1


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_disabled_and_deleted_endpoints_get_nothing(app, client, receiver, cast, make_agreement, advance, run_queue,
                                                    token_for):
    admin = token_for(cast.admin)
    hook = register(client, admin, receiver.url)
    answer = client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"active": False})
    assert answer.status_code == 200 and answer.get_json()["active"] is False
    agreement = make_agreement()
    advance(agreement, "in_review")
    run_queue()
    assert receiver.requests == [] and db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"active": "no"}).status_code == 422
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/webhooks", headers=admin).get_json()["items"] == []
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin).status_code == 404


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_a_refusing_endpoint_is_logged_and_retried(app, client, cast, make_agreement, advance, run_queue, token_for):
    from tests.mail.conftest import free_port

    register(client, token_for(cast.admin), f"http://127.0.0.1:{free_port()}/hook")  # nobody listens there
    advance(make_agreement(), "in_review")
    run_queue()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("retrying", 1, None)
    assert "ConnectionRefused" in delivery.last_error
    assert db.session.scalars(select(OutboxTask).where(OutboxTask.task == "webhook.deliver")).one().status == "pending"
