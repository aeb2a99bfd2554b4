"""Composing mail (in the recipient's language, plain text + HTML) and sending it through the queue.

:func:`compose` records an :class:`OutgoingMail` and its ``mail.send`` task in the caller's transaction:
the message exists only if the change that needs it commits. :func:`send_task` (run by the worker) hands
it to the configured SMTP server with :mod:`smtplib`; a failure is recorded on the message and raised,
so the queue tries again with back-off — the change that wrote the message is never undone by it.
Without ``DOCMGR_SMTP_HOST`` the message is kept as "not sent (no SMTP configured)".
"""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.database import utcnow
from docmgr.errors import Forbidden, Invalid
from docmgr.extensions import db
from docmgr.mail.models import MailStatus, OutgoingMail
from docmgr.storage import current_store
from docmgr.tasks import enqueue

SEND_TASK = "mail.send"
MAIL_LANGUAGES = ("it", "ru", "en")
FALLBACK_LANGUAGE = "en"
NO_SMTP = "not sent (no SMTP configured)"
STATUS_FILTERS = tuple(s.value for s in MailStatus)


def mail_language(language: str | None) -> str:
    """Italian or Russian when asked for, English otherwise."""
    language = (language or "").strip().lower()[:2]
    return language if language in MAIL_LANGUAGES else FALLBACK_LANGUAGE


def language_for(user: User) -> str:
    """A user's mail language: their interface language, else their organisation's country's, else English."""
    if user.locale:
        return mail_language(user.locale)
    country = (user.organization.country if user.organization else "") or ""
    return mail_language({"IT": "it", "RU": "ru"}.get(country.upper()))


def valid_address(address: str) -> str:
    """One plain e-mail address (no display name, no header injection), or :class:`Invalid`."""
    address = (address or "").strip()
    _name, parsed = parseaddr(address)
    local, _, domain = parsed.partition("@")
    if (not parsed or parsed != address or not local or "." not in domain or len(address) > 320
            or any(c in address for c in "\r\n\t <>,;")):
        raise Invalid(gettext("'%(address)s' is not an e-mail address.", address=address[:100]), field="email")
    return address


def compose(session: Session, kind: str, to_address: str, *, to_name: str = "", language: str | None = None,
            attachments: list[dict[str, str]] | None = None, **context: Any) -> OutgoingMail:
    """Render ``mail/<kind>.subject.txt``, ``.txt`` and ``.html`` in the recipient's language and record the
    message and its sending task in the caller's transaction. ``attachments``: files of the store
    (``{"filename", "sha256", "content_type"}``), read when the message is sent."""
    address = valid_address(to_address)
    language = mail_language(language)
    context = {**context, "public_url": current_app.config["PUBLIC_URL"].rstrip("/"), "recipient_name": to_name}
    with force_locale(language):
        subject = " ".join(render_template(f"mail/{kind}.subject.txt", **context).split())
        body_text = render_template(f"mail/{kind}.txt", **context)
        body_html = render_template(f"mail/{kind}.html", **context, lang=language, subject=subject)
    domain = address_domain(current_app.config["MAIL_FROM"])
    mail = OutgoingMail(kind=kind, to_address=address, to_name=to_name.strip()[:200], language=language,
                        subject=subject[:300], body_text=body_text, body_html=body_html,
                        message_id=make_msgid(domain=domain), status=MailStatus.QUEUED.value, error="", attempts=0,
                        created_at=utcnow(), attachments=list(attachments or []))
    session.add(mail)
    session.flush()
    enqueue(session, SEND_TASK, mail_id=mail.id)
    return mail


def compose_for_user(session: Session, kind: str, user: User, **context: Any) -> OutgoingMail:
    return compose(session, kind, user.email, to_name=user.name or "", language=language_for(user), **context)


def address_domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def build_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    """The MIME message: multipart/alternative, plain text first, HTML second (no external resources)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=mail.to_name, addr_spec=mail.to_address) if mail.to_name else mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = mail.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body_text)
    message.add_alternative(mail.body_html, subtype="html")
    store = current_store()
    for item in mail.attachments or []:
        maintype, _, subtype = (item.get("content_type") or "application/octet-stream").partition("/")
        message.add_attachment(store.read(item["sha256"]), maintype=maintype, subtype=subtype or "octet-stream",
                               filename=item["filename"])
    message["Content-Language"] = mail.language  # after the body: set_content drops Content-* headers
    return message


def send_task(mail_id: int) -> None:
    """The ``mail.send`` handler: idempotent (a sent or recorded message is left alone)."""
    session = db.session
    mail = session.get(OutgoingMail, mail_id, with_for_update=True)  # PostgreSQL: one sender per message
    if mail is None or mail.status in (MailStatus.SENT.value, MailStatus.NOT_SENT.value):
        return
    config = current_app.config
    if not config.get("SMTP_HOST"):
        mail.status = MailStatus.NOT_SENT.value
        mail.error = NO_SMTP
        session.commit()
        return
    message = build_message(mail, config["MAIL_FROM"])
    mail.attempts += 1
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's write lock is the whole database's: not held while the SMTP server answers (up to
        # SMTP_TIMEOUT_SECONDS a step), or every upload and login would wait. The outbox lease keeps other workers
        # off this message meanwhile; PostgreSQL keeps its row lock, which holds up nobody else.
        session.commit()
    try:
        deliver(config, message)
    except (OSError, smtplib.SMTPException) as error:
        mail = session.get(OutgoingMail, mail_id)
        mail.status = MailStatus.FAILED.value
        mail.error = f"{type(error).__name__}: {error}"[:2000]
        session.commit()
        raise
    mail = session.get(OutgoingMail, mail_id)
    mail.status = MailStatus.SENT.value
    mail.error = ""
    mail.sent_at = utcnow()
    session.commit()


def deliver(config: dict[str, Any], message: EmailMessage) -> None:
    """Hand one message to the SMTP server of the configuration (STARTTLS and login when configured)."""
    timeout = float(config["SMTP_TIMEOUT_SECONDS"])
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout) as smtp:
        smtp.ehlo()
        if config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)


def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden(gettext("Only administrators may see the sent mail."))


def list_mail(session: Session, actor: User, status: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Counts per status and the newest messages (of one status when asked)."""
    require_admin(actor)
    if status is not None and status not in STATUS_FILTERS:
        raise Invalid(gettext("'status' must be one of %(choices)s.", choices=", ".join(STATUS_FILTERS)),
                      field="status")
    counts = dict.fromkeys(STATUS_FILTERS, 0)
    for value, count in session.execute(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status)):
        counts[value] = count
    query = select(OutgoingMail).order_by(OutgoingMail.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutgoingMail.status == status)
    return {"counts": counts, "items": list(session.scalars(query))}
