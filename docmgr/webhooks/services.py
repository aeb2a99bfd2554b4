"""Webhooks: registering endpoints (administrators), recording a delivery for every agreement status change
they subscribe to, and delivering it from the queue.

* :func:`create_webhook` accepts ``https://`` URLs, and ``http://`` only for a loopback host (tests, a local
  relay); no credentials in the URL. ``events`` are names of :data:`EVENTS`. The secret keys an HMAC-SHA256 of
  each raw body, sent as ``X-Docmgr-Signature: sha256=HEX``; without one, a random secret is made and shown once.
* :func:`on_status_changed` (a receiver of ``lifecycle.agreement_status_changed``) runs inside the transition's
  transaction and only *records* a delivery per subscribed endpoint and enqueues it: the request that caused
  the change never waits for an endpoint.
* :func:`deliver_task` (the ``webhook.deliver`` task) POSTs the stored body (the same bytes on every retry),
  with ``WEBHOOK_TIMEOUT_SECONDS`` as one deadline for the whole exchange, no redirects and no proxies; every attempt is logged with
  its status code, the answer's first bytes and its duration. A failure raises, so the queue retries with
  back-off; after ``QUEUE_MAX_ATTEMPTS`` the delivery is ``failed``.

Payloads are minimal (the agreement's id, title, status, previous status, when): administrators, the only
ones who register endpoints, may read every agreement.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.accounts.permissions import require_admin
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.errors import Invalid, NotFound
from docmgr.extensions import db
from docmgr.signatures.lifecycle import STATUSES, TransitionContext
from docmgr.tasks import enqueue
from docmgr.webhooks.models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery

DELIVER_TASK = "webhook.deliver"
STATUS_CHANGED = "agreement.status_changed"
# Every status change, or only the changes to one status ("agreement.executed"…).
EVENTS: tuple[str, ...] = (STATUS_CHANGED, *(f"agreement.{status}" for status in STATUSES))
SIGNATURE_HEADER = "X-Docmgr-Signature"
MAX_URL = 2000
RESPONSE_HEAD_BYTES = 512
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class DeliveryFailed(Exception):
    """Raised by the task so the queue retries (the attempt is already logged)."""


# --- registering -------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: Any) -> str:
    """The endpoint's URL, or 422 saying what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid(gettext("'url' is required: the endpoint's https:// address."), field="url", code="missing_field")
    url = url.strip()
    if len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Invalid(gettext("'url' is not a valid address."), field="url", code="invalid_url")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # port: ValueError when out of range
    except ValueError:
        raise Invalid(gettext("'url' is not a valid address."), field="url", code="invalid_url") from None
    if parts.scheme not in ("https", "http") or not host:
        raise Invalid(gettext("'url' must be an https:// address."), field="url", code="invalid_url")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise Invalid(gettext("'url' may not carry a user name, password or #fragment."), field="url", code="invalid_url")
    if parts.scheme == "http" and not _is_loopback(host):
        raise Invalid(gettext("Webhooks need https://; http:// is accepted only for a loopback address (127.0.0.1)."),
                      field="url", code="https_required")
    del port
    return url


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise Invalid(gettext("'events' is a non-empty list of event names: %(names)s.", names=", ".join(EVENTS)),
                      field="events", code="invalid_events")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise Invalid(gettext("Unknown event: %(name)s. Known events: %(names)s.", name=unknown[0][:60],
                              names=", ".join(EVENTS)), field="events", code="invalid_events")
    return sorted(set(events), key=EVENTS.index)


def _check_secret(secret: Any) -> str:
    if secret in (None, ""):
        return secrets.token_urlsafe(32)
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise Invalid(gettext("'secret' is text of 16 to 200 characters (or leave it out to get a random one)."),
                      field="secret", code="invalid_secret")
    return secret


def create_webhook(session: Session, actor: User, *, url: Any, events: Any, secret: Any = None) -> Webhook:
    require_admin(actor)
    hook = Webhook(url=check_url(url), events=_check_events(events), secret=_check_secret(secret),
                   created_by_id=actor.id, is_active=True)
    session.add(hook)
    session.flush()
    record(session, actor, "webhook.created", hook, url=hook.url, events=hook.events)
    return hook


def list_webhooks(session: Session, actor: User) -> list[Webhook]:
    require_admin(actor)
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def get_webhook(session: Session, actor: User, webhook_id: int) -> Webhook:
    require_admin(actor)
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(gettext("No such webhook."), code="webhook_not_found")
    return hook


def set_active(session: Session, actor: User, webhook_id: int, active: Any) -> Webhook:
    hook = get_webhook(session, actor, webhook_id)
    if not isinstance(active, bool):
        raise Invalid(gettext("'active' is true or false."), field="active")
    if hook.is_active != active:
        hook.is_active = active
        record(session, actor, "webhook.enabled" if active else "webhook.disabled", hook, url=hook.url)
    return hook


def delete_webhook(session: Session, actor: User, webhook_id: int) -> None:
    hook = get_webhook(session, actor, webhook_id)
    record(session, actor, "webhook.deleted", hook, url=hook.url, events=hook.events)
    session.delete(hook)
    session.flush()


def deliveries(session: Session, actor: User, webhook_id: int | None = None, limit: int = 100) -> list[WebhookDelivery]:
    require_admin(actor)
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if webhook_id is not None:
        get_webhook(session, actor, webhook_id)
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    return list(session.scalars(query))


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                                .order_by(WebhookAttempt.id)))


def delivery_counts(session: Session, webhook_id: int) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in DeliveryStatus), 0)
    for status, count in session.execute(select(WebhookDelivery.status, func.count())
                                         .where(WebhookDelivery.webhook_id == webhook_id)
                                         .group_by(WebhookDelivery.status)):
        counts[status] = count
    return counts


# --- recording deliveries ---------------------------------------------------------------------------------


def on_status_changed(agreement, *, ctx: TransitionContext, source: str, target: str) -> None:
    """Record (not send) one delivery per active endpoint subscribed to this change, in the change's transaction."""
    session = ctx.session
    wanted = {STATUS_CHANGED, f"agreement.{target}"}
    hooks = [hook for hook in session.scalars(select(Webhook).where(Webhook.is_active.is_(True)))
             if wanted & set(hook.events or [])]
    if not hooks:
        return
    occurred_at = utcnow().isoformat()
    for hook in hooks:
        delivery = WebhookDelivery(webhook_id=hook.id, event=STATUS_CHANGED, agreement_id=agreement.id, body="")
        session.add(delivery)
        session.flush()
        delivery.body = json.dumps({
            "event": STATUS_CHANGED, "delivery_id": delivery.id, "occurred_at": occurred_at,
            "agreement": {"id": agreement.id, "title": agreement.title, "status": target, "previous_status": source},
        }, ensure_ascii=False, separators=(",", ":"))
        enqueue(session, DELIVER_TASK, delivery_id=delivery.id)


# --- delivering -------------------------------------------------------------------------------------------


def signature_of(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, bytes, str]:
    """POST ``body``; (status, the answer's first bytes, error). http.client follows no redirect (a 3xx is an
    answer like any other) and uses no proxy. The whole exchange has one deadline, ``timeout`` seconds: when it
    passes, the socket is shut, so an endpoint that drips its answer byte by byte is cut off like one that hangs."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    expired = threading.Event()
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    opened: list[socket.socket] = []  # the connection forgets its socket once the answer has it

    def cut() -> None:
        expired.set()
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        connection.connect()
        opened.append(connection.sock)
        if expired.is_set():
            raise TimeoutError
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        head = answer.read(RESPONSE_HEAD_BYTES)
        if expired.is_set():
            raise TimeoutError
        return answer.status, head, ""
    except (OSError, http.client.HTTPException, ValueError) as error:
        if expired.is_set() or isinstance(error, TimeoutError):
            return None, b"", f"TimeoutError: timed out (no complete answer within {timeout:g} s)"
        return None, b"", f"{type(error).__name__}: {error}"[:500]
    finally:
        timer.cancel()
        connection.close()


def deliver_task(delivery_id: int) -> None:
    """The ``webhook.deliver`` handler: idempotent (a delivered or failed delivery is left alone)."""
    session = db.session
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status in (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value):
        return
    hook = session.get(Webhook, delivery.webhook_id)
    if hook is None or not hook.is_active:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.last_error = "the endpoint was disabled or deleted"
        session.commit()
        return
    config = current_app.config
    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "docmgr-webhooks/1",
               SIGNATURE_HEADER: signature_of(hook.secret, body), "X-Docmgr-Event": delivery.event,
               "X-Docmgr-Delivery": str(delivery.id)}
    url = hook.url
    session.commit()  # no transaction (nor lock) held while the endpoint answers
    started = time.monotonic()
    code, head, error = _post(url, body, headers, float(config["WEBHOOK_TIMEOUT_SECONDS"]))
    duration_ms = int((time.monotonic() - started) * 1000)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # deleted with its endpoint meanwhile
        return
    session.add(WebhookAttempt(delivery_id=delivery.id, status_code=code, duration_ms=duration_ms, error=error,
                               response_head=head.decode("utf-8", errors="replace")))
    delivery.attempts += 1
    delivery.last_status_code = code
    if code is not None and 200 <= code < 300:
        delivery.status = DeliveryStatus.DELIVERED.value
        delivery.last_error = ""
        delivery.delivered_at = utcnow()
        session.commit()
        return
    delivery.last_error = error or f"HTTP {code}"
    final = delivery.attempts >= int(config["QUEUE_MAX_ATTEMPTS"])
    delivery.status = DeliveryStatus.FAILED.value if final else DeliveryStatus.RETRYING.value
    session.commit()
    raise DeliveryFailed(f"webhook {hook.id} delivery {delivery_id}: {delivery.last_error}")
