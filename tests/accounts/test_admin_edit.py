"""Administration: edit and rename users, organisations and sessions, confirmed deactivation, least-privilege
defaults, every validation error at once, and password resets by an administrator."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from docmgr.accounts.models import ApiToken, Organization, User
from docmgr.audit.models import AuditEvent
from docmgr.documents.models import TaskForceSession
from docmgr.extensions import db
from docmgr.mail.models import OutgoingMail
from tests.conftest import PASSWORD, csrf_from, table_counts


def _admin(client, make_user, login):
    admin = make_user("admin")
    login(admin)
    return admin


def _post(client, path: str, **data):
    data["csrf_token"] = csrf_from(client.get("/account").get_data(as_text=True))
    return client.post(path, data=data)


def _last_event(action: str) -> dict:
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc()))
    assert event is not None, action
    return json.loads(event.data)


def test_rename_a_user_and_change_the_role(client, make_user, make_org, login):
    _admin(client, make_user, login)
    user = make_user("legal")
    org = make_org(name="Rinominata S.r.l.")
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert user.email in page and 'value="legal" selected' in page
    response = _post(client, f"/admin/users/{user.id}", action="save", email="Nuovo.Nome@Example.org", name=" Anna Neri ",
                     role="firm", organization_id=str(org.id))
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert (user.email, user.name, user.role, user.organization_id) == ("nuovo.nome@example.org", "Anna Neri", "firm", org.id)
    changes = _last_event("user.updated")["changes"]
    assert changes["role"] == ["legal", "firm"] and changes["name"][1] == "Anna Neri"


def test_user_edit_shows_every_error_at_once_and_changes_nothing(client, make_user, login):
    _admin(client, make_user, login)
    user = make_user("legal")
    before = table_counts()
    response = _post(client, f"/admin/users/{user.id}", action="save", email="not an address", role="emperor",
                     organization_id="999999")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.count('role="alert"') >= 3 and 'id="email-error"' in html
    assert table_counts() == before
    db.session.expire_all()
    assert db.session.get(User, user.id).role == "legal"


def test_email_taken_by_another_and_own_admin_role_are_refused(client, make_user, login):
    admin = _admin(client, make_user, login)
    other, user = make_user("legal"), make_user("legal")
    response = _post(client, f"/admin/users/{user.id}", action="save", email=other.email.upper(), role="legal")
    assert response.status_code == 422 and 'data-code="duplicate"' in response.get_data(as_text=True)
    response = _post(client, f"/admin/users/{admin.id}", action="save", email=admin.email, role="legal")
    assert response.status_code == 422 and db.session.get(User, admin.id).role == "admin"


def test_deactivation_asks_for_confirmation(client, make_user, login):
    _admin(client, make_user, login)
    user = make_user("legal")
    response = _post(client, "/admin/users", action="deactivate", user_id=str(user.id))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="confirm"' in html and user.email in html
    db.session.expire_all()
    assert db.session.get(User, user.id).is_active  # nothing happened yet
    assert _post(client, f"/admin/users/{user.id}", action="deactivate", confirm="1").status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, user.id).is_active
    assert _post(client, f"/admin/users/{user.id}", action="activate").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).is_active


def test_new_user_form_defaults_to_least_privilege(client, make_user, login):
    _admin(client, make_user, login)
    html = client.get("/admin/users").get_data(as_text=True)
    select_html = html[html.index('<select id="role"'):]
    select_html = select_html[:select_html.index("</select>")]
    assert 'value="firm" selected' in select_html and 'value="admin" selected' not in select_html
    assert select_html.index('value="firm"') < select_html.index('value="admin"')


def test_new_user_form_shows_every_error_at_once(client, make_user, login):
    _admin(client, make_user, login)
    response = _post(client, "/admin/users", email="x", password="short", role="firm", organization_id="abc")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("email", "password"):
        assert f'id="{field}-error"' in html, field
    assert html.count('role="alert"') >= 3


def test_rename_an_organisation(client, make_user, make_org, login):
    _admin(client, make_user, login)
    org, other = make_org(name="Vecchio Nome S.r.l."), make_org(name="Altro S.p.A.")
    assert 'value="Vecchio Nome S.r.l."' in client.get(f"/admin/organizations/{org.id}").get_data(as_text=True)
    response = _post(client, f"/admin/organizations/{org.id}", name="Nuovo Nome S.r.l.", country="RU", kind="institution",
                     name_alt="Новое Имя")
    assert response.status_code == 302
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    assert (org.name, org.country, org.kind, org.name_alt) == ("Nuovo Nome S.r.l.", "RU", "institution", "Новое Имя")
    assert _last_event("organization.updated")["changes"]["name"] == ["Vecchio Nome S.r.l.", "Nuovo Nome S.r.l."]
    response = _post(client, f"/admin/organizations/{org.id}", name=other.name.lower(), country="XX", kind="firm")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="country-error"' in html
    assert client.get("/admin/organizations/99999").status_code == 404


def test_edit_a_session(client, make_user, login):
    _admin(client, make_user, login)
    forum = TaskForceSession(name="Torino 2013", place="Torino", country="IT", starts_on=dt.date(2013, 5, 1),
                             ends_on=dt.date(2013, 5, 2))
    db.session.add(forum)
    db.session.commit()
    response = _post(client, f"/admin/sessions/{forum.id}", name="Torino 2013 (XI)", place="Torino", place_alt="Турин",
                     country="IT", starts_on="2013-05-01", ends_on="2013-05-03")
    assert response.status_code == 302
    db.session.expire_all()
    forum = db.session.get(TaskForceSession, forum.id)
    assert (forum.name, forum.place_alt, forum.ends_on) == ("Torino 2013 (XI)", "Турин", dt.date(2013, 5, 3))
    response = _post(client, f"/admin/sessions/{forum.id}", name="", place="", country="IT", starts_on="2013-05-01",
                     ends_on="bad")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and all(f'id="{f}-error"' in html for f in ("name", "place", "ends_on"))


def test_temporary_password_by_an_admin(app, client, make_user, login):
    _admin(client, make_user, login)
    user = make_user("legal")
    other = app.test_client()
    token = other.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}).get_json()["token"]
    response = _post(client, f"/admin/users/{user.id}", action="temporary_password")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    temporary = html.split("data-temporary-password>")[1].split("<")[0]
    assert len(temporary) >= 16
    # The old password and the user's API tokens no longer work; the temporary one leads to "change password".
    assert other.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)).revoked_at is not None
    fresh = app.test_client()
    login_page = csrf_from(fresh.get("/login").get_data(as_text=True))
    assert fresh.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": login_page}).status_code == 401
    response = fresh.post("/login", data={"email": user.email, "password": temporary, "csrf_token": login_page})
    assert response.status_code == 302 and response.headers["Location"].endswith("/password/change")
    page = fresh.get("/password/change").get_data(as_text=True)
    wrong = fresh.post("/password/change", data={"csrf_token": csrf_from(page), "current_password": "nope",
                                                 "password": "x", "password_confirm": "y"})
    assert wrong.status_code == 422 and wrong.get_data(as_text=True).count('role="alert"') >= 2
    response = fresh.post("/password/change", data={"csrf_token": csrf_from(page), "current_password": temporary,
                                                    "password": "a brand new one", "password_confirm": "a brand new one"})
    assert response.status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, user.id).password_must_change
    assert fresh.get("/account").status_code == 200  # this session goes on


def test_reset_link_sent_by_an_admin(client, make_user, login):
    _admin(client, make_user, login)
    user = make_user("legal")
    assert _post(client, f"/admin/users/{user.id}", action="reset_link").status_code == 302
    mail = db.session.scalar(select(OutgoingMail).order_by(OutgoingMail.id.desc()))
    assert mail.kind == "password_reset" and mail.to_address == user.email and "/password/reset/" in mail.body_text


def test_admin_pages_refused_to_others(client, make_user, login):
    user = make_user("legal")
    login(make_user("ministry"))
    assert client.get(f"/admin/users/{user.id}").status_code == 403
