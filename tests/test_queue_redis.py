"""The task queue on a shared Redis (DOCMGR_QUEUE_URL=redis://…): several workers take any task, periodic work
runs once per tick across the cluster, and queued work survives kill -9 of the broker (append-only file)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from huey.api import crontab

from docmgr import create_app
from docmgr.extensions import db
from docmgr.tasks.queue import get_queue, last_tick, register_periodic
from tests import backends
from tests.servers import start_redis

pytestmark = pytest.mark.slow


def node(tmp_path, name: str, database_url: str, queue_url: str, queue_name: str):
    """One node's app: its own local folders, the shared database and queue."""
    return create_app({
        "TESTING": True, "QUEUE_IMMEDIATE": False,
        "STORAGE_DIR": str(tmp_path / "shared-files"),  # the shared volume
        "INDEX_DIR": str(tmp_path / name / "index"),
        "SQLALCHEMY_DATABASE_URI": database_url, "QUEUE_URL": queue_url, "QUEUE_NAME": queue_name,
        "SECRET_KEY": "queue-test", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })


@pytest.fixture
def cluster(tmp_path, request, redis_server):
    database_url = backends.database_url(request, tmp_path)
    queue_name = f"docmgr-test-{uuid.uuid4().hex[:12]}"
    apps = [node(tmp_path, name, database_url, redis_server.url, queue_name) for name in ("a", "b")]
    with apps[0].app_context():
        db.create_all()
    yield apps
    for app in apps:
        get_queue(app).huey.storage.flush_all()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _minute_not_ending() -> datetime:
    """Now (naive UTC), at least 5 s before the minute ends, so both workers run inside the same tick."""
    import time

    now = datetime.now(UTC)
    if now.second >= 55:
        time.sleep(61 - now.second)
    return datetime.now(UTC).replace(tzinfo=None)


def test_two_workers_each_enqueue_a_periodic_tick_and_it_runs_once(cluster, tmp_path):
    runs = tmp_path / "runs.txt"
    lock = threading.Lock()

    def tick() -> None:  # a real side effect both nodes can see: a line in a shared file
        with lock, runs.open("a") as fh:
            fh.write("ran\n")

    every_minute = crontab()
    for app in cluster:
        register_periodic(get_queue(app), "test.tick", every_minute, tick)

    def one_tick() -> None:
        now = _minute_not_ending()
        for app in cluster:  # what each worker's Huey scheduler does at the top of the minute
            huey = get_queue(app).huey
            for task in huey.read_periodic(now):
                if task.name == "test.tick":  # the instance's own schedules (every 5 min, :23, …) are not this test's
                    huey.enqueue(task)
        assert get_queue(cluster[0]).huey.pending_count() == 2  # each worker enqueued the tick
        threads = [threading.Thread(target=_drain, args=(app,)) for app in cluster]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    one_tick()
    assert runs.read_text().splitlines() == ["ran"]  # two workers, two messages, one run
    assert get_queue(cluster[0]).huey.pending_count() == 0


def _drain(app) -> None:
    huey = get_queue(app).huey
    while (message := huey.dequeue()) is not None:
        huey.execute(message)


def test_last_tick_is_the_schedules_latest_minute():
    daily = crontab(hour="3", minute="17")
    assert last_tick(daily, datetime(2026, 12, 2, 3, 17, 40)) == datetime(2026, 12, 2, 3, 17)
    assert last_tick(daily, datetime(2026, 12, 2, 9, 0)) == datetime(2026, 12, 2, 3, 17)
    assert last_tick(daily, datetime(2026, 12, 2, 3, 16)) == datetime(2026, 12, 1, 3, 17)
    assert last_tick(crontab(), datetime(2026, 12, 2, 3, 16, 59)) - timedelta(minutes=1) == datetime(2026, 12, 2, 3, 15)


def test_work_queued_on_redis_survives_kill_9_of_the_broker(tmp_path, request, make_user, make_org):
    """Uploads recorded (outbox rows) and handed to Redis; redis-server is killed with SIGKILL and restarted on
    its append-only file: the messages are there, and a worker runs them."""
    from docmgr.tasks.models import OutboxStatus, OutboxTask

    broker = start_redis(tmp_path / "redis", private=True)
    assert broker.process is not None
    port = int(broker.url.rsplit(":", 1)[1].split("/")[0])
    database_url = backends.database_url(request, tmp_path)
    app = node(tmp_path, "a", database_url, broker.url, "docmgr-kill")
    try:
        with app.app_context():
            db.create_all()
            from docmgr.tasks.queue import enqueue

            for number in range(3):
                enqueue(db.session, "test.note", number=number)
            db.session.commit()  # → three messages handed to Redis
            assert get_queue(app).huey.pending_count() == 3
        broker.process.kill()  # SIGKILL: no shutdown, no final save
        broker.process.wait(timeout=10)
        broker = start_redis(tmp_path / "redis", port=port, private=True)
        assert get_queue(app).huey.pending_count() == 3  # replayed from the append-only file

        seen: list[int] = []
        from docmgr.tasks.queue import register_handler

        register_handler(app, "test.note", lambda number: seen.append(number))
        huey = get_queue(app).huey
        while (message := huey.dequeue()) is not None:  # no relay: the broker's own messages only
            huey.execute(message)
        assert sorted(seen) == [0, 1, 2]
        with app.app_context():
            statuses = {row.status for row in db.session.query(OutboxTask)}
            assert statuses == {OutboxStatus.DONE.value}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        broker.stop()
