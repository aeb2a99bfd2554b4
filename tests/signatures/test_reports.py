"""GET /stats and the dashboard page."""

from __future__ import annotations

import datetime as dt

import pytest

from docmgr.database import utcnow
from docmgr.extensions import db


@pytest.fixture
def sessions(app):
    from docmgr.documents.services import create_task_force_session

    torino = create_task_force_session(db.session, None, name="Torino 2013", place="Torino", country="IT",
                                       starts_on=dt.date(2013, 10, 28), ends_on=dt.date(2013, 10, 29))
    mosca = create_task_force_session(db.session, None, name="Москва 2014", place="Москва", country="RU",
                                      starts_on=dt.date(2014, 4, 15), ends_on=dt.date(2014, 4, 16))
    db.session.commit()
    return torino, mosca


@pytest.fixture
def landscape(cast, sessions, make_agreement, make_document, make_org):
    """Torino: 2 proposals, agreements executed/draft/withdrawn. Moscow: 1 proposal, one out for signature."""
    torino, mosca = sessions
    third = make_org(country="RU")  # an organisation with no proposal nor agreement
    make_document(cast.firm_it, kind="proposal", session_id=torino.id)
    make_document(cast.firm_ru, kind="proposal", session_id=torino.id)
    make_document(cast.firm_ru, kind="proposal", session_id=mosca.id)
    make_document(cast.firm_ru, kind="other", session_id=mosca.id)
    statuses = {}
    for status, forum_session in (("executed", torino), ("draft", torino), ("withdrawn", torino),
                                  ("out_for_signature", mosca)):
        agreement = make_agreement(session_id=forum_session.id, title=f"Agreement {status}")
        agreement.status = status
        statuses[status] = agreement
    overdue = statuses["out_for_signature"].signatories[0]
    overdue.due_at = utcnow() - dt.timedelta(days=3)
    statuses["out_for_signature"].signatories[1].due_at = utcnow() + dt.timedelta(days=3)
    db.session.commit()
    return torino, mosca, statuses, third


def test_stats_counts(client, cast, landscape, token_for):
    torino, mosca, _, _ = landscape
    headers = token_for(cast.ministry)
    everything = client.get("/api/v1/stats", headers=headers).get_json()
    assert everything["proposals"] == 3
    assert everything["agreements_by_status"]["executed"] == 1
    assert everything["agreements_by_status"]["out_for_signature"] == 1
    assert everything["agreements_by_status"]["expired"] == 0
    assert everything["agreements_total"] == 4
    assert everything["agreements_signed"] == 1
    assert everything["partnership_projects"] == 3  # all but the withdrawn one
    assert everything["organizations_by_country"] == {"IT": 1, "RU": 2}  # the parties and the third firm
    assert "partnership_projects" in everything["definitions"]

    in_torino = client.get(f"/api/v1/stats?session_id={torino.id}", headers=headers).get_json()
    assert in_torino["session_id"] == torino.id
    assert (in_torino["proposals"], in_torino["agreements_total"], in_torino["partnership_projects"]) == (2, 3, 2)
    assert in_torino["organizations_by_country"] == {"IT": 1, "RU": 1}  # the unrelated third firm is not counted
    in_moscow = client.get(f"/api/v1/stats?session_id={mosca.id}", headers=headers).get_json()
    assert (in_moscow["proposals"], in_moscow["agreements_signed"], in_moscow["partnership_projects"]) == (1, 0, 1)


def test_stats_access_and_bad_session(client, cast, sessions, token_for):
    for user, status in ((cast.legal, 200), (cast.admin, 200), (cast.ministry, 200), (cast.firm_it, 403)):
        assert client.get("/api/v1/stats", headers=token_for(user)).status_code == status
    assert client.get("/api/v1/stats").status_code == 401
    bad = client.get("/api/v1/stats?session_id=999", headers=token_for(cast.legal))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "session_id"
    bad = client.get("/api/v1/stats?session_id=abc", headers=token_for(cast.legal))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "session_id"


def test_dashboard_page(cast, landscape, login):
    torino, mosca, statuses, _ = landscape
    client = login(cast.legal)
    page = client.get("/dashboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and "<script" not in html
    assert 'data-figure="proposals">3<' in html and 'data-figure="agreements_signed">1<' in html
    overdue, waiting = statuses["out_for_signature"].signatories
    assert 'class="overdue-row"' in html and overdue.name in html and waiting.name in html
    assert html.index(overdue.name) < html.index(waiting.name)  # overdue first
    assert "Torino 2013" in html and "Москва 2014" in html
    filtered = client.get(f"/dashboard?session_id={mosca.id}").get_data(as_text=True)
    assert 'data-figure="proposals">1<' in filtered and 'data-status="out_for_signature">1<' in filtered


def test_dashboard_access(cast, sessions, login):
    assert login(cast.ministry).get("/dashboard").status_code == 200


def test_dashboard_refused_to_firms(cast, sessions, login):
    assert login(cast.firm_it).get("/dashboard").status_code == 403
