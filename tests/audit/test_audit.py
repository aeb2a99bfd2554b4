"""The audit chain: per-agreement trail, export, verification, and tampering detected by id."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from sqlalchemy import text

from docmgr.audit.services import GENESIS, record
from docmgr.extensions import db


@pytest.fixture
def staff(make_user):
    return {"legal": make_user("legal"), "ministry": make_user("ministry"), "admin": make_user("admin")}


def _fill_chain(n: int = 6) -> None:
    for i in range(n):
        record(db.session, None, "test.event", object_type="Thing", object_id=i, value=i)
    db.session.commit()


def _verify(client, headers) -> dict:
    response = client.get("/api/v1/audit/verify", headers=headers)
    assert response.status_code == 200
    return response.get_json()


def _check_cli(app) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["docmgr", "check"])
    return result.exit_code, result.output


def test_intact_chain_verifies(app, client, staff, token_for):
    _fill_chain()
    body = _verify(client, token_for(staff["legal"]))
    assert body["ok"] is True and body["problems"] == []
    assert body["events"] >= 6
    code, output = _check_cli(app)
    assert code == 0, output


def test_forged_entry_is_detected(app, client, staff, token_for):
    headers = token_for(staff["ministry"])
    _fill_chain()
    target = db.session.execute(text("SELECT id FROM audit_events WHERE action='test.event' ORDER BY id LIMIT 1 OFFSET 2")).scalar()
    db.session.execute(text("UPDATE audit_events SET data=:d WHERE id=:i"), {"d": '{"value":999}', "i": target})
    db.session.commit()
    body = _verify(client, headers)
    assert body["ok"] is False
    assert [(p["id"], p["problem"]) for p in body["problems"]] == [(target, "altered")]
    code, output = _check_cli(app)
    assert code == 1 and f"entry {target} was altered" in output


def test_deleted_entry_is_detected(app, client, staff, token_for):
    headers = token_for(staff["admin"])
    _fill_chain()
    target = db.session.execute(text("SELECT id FROM audit_events WHERE action='test.event' ORDER BY id LIMIT 1 OFFSET 2")).scalar()
    db.session.execute(text("DELETE FROM audit_events WHERE id=:i"), {"i": target})
    db.session.commit()
    body = _verify(client, headers)
    assert body["ok"] is False
    problems = {(p["id"], p["problem"]) for p in body["problems"]}
    assert problems == {(target + 1, "missing_entries"), (target + 1, "broken_link")}
    assert str(target) in next(p["message"] for p in body["problems"] if p["problem"] == "missing_entries")
    code, output = _check_cli(app)
    assert code == 1 and f"entries {target}..{target} are missing" in output


def test_swapped_entries_are_detected(app, client, staff, token_for):
    headers = token_for(staff["legal"])
    _fill_chain()
    a, b = db.session.execute(
        text("SELECT id FROM audit_events WHERE action='test.event' ORDER BY id LIMIT 2 OFFSET 1")
    ).scalars().all()
    columns = "created_at, actor_id, actor_email, action, object_type, object_id, agreement_id, data, prev_hash, hash"
    rows = {row[0]: row[1:] for row in db.session.execute(text(f"SELECT id, {columns} FROM audit_events WHERE id IN (:a, :b)"), {"a": a, "b": b})}
    names = [c.strip() for c in columns.split(",")]
    # prev_hash and hash are unique: park one row's hashes first, then write the swapped contents.
    db.session.execute(text("UPDATE audit_events SET prev_hash='x', hash='y' WHERE id=:a"), {"a": a})
    for target, source in ((b, a), (a, b)):
        db.session.execute(
            text(f"UPDATE audit_events SET {', '.join(f'{n}=:{n}' for n in names)} WHERE id=:target"),
            {**dict(zip(names, rows[source], strict=True)), "target": target},
        )
    db.session.commit()
    body = _verify(client, headers)
    assert body["ok"] is False
    altered = sorted(p["id"] for p in body["problems"] if p["problem"] == "altered")
    assert altered == [a, b]
    code, output = _check_cli(app)
    assert code == 1 and f"entry {a} was altered" in output and f"entry {b} was altered" in output


def _recompute(row: dict) -> str:
    """The documented hash of an exported entry, computed without docmgr's code."""
    payload = {k: row[k] for k in ("id", "created_at", "actor_id", "actor_email", "action", "object_type", "object_id",
                                   "agreement_id", "data", "prev_hash")}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_export_jsonl_can_be_verified_independently(client, staff, token_for):
    _fill_chain()
    response = client.get("/api/v1/audit/export", headers=token_for(staff["ministry"]))
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    *rows, trailer = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    previous = GENESIS
    for row in rows:
        assert row["prev_hash"] == previous and _recompute(row) == row["hash"]
        previous = row["hash"]
    assert trailer == {"audit_head": {"id": rows[-1]["id"], "hash": rows[-1]["hash"], "mac": rows[-1]["mac"]}}


def test_export_csv(client, staff, token_for):
    headers = token_for(staff["legal"])
    _fill_chain(3)
    response = client.get("/api/v1/audit/export?format=csv", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    *rows, trailer = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[-1]["action"] == "test.event" and len(rows[-1]["hash"]) == 64
    assert json.loads(rows[-1]["data"]) == {"value": 2}
    assert (trailer["id"], trailer["object_id"], trailer["hash"]) == ("audit_head", rows[-1]["id"], rows[-1]["hash"])
    bad = client.get("/api/v1/audit/export?format=xml", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "format"


def test_firms_cannot_read_the_whole_log(client, make_user, token_for):
    headers = token_for(make_user("firm"))
    for url in ("/api/v1/audit/verify", "/api/v1/audit/export", "/api/v1/audit/export?format=csv"):
        assert client.get(url, headers=headers).status_code == 403
    assert client.get("/api/v1/audit/verify").status_code == 401
