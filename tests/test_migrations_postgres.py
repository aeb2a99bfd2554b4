"""The same Alembic migrations build, on PostgreSQL, exactly the schema the models describe (`docmgr init`)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from docmgr import create_app
from docmgr.extensions import db
from docmgr.search.pgschema import RUM_INDEX


def test_init_on_postgresql_creates_the_schema_of_the_models_and_is_safe_to_rerun(tmp_path, postgres_url):
    app = create_app({
        "TESTING": True, "STORAGE_DIR": str(tmp_path / "storage"), "INDEX_DIR": str(tmp_path / "index"),
        "SQLALCHEMY_DATABASE_URI": postgres_url, "SECRET_KEY": "test",
    })
    runner = app.test_cli_runner()
    first = runner.invoke(args=["docmgr", "init"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["docmgr", "init"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                assert connection.dialect.name == "postgresql"
                # The PostgreSQL search backend's own tables (search_*, docmgr.search.pgschema) have no models.
                context = MigrationContext.configure(connection, opts={"include_name": _not_search_table})
                diff = compare_metadata(context, db.metadata)
                tables = set(inspect(connection).get_table_names())
                # 0006_pgspeed: the search backend's RUM index, since the test databases have the rum extension
                indexes = {index["name"] for index in inspect(connection).get_indexes("search_entries")}
        finally:
            db.session.remove()
            db.engine.dispose()
    assert diff == [], f"models and migrations differ on PostgreSQL: {diff}"
    assert {"users", "documents", "document_files", "audit_events", "agreements", "outbox"} <= tables
    assert {"ix_search_entries_tsv", RUM_INDEX} <= indexes


def _not_search_table(name, type_, parent_names) -> bool:
    table = name if type_ == "table" else (parent_names or {}).get("table_name") or ""
    return not str(table).startswith("search_")
