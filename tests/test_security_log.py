"""Security events: one JSON object per line on the "docmgr.security" logger, with who, where and why."""

from __future__ import annotations

import json
import logging

import pytest

from docmgr.security_log import LOGGER_NAME
from tests.conftest import api_upload, corpus_bytes


def security_events(caplog) -> list[dict]:
    """Every security line of the test so far, parsed: each record's message must be one JSON object."""
    events = []
    for record in caplog.records:
        if record.name == LOGGER_NAME:
            message = record.getMessage()
            assert "\n" not in message
            events.append(json.loads(message))
    return events


@pytest.fixture(autouse=True)
def _capture(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)


def test_a_failed_login_gives_exactly_one_json_line(client, make_user, caplog):
    user = make_user("legal")
    caplog.clear()

    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": "not the password"})

    assert response.status_code == 401
    events = security_events(caplog)
    assert len(events) == 1, events
    event = events[0]
    assert event["event"] == "login_failed"
    assert event["user"] == user.email
    assert event["ip"] == "127.0.0.1"
    assert event["path"] == "/api/v1/auth/token"
    assert event["method"] == "POST"
    assert event["details"] == {"reason": "wrong_password"}
    assert event["time"].endswith("Z")


def test_an_unknown_account_is_named_as_such(client, caplog):
    client.post("/api/v1/auth/token", json={"email": "Nobody@Example.org", "password": "whatever123"})

    [event] = security_events(caplog)
    assert event["event"] == "login_failed"
    assert event["user"] == "nobody@example.org"
    assert event["details"]["reason"] == "unknown_user"


@pytest.mark.app_config(LOGIN_MAX_FAILURES=2)
def test_throttled_logins_are_logged(client, make_user, caplog):
    user = make_user("legal")
    for _ in range(2):
        client.post("/api/v1/auth/token", json={"email": user.email, "password": "wrong password"})
    caplog.clear()

    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": "wrong password"})

    assert response.status_code == 429
    assert [(e["event"], e["user"]) for e in security_events(caplog)] == [("login_throttled", user.email)]


def test_a_csrf_failure_is_logged_with_the_logged_in_user(client, make_user, login, caplog):
    user = make_user("legal")
    login(user)
    caplog.clear()

    response = client.post("/logout", data={})  # no csrf_token

    assert response.status_code == 400
    [event] = security_events(caplog)
    assert event["event"] == "csrf_failed"
    assert event["user"] == user.email
    assert event["user_id"] == user.id
    assert event["path"] == "/logout"


def test_another_firms_document_is_a_logged_404(client, make_user, make_document, token_for, caplog):
    owner = make_user("firm")
    document = make_document(owner)
    outsider = make_user("firm")
    headers = token_for(outsider)
    caplog.clear()

    response = client.get(f"/api/v1/documents/{document.id}", headers=headers)

    assert response.status_code == 404
    [event] = security_events(caplog)
    assert event["event"] == "not_found"
    assert event["user"] == outsider.email
    assert event["path"] == f"/api/v1/documents/{document.id}"
    assert event["details"] == {"status": 404, "code": "document_not_found"}


def test_a_ministry_write_is_a_logged_403(client, make_user, make_document, token_for, caplog):
    document = make_document(make_user("firm"))
    ministry = make_user("ministry")
    headers = token_for(ministry)
    caplog.clear()

    response = client.patch(f"/api/v1/documents/{document.id}", json={"title_it": "Nuovo"}, headers=headers)

    assert response.status_code == 403
    [event] = security_events(caplog)
    assert (event["event"], event["user"], event["details"]["status"]) == ("forbidden", ministry.email, 403)


def test_a_refused_upload_is_logged(client, make_user, token_for, caplog):
    user = make_user("legal")
    org = make_user("firm").organization
    headers = token_for(user)
    caplog.clear()

    response = api_upload(client, headers, [("report.pdf", b"\x7fELF\x02\x01\x01" + b"\0" * 64)], organization_id=org.id)

    assert response.status_code == 415
    [event] = security_events(caplog)
    assert event["event"] == "upload_refused"
    assert event["details"]["code"] == "unsupported_file_type"
    assert event["user"] == user.email


def test_a_revoked_token_presented_again_is_logged(client, make_user, token_for, caplog):
    user = make_user("legal")
    headers = token_for(user)
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    caplog.clear()

    response = client.get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    [event] = security_events(caplog)
    assert event["event"] == "token_rejected"
    assert event["details"]["reason"] == "revoked"
    assert event["user"] is None  # nobody was logged in


def test_an_unknown_token_is_logged_as_unknown(client, caplog):
    client.get("/api/v1/me", headers={"Authorization": "Bearer dm_made_up"})

    assert [(e["event"], e["details"]["reason"]) for e in security_events(caplog)] == [("token_rejected", "unknown")]


def test_accepted_requests_log_nothing(client, make_user, token_for, caplog):
    user = make_user("legal")
    headers = token_for(user)
    org = make_user("firm").organization
    caplog.clear()

    response = api_upload(client, headers, [("p.pdf", corpus_bytes("pdf/pypdf_multilang_CYRILLIC.pdf"))],
                          organization_id=org.id)

    assert response.status_code == 201, response.get_json()
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert security_events(caplog) == []


def test_the_configured_file_gets_one_json_object_per_line(tmp_path):
    """SECURITY_LOG_PATH: the handler create_app installs writes the same lines to a file."""
    from docmgr import create_app
    from docmgr.extensions import db

    log_path = tmp_path / "security.log"
    app = create_app({
        "TESTING": True, "STORAGE_DIR": str(tmp_path / "s2"), "INDEX_DIR": str(tmp_path / "i2"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'second.sqlite3'}", "SECRET_KEY": "k",
        "SECURITY_LOG_PATH": str(log_path),
    })
    try:
        with app.app_context():
            db.create_all()
            client = app.test_client()
            for attempt in range(2):
                client.post("/api/v1/auth/token", json={"email": f"x{attempt}@example.org", "password": "wrong pass"})
            db.session.remove()
            db.engine.dispose()
    finally:
        logger = logging.getLogger(LOGGER_NAME)
        for handler in [h for h in logger.handlers if getattr(h, "docmgr_target", None) == str(log_path)]:
            logger.removeHandler(handler)
            handler.close()

    lines = log_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["user"] for line in lines] == ["x0@example.org", "x1@example.org"]
