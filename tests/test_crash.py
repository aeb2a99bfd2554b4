"""The reduced load-and-fault run of bench/crash_test.py: gunicorn and the queue worker killed with SIGKILL under
load, restarted, and nothing answered 201 is lost, damaged, unsearchable or left without OCR; no stored object is
half-written; `check` passes. And a worker killed between a commit and the hand-off of the work it recorded."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import pytest
import sqlalchemy

from docmgr.tasks.queue import EXIT_AFTER_COMMIT_CODE
from tests import backends
from tests.conftest import REPO_ROOT


def load_crash_test():
    spec = importlib.util.spec_from_file_location("crash_test", REPO_ROOT / "bench" / "crash_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_killed_server_and_worker_lose_nothing_they_confirmed(tmp_path, request):
    """gunicorn and `docmgr worker` killed with SIGKILL under uploads (scans among them), searches and draft
    renders, then restarted: every upload answered 201 is intact, searchable and (scans) OCR'd, and `check`
    passes — which also compares every draft's index entry with the database."""
    crash_test = load_crash_test()
    summary = crash_test.run(crash_test.Settings.quick(), tmp_path, backends.server_env(request, tmp_path))

    report = json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=1, default=str)
    assert summary["uploads"]["checked"] > 0, report
    assert summary["uploads"]["intact"] == summary["uploads"]["checked"], report
    assert summary["search"]["found"] == summary["search"]["checked"], report
    assert summary["ocr"]["checked"] > 0, report
    assert summary["ocr"]["ocr_done"] == summary["ocr"]["found_by_recognised_text"] == summary["ocr"]["checked"], report
    assert summary["exercised"]["draft_renders"] and summary["drafts"]["checked"] > 0, report
    assert summary["drafts"]["intact"] == summary["drafts"]["checked"], report
    assert summary["storage"]["objects_bad"] == 0, report
    assert summary["requests"]["http_errors"] == {}, report
    assert sum(summary["requests"]["connection_errors_during_outage"].values()) > 0, report  # the kill happened
    assert summary["hostile_upload"]["status"] == 422 and summary["hostile_upload"]["code"] == "too_complex", report
    assert summary["check"]["exit_code"] == 0, report
    assert summary["passed"], report


@pytest.mark.slow
def test_a_worker_killed_between_commit_and_hand_off_loses_no_work(tmp_path, request):
    """The worker OCRs a scan, commits the text together with the index work it needs, and dies before
    handing that work to the queue (DOCMGR_QUEUE_EXIT_AFTER_COMMIT: os._exit right after the commit). After
    a restart the relay finds the pending row and the recognised text becomes searchable."""
    crash_test = load_crash_test()
    env = {
        **os.environ, "DOCMGR_STORAGE_DIR": str(tmp_path / "storage"), "DOCMGR_INDEX_DIR": str(tmp_path / "index"),
        "DOCMGR_SECRET_KEY": "kill-test", **backends.server_env(request, tmp_path),
    }
    crash_test.init_schema(env)
    crash_test.run_cli(env, "create-org", "--name", "Kill Test S.r.l.", "--country", "IT")
    crash_test.run_cli(env, "create-user", "--email", "firm@kill.test", "--password", crash_test.PASSWORD,
                       "--role", "firm", "--org", "Kill Test S.r.l.")
    server = crash_test.Server(env, crash_test.free_port(), 1, tmp_path / "gunicorn.log")
    dying = crash_test.Worker({**env, "DOCMGR_QUEUE_EXIT_AFTER_COMMIT": "search.index"}, tmp_path / "worker.log")
    worker = crash_test.Worker(env, tmp_path / "worker.log")
    try:
        server.start()
        firm = {"Authorization": f"Bearer {crash_test.token(server.port, 'firm@kill.test')}"}
        word = crash_test.unique_word()
        body, content_type = crash_test.multipart({"title_it": f"Scansione {word}"}, [crash_test.scan_payload(word)])
        status, answer = crash_test.request(server.port, "POST", "/api/v1/documents", body,
                                            {**firm, "Content-Type": content_type})
        assert status == 201, answer
        document_id = json.loads(answer)["id"]

        def search(q: str) -> list[int]:
            status, data = crash_test.request(server.port, "GET", f"/api/v1/search?q={q}", headers=firm)
            assert status == 200
            return [hit["document_id"] for hit in json.loads(data)["hits"]]

        assert search(word) == []  # the web process never writes the index
        dying.start()
        assert dying.wait(timeout=180) == EXIT_AFTER_COMMIT_CODE  # died right after the OCR's commit
        status, data = crash_test.request(server.port, "GET", f"/api/v1/documents/{document_id}", headers=firm)
        assert json.loads(data)["files"][0]["text_status"] == "ocr_done"  # the commit happened…
        assert search(word) == [document_id]  # (the upload's own index work ran before)
        assert search("collaborazione") == []  # …and the index work it recorded never reached the queue
        engine = sqlalchemy.create_engine(env["DOCMGR_DATABASE_URL"])  # SQLite, or PostgreSQL in CI's pass 2
        try:
            with engine.connect() as connection:
                pending = [tuple(row) for row in connection.exec_driver_sql(
                    "SELECT task, status FROM outbox WHERE status != 'done' ORDER BY id")]
        finally:
            engine.dispose()
        # The OCR task's own row is still pending too (the worker died before marking it done): run again after
        # the restart it finds its job done and changes nothing.
        assert pending == [("documents.ocr", "pending"), ("search.index", "pending")]

        worker.start()  # a fresh worker: its relay hands the pending row over at start
        deadline = time.monotonic() + 60
        while search("collaborazione") != [document_id] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert search("collaborazione") == [document_id]
    finally:
        server.stop()
        worker.stop()
        dying.stop()
    check = crash_test.run_cli(env, "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "queue: 0 pending, 0 overdue, 0 dead" in check.stdout
