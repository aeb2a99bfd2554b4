"""The audit log page for people: actions in words (en/it/ru), names instead of ids, status changes as
from → to, filters by person, action, object and time, pagination; who may read it is unchanged."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

from docmgr.audit.models import AuditEvent
from docmgr.audit.services import record
from docmgr.extensions import db
from docmgr.vocab import AUDIT_ACTION_LABELS

ROOT = Path(__file__).resolve().parents[2] / "docmgr"


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr data-action=\"([^\"]+)\"", html)


def test_entries_in_words_with_names_and_status_changes(cast, make_agreement, advance, login):
    cast.legal.name = "Giulia Bianchi"
    db.session.commit()
    agreement = advance(make_agreement(title="Memorandum Torino"), "in_review")
    client = login(cast.ministry)
    html = client.get("/audit").get_data(as_text=True)
    assert "Agreement status changed" in html and "Draft → In review" in html
    assert "Giulia Bianchi" in html and "Memorandum Torino" in html
    assert f"#{agreement.id}</a>" in html  # the agreement column still links it
    ru = client.get("/audit?lang=ru").get_data(as_text=True)
    it = client.get("/audit?lang=it").get_data(as_text=True)
    assert "Agreement status changed" not in ru and "Agreement status changed" not in it
    assert "Проект → На рассмотрении" in ru and "Bozza → In revisione" in it


def test_filters_by_person_action_object_and_time(cast, make_agreement, advance, login):
    first = advance(make_agreement(), "approved")
    second = make_agreement()
    client = login(cast.admin)
    by_legal2 = _rows(client.get(f"/audit?actor_id={cast.legal2.id}").get_data(as_text=True))
    assert by_legal2 == ["agreement.transition"]
    transitions = client.get("/audit?action=agreement.transition").get_data(as_text=True)
    assert set(_rows(transitions)) == {"agreement.transition"} and 'data-total="2"' in transitions
    one = client.get(f"/audit?object_type=Agreement&object_id={first.id}").get_data(as_text=True)
    assert 'data-total="2"' in one and second.title not in one
    today = dt.date.today()
    assert 'data-total="0"' in client.get(f"/audit?date_to={today - dt.timedelta(days=1)}").get_data(as_text=True)
    everything_today = client.get(f"/audit?date_from={today}&date_to={today}").get_data(as_text=True)
    assert f'data-total="{db.session.query(AuditEvent).count()}"' in everything_today


def test_bad_filters_answer_a_clear_error(cast, login):
    client = login(cast.legal)
    for query, field in (("action=no.such", "action"), ("actor_id=abc", "actor_id"), ("date_from=yesterday", "date_from"),
                         ("date_from=2026-02-01&date_to=2026-01-01", "date_to"), ("object_type=Nope", "object_type")):
        response = client.get(f"/audit?{query}")
        assert response.status_code == 422, query
        assert f'id="{field}-error"' in response.get_data(as_text=True), query


def test_pagination_keeps_the_filters(cast, login):
    for _ in range(2):  # with the login below: three logins
        record(db.session, cast.admin, "user.login", cast.admin)
    db.session.commit()
    client = login(cast.admin)
    html = client.get("/audit?action=user.login&per_page=2").get_data(as_text=True)
    assert len(_rows(html)) == 2 and "action=user.login" in re.search(r'rel="next"[^>]*|href="[^"]*" rel="next"', html).group(0)
    page2 = client.get("/audit?action=user.login&per_page=2&page=2").get_data(as_text=True)
    assert _rows(page2) == ["user.login"] * (len(_rows(page2))) and 1 <= len(_rows(page2)) <= 2


def test_who_may_read_is_unchanged(cast, login):
    assert login(cast.firm_it).get("/audit?action=user.login").status_code == 403


def test_every_recorded_action_has_a_label():
    """One vocabulary: each action string passed to ``record`` in the code has its words in vocab.py."""
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "record":
                for arg in node.args[2:3]:
                    for constant in ast.walk(arg):
                        if isinstance(constant, ast.Constant) and isinstance(constant.value, str) and "." in constant.value:
                            found.add(constant.value)
    assert len(found) > 20
    assert sorted(found - set(AUDIT_ACTION_LABELS)) == []
