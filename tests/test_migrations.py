"""The Alembic migrations build exactly the schema the models describe, and `init` is re-runnable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from docmgr import create_app
from docmgr.extensions import db
from docmgr.search.indexers import get_engine


def _fresh_app(tmp_path):
    return create_app({
        "TESTING": True,
        "STORAGE_DIR": str(tmp_path / "storage"),
        "INDEX_DIR": str(tmp_path / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'migrated.sqlite3'}",
        "SECRET_KEY": "test",
    })


def test_init_creates_the_schema_of_the_models_and_is_safe_to_rerun(tmp_path):
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["docmgr", "init"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["docmgr", "init"])
    assert second.exit_code == 0, second.output
    assert "rebuilt" not in second.output
    with app.app_context():
        engine = get_engine()
        with engine.drain_lock(blocking=True):
            live = engine.ensure()
    (live / "schema-version").write_text("0\n")  # an index built by an older version…
    third = runner.invoke(args=["docmgr", "init"])
    assert third.exit_code == 0, third.output
    assert "built by an older version, rebuilt (0 entries)" in third.output  # …is rebuilt by init
    with app.app_context():
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"render_as_batch": True}), db.metadata)
            tables = set(inspect(connection).get_table_names())
        assert diff == [], f"models and migrations differ: {diff}"
        assert {"users", "documents", "document_files", "audit_events", "agreements", "outbox"} <= tables
        assert (tmp_path / "storage" / "objects").is_dir()
        assert (tmp_path / "index").is_dir()
