"""The real servers the tests start (tests/servers.py) answer, and each test gets its own empty database."""

from __future__ import annotations

import redis
import sqlalchemy as sa


def test_postgres_gives_each_test_an_empty_database_with_the_extensions(postgres_url):
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            extensions = set(conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
            tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()
            assert conn.execute(sa.text("SELECT unaccent('Tolyatti ё àè')")).scalar() == "Tolyatti е ae"
    finally:
        engine.dispose()
    assert "unaccent" in extensions
    assert tables == 0


def test_redis_answers(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set("docmgr-test", b"1")
    assert client.get("docmgr-test") == b"1"
    client.delete("docmgr-test")
