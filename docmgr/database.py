"""The declarative base and column helpers every model shares (no Flask here, by design)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes, even on SQLite, which stores them naive."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    # Named constraints so Alembic batch migrations on SQLite can find and alter them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def load_all_models() -> None:
    """Import every package's models so the metadata (create_all, Alembic) sees all tables."""
    import importlib
    import pkgutil
    from pathlib import Path

    for package in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if package.ispkg and (Path(__file__).parent / package.name / "models.py").is_file():
            importlib.import_module(f"docmgr.{package.name}.models")


# --- holding SQLite's write lock only while writing ----------------------------------------------------


def _mark_flushed(session, *_args) -> None:
    session.info["docmgr.wrote"] = True


def _mark_dml(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["docmgr.wrote"] = True


def _forget_flushes(session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop("docmgr.wrote", None)


def release_read_transaction(session) -> bool:
    """End ``session``'s transaction if it has written nothing yet, so slow work that follows (parsing an
    upload, rendering a draft, verifying a signature) holds no database lock; the next statement begins a
    new transaction (BEGIN IMMEDIATE in a writing request). Objects loaded so far are expired and reload
    on their next use, so checks that matter must be made again after the slow work.

    Returns False, and changes nothing, when the transaction has pending or flushed changes: those
    cannot be ended without committing half a change."""
    from sqlalchemy.orm import scoped_session

    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        return True
    if session.new or session.dirty or session.deleted or session.info.get("docmgr.wrote"):
        return False
    session.rollback()
    return True


def _install_flush_tracking() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    event.listen(Session, "before_flush", _mark_flushed)
    event.listen(Session, "do_orm_execute", _mark_dml)
    event.listen(Session, "after_transaction_end", _forget_flushes)


_install_flush_tracking()


# --- serialising writers on PostgreSQL where SQLite's write lock already does -----------------------------


def _lock_key(name: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def serialize_writers(session, name: str) -> None:
    """Wait until no other transaction holds the lock ``name``; hold it until this transaction ends.

    On SQLite a writing transaction already holds the database's single write lock (BEGIN IMMEDIATE), so
    this does nothing. On PostgreSQL, transactions run side by side: a read-then-append (the audit chain's
    next link, a template's next version) takes a transaction-level advisory lock first, so two appends
    never read the same "last" row. Rows that exist are locked with ``with_for_update()`` instead."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy import text

        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(name)})
