"""Several nodes: two gunicorn web nodes and a queue worker, each with its own local folders (index, tmp), sharing
one PostgreSQL database (also the search backend, DOCMGR_SEARCH_BACKEND=postgres), one Redis queue and the file
volume. What node A takes in, node B finds; the worker OCRs scans uploaded through A; kill -9 of node A and of
the worker under load loses nothing answered 201, and `docmgr check` passes after the restart."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.test_crash import load_crash_test

# Always PostgreSQL + Redis, whatever the pass: CI's second pass need not run it again.
pytestmark = [pytest.mark.slow, pytest.mark.backend_independent]


@pytest.fixture
def cluster(tmp_path, postgres_server, redis_server):
    crash_test = load_crash_test()
    shared = {
        "DOCMGR_DATABASE_URL": postgres_server.create_database("cluster"),
        "DOCMGR_SEARCH_BACKEND": "postgres",
        "DOCMGR_QUEUE_URL": redis_server.url,
        "DOCMGR_QUEUE_NAME": f"docmgr-cluster-{uuid.uuid4().hex[:12]}",
        "DOCMGR_STORAGE_DIR": str(tmp_path / "shared-volume"),
        "DOCMGR_SECRET_KEY": "cluster-test-secret",
        "DOCMGR_EXTRACTION_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }

    def node_env(name: str) -> dict[str, str]:
        local = tmp_path / name
        (local / "tmp").mkdir(parents=True, exist_ok=True)
        import os

        return {**os.environ, **shared, "DOCMGR_INDEX_DIR": str(local / "index"), "TMPDIR": str(local / "tmp")}

    worker_env = node_env("worker")
    crash_test.init_schema(worker_env)
    crash_test.run_cli(worker_env, "create-org", "--name", "Nodi S.r.l.", "--country", "IT")
    crash_test.run_cli(worker_env, "create-user", "--email", "firm@cluster.test", "--password", crash_test.PASSWORD,
                       "--role", "firm", "--org", "Nodi S.r.l.")
    node_a = crash_test.Server(node_env("node-a"), crash_test.free_port(), 2, tmp_path / "node-a.log")
    node_b = crash_test.Server(node_env("node-b"), crash_test.free_port(), 2, tmp_path / "node-b.log")
    worker = crash_test.Worker(worker_env, tmp_path / "worker.log")
    try:
        node_a.start()
        node_b.start()
        worker.start()
        yield crash_test, node_a, node_b, worker, worker_env
    finally:
        node_a.stop()
        node_b.stop()
        worker.stop()


def _until(condition, seconds: float = 90.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    return condition()


def test_two_web_nodes_and_a_worker_share_database_queue_and_files(cluster, tmp_path):
    crash_test, node_a, node_b, worker, worker_env = cluster
    firm = {"Authorization": f"Bearer {crash_test.token(node_a.port, 'firm@cluster.test')}"}

    def search(port: int, q: str) -> list[int]:
        status, data = crash_test.request(port, "GET", f"/api/v1/search?q={q}", headers=firm)
        assert status == 200, data
        return [hit["document_id"] for hit in json.loads(data)["hits"]]

    def upload(port: int, payload) -> dict:
        word = payload[0]
        body, content_type = crash_test.multipart({"title_it": f"Proposta {word}"}, [payload[1]])
        status, answer = crash_test.request(port, "POST", "/api/v1/documents", body,
                                            {**firm, "Content-Type": content_type})
        assert status == 201, answer
        return json.loads(answer)

    # A document uploaded through node A is searchable through node B (and its bytes readable there).
    word = crash_test.unique_word()
    document = upload(node_a.port, (word, crash_test.text_payload(word)))
    assert _until(lambda: search(node_b.port, word) == [document["id"]]), "node B never found node A's upload"
    path = f"/api/v1/documents/{document['id']}/files/{document['files'][0]['id']}/content"
    status, data = crash_test.request(node_b.port, "GET", path, headers=firm)
    assert status == 200 and data == crash_test.text_payload(word)[1]

    # A scan uploaded through node A is OCR'd by the worker; node B sees the text and finds it by a recognised word.
    scan_word = crash_test.unique_word()
    scan = upload(node_a.port, (scan_word, crash_test.scan_payload(scan_word)))

    def ocr_done() -> bool:
        status, data = crash_test.request(node_b.port, "GET", f"/api/v1/documents/{scan['id']}", headers=firm)
        return status == 200 and json.loads(data)["files"][0]["text_status"] == "ocr_done"

    assert _until(ocr_done, 180), "the worker never OCR'd the scan"
    assert _until(lambda: scan["id"] in search(node_b.port, "collaborazione"))

    # kill -9 of node A and of the worker under load (uploads through A, scans among them); restart; nothing lost.
    settings = crash_test.Settings(upload_threads=2, scan_threads=1, search_threads=0, render_threads=0,
                                   seconds_before_kill=4.0, seconds_after_restart=3.0, drain_seconds=120.0,
                                   hostile_upload=False)
    load = crash_test.Load(node_a.port, settings, firm["Authorization"].split()[1], "", None, "search")
    threads = load.threads()
    for thread in threads:
        thread.start()
    time.sleep(settings.seconds_before_kill)
    load.server_down.set()
    node_a.kill()
    worker.kill()
    worker.start()
    node_a.start()
    load.server_down.clear()
    time.sleep(settings.seconds_after_restart)
    load.stop.set()
    for thread in threads:
        thread.join(timeout=settings.request_timeout + 5)
    stats = load.stats
    report = json.dumps({"ok": dict(stats.ok), "http_errors": dict(stats.http_errors),
                         "outage": dict(stats.connection_errors_outage)})
    assert stats.uploads and stats.http_errors == {}, report
    assert sum(stats.connection_errors_outage.values()) > 0, report  # the kill happened under load
    # Checked through node B: same bytes, found by their word, scans OCR'd.
    uploads = crash_test.verify_uploads(node_b.port, load.firm, stats.uploads)
    assert uploads["intact"] == uploads["checked"], uploads
    found = crash_test.verify_search(node_b.port, load.firm, stats.uploads, settings.drain_seconds)
    assert found["found"] == found["checked"], found
    ocr = crash_test.verify_ocr(node_b.port, load.firm, stats.scans, settings.drain_seconds)
    assert ocr["ocr_done"] == ocr["checked"], ocr
    storage = crash_test.verify_storage(tmp_path / "shared-volume")
    assert storage["objects_bad"] == 0, storage

    worker.stop()
    check = crash_test.run_cli(worker_env, "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
