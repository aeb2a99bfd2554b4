"""The index queue: drained after commit, one writer across processes, nothing lost in a crash,
rebuilt by `reindex`, verified by `check`."""

from __future__ import annotations

import io
import multiprocessing
import os
import time

from sqlalchemy import func, select

from docmgr.extensions import db
from docmgr.search import services
from docmgr.search.models import IndexTask
from tests.conftest import stored_blob_count, table_counts
from tests.search.conftest import ids, txt


def queued() -> int:
    db.session.rollback()
    count = db.session.scalar(select(func.count()).select_from(IndexTask))
    db.session.rollback()  # outside requests transactions take the write lock: do not keep it
    return count


def indexed(app) -> set[str]:
    return set(services.get_engine(app).doc_ids())


def upload(client, headers, text: str, **fields):
    data = {"title_it": "Proposta", "kind": "proposal", **fields,
            "file": (io.BytesIO(text.encode()), "proposta.txt")}
    return client.post("/api/v1/documents", data=data, headers=headers, content_type="multipart/form-data")


def test_a_committed_upload_is_indexed_before_the_response_returns(app, client, make_user, token_for):
    user = make_user("firm")
    headers = token_for(user)
    response = upload(client, headers, "Impianto fotovoltaico per il distretto.")
    assert response.status_code == 201
    document_id = response.get_json()["id"]
    # Checked on the index itself (a search would catch up by itself): the request drained it.
    assert f"document:{document_id}" in indexed(app)
    assert queued() == 0
    body = client.get("/api/v1/search", query_string={"q": "fotovoltaici"}, headers=headers).get_json()
    assert ids(body) == [document_id]


def test_a_refused_upload_leaves_database_files_and_index_unchanged(app, client, make_user, token_for, make_document):
    user = make_user("firm")
    make_document(user, files=[txt("Documento esistente.", language="it")])
    services.drain(app)
    headers = token_for(user)
    before = (table_counts(), stored_blob_count(app), indexed(app))
    response = upload(client, headers, "Testo valido.", kind="memo")
    assert response.status_code == 422
    assert (table_counts(), stored_blob_count(app), indexed(app)) == before


def test_no_request_fails_while_another_process_holds_the_writer(app, client, make_user, token_for):
    user = make_user("firm")
    headers = token_for(user)
    engine = services.get_engine(app)
    with engine.drain_lock() as acquired:  # as if another worker were draining right now
        assert acquired
        response = upload(client, headers, "Rete di teleriscaldamento urbano.")
        assert response.status_code == 201
        assert queued() == 1  # the task waits; it is not lost
        assert client.get("/api/v1/search", query_string={"q": "teleriscaldamento"}, headers=headers).status_code == 200
    body = client.get("/api/v1/search", query_string={"q": "teleriscaldamento"}, headers=headers).get_json()
    assert body["total"] == 1  # the next search caught up
    assert queued() == 0


def test_whoosh_lock_error_keeps_the_task_queued(app, client, make_user, token_for):
    from whoosh import index as whoosh_index

    user = make_user("firm")
    headers = token_for(user)
    engine = services.get_engine(app)
    with engine.drain_lock():
        engine.ensure()
    writer = whoosh_index.open_dir(str(engine.current_dir())).writer()  # someone bypassing our lock
    try:
        response = upload(client, headers, "Cogenerazione industriale.")
        assert response.status_code == 201
        assert queued() == 1
        assert services.drain(app) == 0
    finally:
        writer.cancel()
    assert services.drain(app) == 1
    assert queued() == 0


def test_tasks_left_by_a_crash_are_drained_by_a_fresh_process(app, tmp_path, make_user, make_document):
    """Commit with the drain disabled (tasks left in the queue, as after a crash between commit and
    indexing), then start a fresh app on the same data: its poller drains them."""
    from docmgr import create_app

    app.config["INDEX_SYNC"] = False
    user = make_user("firm")
    documents = [make_document(user, files=[txt(f"Turbina numero {i}.", language="it")]) for i in range(3)]
    assert queued() == 3
    assert indexed(app) == set()
    fresh = create_app({
        "TESTING": True, "STORAGE_DIR": app.config["STORAGE_DIR"], "INDEX_DIR": app.config["INDEX_DIR"],
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test-secret",
        "INDEX_POLL": True, "INDEX_POLL_SECONDS": 0.1,
    })
    deadline = time.monotonic() + 30
    while queued() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queued() == 0
    assert indexed(app) == {f"document:{d.id}" for d in documents}
    assert fresh.extensions["docmgr.search"].poller.is_alive()


def test_reindex_cli_rebuilds_from_the_database_into_a_fresh_generation(app, make_user, make_document):
    app.config["INDEX_SYNC"] = False
    user = make_user("firm")
    documents = [make_document(user, files=[txt(f"Caldaia modello {i}.", language="it")]) for i in range(2)]
    engine = services.get_engine(app)
    old_searcher = engine.searcher()  # None: nothing indexed yet
    runner = app.test_cli_runner()
    result = runner.invoke(args=["docmgr", "reindex"])
    assert result.exit_code == 0, result.output
    assert "2 entr(ies)" in result.output
    assert indexed(app) == {f"document:{d.id}" for d in documents}
    assert queued() == 0
    first = engine.current_dir()
    held = engine.searcher()
    result = runner.invoke(args=["docmgr", "reindex"])
    assert result.exit_code == 0
    assert engine.current_dir() != first  # swapped to a new generation…
    assert first.is_dir()  # …keeping the previous one for readers that still have it open
    from whoosh import query as wq

    assert len(held.search(wq.Term("kind", "proposal"))) == 2
    assert old_searcher is None


def test_an_index_built_by_an_older_version_is_rebuilt(app, make_user, make_document, search):
    """What `docmgr init` runs after the migrations (tests/test_migrations.py runs init itself)."""
    user, legal = make_user("firm"), make_user("legal")
    document = make_document(user, title_it="Turbine", files=[txt("Caldaia a condensazione.", language="it")])
    services.drain(app, blocking=True)
    engine = services.get_engine(app)
    assert ids(search(legal, "text:caldaia")[1]) == [document.id]
    assert services.reindex_if_outdated(app) is None  # current: left alone
    live = engine.current_dir()
    (live / "schema-version").unlink()  # what an index from before the version file looks like
    assert engine.is_outdated()
    assert services.reindex_if_outdated(app) == 1
    assert engine.current_dir() != live and not engine.is_outdated()
    assert ids(search(legal, "text:caldaia")[1]) == [document.id]
    assert ids(search(legal, "text:turbine")[1]) == []
    assert ids(search(legal, "turbine")[1]) == [document.id]


def test_check_reports_missing_stale_and_orphaned_entries(app, make_user, make_document):
    user = make_user("firm")
    kept, stale, missing = (make_document(user, files=[txt(f"Pompa di calore {i}.", language="it")]) for i in range(3))
    services.drain(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["docmgr", "check"])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output

    stale.title_it = "Titolo cambiato senza passare dal servizio"
    db.session.commit()
    engine = services.get_engine(app)
    with engine.drain_lock(), engine.writer() as batch:
        batch.delete_uid(f"document:{missing.id}")
        ghost = services.build_entry(db.session, "document", kept.id)
        ghost.uid = ghost.object_key = "document:999999"
        batch.put(ghost)
    result = runner.invoke(args=["docmgr", "check"])
    assert result.exit_code == 1
    assert f"document:{stale.id} is stale in the index" in result.output
    assert f"document:{missing.id} is missing from the index" in result.output
    assert "document:999999 is in the index but no longer in the database" in result.output
    assert "3 problem(s)" in result.output

    assert runner.invoke(args=["docmgr", "reindex"]).exit_code == 0
    result = runner.invoke(args=["docmgr", "check"])
    assert result.exit_code == 0, result.output


def test_check_counts_queued_work_as_pending_not_broken(app, make_user, make_document):
    app.config["INDEX_SYNC"] = False
    make_document(make_user("firm"))
    lines: list[str] = []
    assert services.check_index(lines.append) == 0
    assert "1 pending" in lines[-1]


# --- several processes -------------------------------------------------------------------------------


def _worker(config: dict, user_id: int, worker: int, count: int) -> None:
    """A separate process, like a gunicorn worker: its own app, creating documents and committing."""
    from docmgr import create_app
    from docmgr.accounts.models import User
    from docmgr.documents.services import Upload, create_document

    app = create_app(config)
    for i in range(count):
        with app.app_context():  # one context per "request": the drain runs when it ends
            user = db.session.get(User, user_id)
            text = f"Lavoro parallelo {worker}-{i}: valvola{worker}x{i} per gasdotti."
            create_document(db.session, user, title_it=f"Proposta {worker}-{i}",
                            uploads=[Upload(io.BytesIO(text.encode()), "p.txt", "it")])
            db.session.commit()
    os._exit(0)


def test_concurrent_writers_in_several_processes(app, make_user, search):
    user = make_user("firm")
    legal = make_user("legal")
    config = {key: app.config[key] for key in ("STORAGE_DIR", "INDEX_DIR", "SQLALCHEMY_DATABASE_URI")}
    config.update(TESTING=True, SECRET_KEY="test-secret", STORAGE_DIR=str(config["STORAGE_DIR"]),
                  INDEX_DIR=str(config["INDEX_DIR"]))
    user_id = user.id
    db.session.rollback()  # (outside requests a transaction holds the write lock: free it for the workers)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(config, user_id, w, 3)) for w in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    _, body = search(legal, "gasdotti", per_page=50)
    assert body["total"] == 9
    for worker in range(3):
        for i in range(3):
            _, body = search(legal, f"valvola{worker}x{i}")
            assert body["total"] == 1, (worker, i)
    assert queued() == 0
    result = app.test_cli_runner().invoke(args=["docmgr", "check"])
    assert result.exit_code == 0, result.output
