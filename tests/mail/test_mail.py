"""Outgoing mail: composed in the recipient's language (IT/RU, else EN) with text + HTML parts, sent by
the queue to a real SMTP server (aiosmtpd on loopback), recorded when no server is configured, retried
when the server refuses — without touching the change that wrote the message."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from docmgr.database import utcnow
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.mail.models import OutgoingMail
from docmgr.mail.services import NO_SMTP, compose, compose_for_user, language_for, mail_language
from docmgr.tasks.models import OutboxTask
from docmgr.tasks.worker import run_due
from tests.conftest import PASSWORD, assert_another_writer_gets_in, csrf_from


def all_mail() -> list[OutgoingMail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.id)))


def parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_without_smtp_the_message_is_recorded_not_sent(app):
    assert not app.config["SMTP_HOST"]
    compose(db.session, "test", "anna@example.org", to_name="Anna", language="it")
    db.session.commit()  # unit-test apps run the queued task right after the commit
    [mail] = all_mail()
    assert (mail.status, mail.error, mail.sent_at) == ("not_sent", NO_SMTP, None)
    assert mail.language == "it" and "docmgr" in mail.subject


@pytest.mark.parametrize(("language", "expected", "greeting", "body"), [
    ("it", "it", "Gentile Anna,", "Questo è un messaggio di prova"),
    ("ru", "ru", "Уважаемый(ая) Anna,", "Это тестовое сообщение"),
    ("en", "en", "Dear Anna,", "This is a test message"),
    ("de", "en", "Dear Anna,", "This is a test message"),  # neither Italian nor Russian: English
    (None, "en", "Dear Anna,", "This is a test message"),
])
def test_sent_to_a_real_smtp_server_in_the_recipients_language(app, smtp, language, expected, greeting, body):
    compose(db.session, "test", "anna@example.org", to_name="Anna", language=language)
    db.session.commit()
    [mail] = all_mail()
    assert mail.status == "sent" and mail.sent_at is not None and mail.attempts == 1 and mail.language == expected
    [message] = smtp.messages
    assert smtp.envelopes == [("docmgr@task-force.example", ["anna@example.org"])]
    assert message["To"] == "Anna <anna@example.org>" and message["From"] == "docmgr@task-force.example"
    assert message["Subject"] == mail.subject and message["Message-ID"] == mail.message_id
    assert message["Content-Language"] == expected
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert greeting in text and body in text and greeting in html and body in html
    assert f'<html lang="{expected}">' in html
    assert "http://127.0.0.1:8000/" in text  # DOCMGR_PUBLIC_URL's default
    # No external images or other remote resources: the only URL is the link to docmgr.
    assert "<img" not in html and "url(" not in html and "<link" not in html and "<script" not in html
    assert set(re.findall(r'(?:src|href)="([^"]+)"', html)) == {"http://127.0.0.1:8000/"}


def test_the_language_of_a_user(app, make_org, make_user):
    russian_firm = make_user("firm", make_org(country="RU"))
    italian_firm = make_user("firm", make_org(country="IT"))
    legal = make_user("legal")
    assert (language_for(russian_firm), language_for(italian_firm), language_for(legal)) == ("ru", "it", "en")
    legal.locale = "it"
    assert language_for(legal) == "it"
    assert (mail_language("RU"), mail_language("fr"), mail_language("")) == ("ru", "en", "en")


def test_compose_for_user_uses_their_address_name_and_language(app, smtp, make_org, make_user):
    user = make_user("firm", make_org(country="RU"))
    user.name = "Ivan Petrov"
    compose_for_user(db.session, "test", user)
    db.session.commit()
    [message] = smtp.messages
    assert message["To"] == f"Ivan Petrov <{user.email}>"
    assert "Уважаемый(ая) Ivan Petrov," in parts(message)[0]


@pytest.mark.parametrize("address", ["", "anna", "anna@localhost", "Anna <anna@example.org>",
                                     "anna@example.org\r\nBcc: x@example.org", "a@example.org, b@example.org"])
def test_a_bad_address_is_refused_and_nothing_is_recorded(app, address):
    with pytest.raises(Invalid) as refused:
        compose(db.session, "test", address)
    assert refused.value.field == "email"
    db.session.rollback()
    assert all_mail() == [] and db.session.scalars(select(OutboxTask)).all() == []


@pytest.mark.app_config(QUEUE_IMMEDIATE=False, QUEUE_MAX_ATTEMPTS=5, QUEUE_RETRY_SECONDS=10)
def test_a_refusing_server_is_retried_and_the_agreement_is_unaffected(app, smtp, run_queue, cast, make_agreement,
                                                                      advance):
    from docmgr.signatures import services

    agreement = make_agreement()
    advance(agreement, "approved")
    # The change and its message in one transaction, as the signing workflow writes them.
    services.transition(db.session, cast.legal, agreement.id, "out_for_signature")
    compose_for_user(db.session, "test", cast.firm_it)
    db.session.commit()

    smtp.refuse = "550 5.1.1 Mailbox unavailable"
    assert run_queue() == 0
    [mail] = all_mail()
    assert (mail.status, mail.attempts, mail.sent_at) == ("failed", 1, None)
    assert "550" in mail.error and "Mailbox unavailable" in mail.error
    [row] = db.session.scalars(select(OutboxTask).where(OutboxTask.task == "mail.send")).all()
    assert (row.status, row.attempts) == ("pending", 1) and "550" in row.last_error
    assert timedelta(seconds=8) < row.next_attempt_at - utcnow() < timedelta(seconds=12)  # back-off, not at once
    assert smtp.messages == []
    db.session.refresh(agreement)
    assert agreement.status == "out_for_signature"  # the agreement's change stands

    # The server accepts again; when the retry is due, the same message goes out once.
    smtp.refuse = None
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert run_queue() == 1
    [mail] = all_mail()
    assert (mail.status, mail.attempts, mail.error) == ("sent", 2, "")
    [message] = smtp.messages
    assert message["Message-ID"] == mail.message_id and message["To"] == cast.firm_it.email
    assert run_queue() == 0 and len(smtp.messages) == 1  # done: never sent twice
    db.session.refresh(agreement)
    assert agreement.status == "out_for_signature"


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_a_slow_server_holds_up_no_other_writer(app, smtp):
    """The SMTP server takes 3 s to accept the message: meanwhile another connection writes (SQLite's write lock is
    the whole database's; PostgreSQL's row lock on the message holds up nobody), and the message is sent once."""
    smtp.delay = 3.0
    compose(db.session, "test", "anna@example.org")
    db.session.commit()
    sender = threading.Thread(target=run_due, args=(app,))  # `docmgr worker --once`, in its own app context
    sender.start()
    try:
        assert smtp.receiving.wait(30) and sender.is_alive()
        if db.engine.url.get_backend_name() == "sqlite":
            assert_another_writer_gets_in()
    finally:
        sender.join(60)
    [mail] = all_mail()
    assert (mail.status, mail.attempts) == ("sent", 1) and len(smtp.messages) == 1


@pytest.mark.app_config(QUEUE_IMMEDIATE=False, QUEUE_RETRY_SECONDS=10)
def test_an_unreachable_server_is_retried(app, run_queue):
    from tests.mail.conftest import free_port

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT_SECONDS=5)  # nobody listens
    compose(db.session, "test", "anna@example.org")
    db.session.commit()
    run_queue()
    [mail] = all_mail()
    assert mail.status == "failed" and "ConnectionRefusedError" in mail.error
    assert db.session.scalars(select(OutboxTask)).one().status == "pending"


def test_sent_mail_page_and_api_for_administrators_only(app, client, smtp, make_user, login, token_for):
    admin = make_user("admin")
    legal = make_user("legal")
    compose(db.session, "test", "anna@example.org", to_name="Anna", language="ru")
    db.session.commit()
    app.config["SMTP_HOST"] = ""
    compose(db.session, "test", "bob@example.org", language="it")
    db.session.commit()

    answer = client.get("/api/v1/mail", headers=token_for(admin))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["counts"] == {"queued": 0, "sent": 1, "not_sent": 1, "failed": 0}
    newest, oldest = body["items"]
    assert (newest["to"], newest["language"], newest["status"], newest["sent_at"]) == (
        "bob@example.org", "it", "not_sent", None)
    assert (oldest["to"], oldest["to_name"], oldest["language"], oldest["status"]) == (
        "anna@example.org", "Anna", "ru", "sent")
    assert oldest["sent_at"] and oldest["subject"]
    only_sent = client.get("/api/v1/mail?status=sent", headers=token_for(admin)).get_json()
    assert [m["to"] for m in only_sent["items"]] == ["anna@example.org"]
    bad = client.get("/api/v1/mail?status=lost", headers=token_for(admin))
    assert bad.status_code == 422 and bad.get_json()["error"]["code"]
    refused = client.get("/api/v1/mail", headers=token_for(legal))
    assert refused.status_code == 403 and "error" in refused.get_json()
    assert client.get("/api/v1/mail").status_code == 401

    other = app.test_client()  # a second browser, for the legal officer
    form = csrf_from(other.get("/login").get_data(as_text=True))
    assert other.post("/login", data={"email": legal.email, "password": PASSWORD, "csrf_token": form}).status_code == 302
    assert other.get("/mail").status_code == 403
    login(admin)
    page = client.get("/mail")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-status="sent"' in html and 'data-status="not_sent"' in html and NO_SMTP in html
    assert "anna@example.org" in html and 'data-count="sent">1<' in html
    assert 'href="/mail"' in html  # in the administrator's navigation


def test_mail_test_command(app):
    result = app.test_cli_runner().invoke(args=["docmgr", "mail-test", "anna@example.org", "--language", "ru"])
    assert result.exit_code == 0, result.output
    assert "queued" in result.output and "DOCMGR_SMTP_HOST is not set" in result.output
    [mail] = all_mail()
    assert (mail.to_address, mail.language, mail.status) == ("anna@example.org", "ru", "not_sent")
    bad = app.test_cli_runner().invoke(args=["docmgr", "mail-test", "not-an-address"])
    assert bad.exit_code == 1 and "is not an e-mail address" in bad.output
