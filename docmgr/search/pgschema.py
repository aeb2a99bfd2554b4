"""The PostgreSQL search backend's schema objects: one table of entries with a weighted ``tsvector``, the
lexicon (wildcard expansion, term statistics for "similar documents") and a small key/value table (schema
version, generation). Created by migration ``0004_pgsearch`` on PostgreSQL, or by the backend at start when
the database was made without migrations (``db.create_all()`` in tests). Nothing here exists on SQLite.

The ``tsv`` column holds the lexemes :mod:`docmgr.search.text` makes (the same analysis Whoosh indexes, so
both backends match the same documents), with the field as the weight:

* ``A`` titles, ``B`` labels (organisation, session and file names), ``D`` the files' texts — together the
  ``body`` field; ``text:`` is ``D`` only, ``title:`` ``A``, ``meta:`` ``B``;
* ``C`` cross-script name skeletons, apart from the words by a prefix: ``NAME_PREFIX`` (the ``names``
  field), ``ORG_PREFIX`` (``org:``).

A plain word therefore needs no weight in the tsquery (``'accord' | '^akkord'``): GIN answers it exactly,
without re-reading each match's vector (weights and phrases make PostgreSQL recheck every candidate row).

Ranking: where the database has the ``rum`` extension (Debian's ``postgresql-15-rum``; ``CREATE EXTENSION rum``
by the administrator, as ``unaccent``), a RUM index on ``tsv`` too (``RUM_INDEX``): it keeps each lexeme's
positions and weights, so the best matches come from the index in rank order (``tsv <=> query``) without reading
the matches' vectors (:func:`docmgr.search.pgengine.search_sql`). Without it, every match's vector is read.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

ENTRIES = "search_entries"
TERMS = "search_terms"
META = "search_meta"
NAME_PREFIX = "^"  # name skeletons (weight C)
ORG_PREFIX = "~"  # organisation-name skeletons (weight C)

def _entries_table(table: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {table} (
        uid text PRIMARY KEY,
        object_key text NOT NULL,
        doctype text NOT NULL,
        object_id bigint NOT NULL,
        title_it text NOT NULL DEFAULT '',
        title_ru text NOT NULL DEFAULT '',
        kind text NOT NULL DEFAULT '',
        sectors text[] NOT NULL DEFAULT '{{}}',
        langs text[] NOT NULL DEFAULT '{{}}',
        organization_id integer,
        readers integer[] NOT NULL DEFAULT '{{}}',
        session_id integer,
        year text NOT NULL DEFAULT '',
        created timestamp NOT NULL,
        stamp text NOT NULL DEFAULT '',
        payload text NOT NULL DEFAULT '{{}}',
        tsv tsvector NOT NULL
    )"""


# The entries' indexes (name suffix, method and columns); ix_<table>_<suffix>.
ENTRY_INDEXES = [("tsv", "USING gin (tsv)"), ("readers", "USING gin (readers)"), ("object_key", "(object_key)"),
                 ("created", "(created)")]
RUM_ENTRY_INDEX = ("rum", "USING rum (tsv rum_tsvector_ops)")


def _create_index(table: str, suffix: str, how: str) -> str:
    return f"CREATE INDEX IF NOT EXISTS ix_{table}_{suffix} ON {table} {how}"


def _entry_indexes(table: str, rum: bool) -> list[str]:
    return [_create_index(table, suffix, how) for suffix, how in ENTRY_INDEXES + ([RUM_ENTRY_INDEX] if rum else [])]


DDL = [
    _entries_table(ENTRIES),
    *_entry_indexes(ENTRIES, rum=False),
    f"CREATE TABLE IF NOT EXISTS {TERMS} (lexeme text COLLATE \"C\" PRIMARY KEY, ndoc integer NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {META} (key text PRIMARY KEY, value text NOT NULL)",
    f"INSERT INTO {META} (key, value) VALUES ('generation', '0') ON CONFLICT (key) DO NOTHING",
]

RUM_INDEX = f"ix_{ENTRIES}_{RUM_ENTRY_INDEX[0]}"
RUM_DDL = _create_index(ENTRIES, *RUM_ENTRY_INDEX)

DROP = [f"DROP TABLE IF EXISTS {ENTRIES}", f"DROP TABLE IF EXISTS {TERMS}", f"DROP TABLE IF EXISTS {META}"]

# A rebuild's new rows: loaded into this table without its secondary indexes, indexed once, then swapped in.
SHADOW = f"{ENTRIES}_new"


def create_schema(connection: Connection) -> None:
    """Create the tables and indexes that are missing (idempotent); the RUM index where ``rum`` is installed."""
    for statement in DDL:
        connection.execute(text(statement))
    if connection.execute(text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum')")).scalar_one():
        connection.execute(text(RUM_DDL))


def create_shadow(connection: Connection) -> None:
    """An empty entries table for a rebuild, with only its primary key (the secondary indexes come after the rows:
    building a GIN or RUM index once is several times faster than maintaining it row by row)."""
    connection.execute(text(f"DROP TABLE IF EXISTS {SHADOW}"))
    connection.execute(text(_entries_table(SHADOW)))


def swap_in_shadow(connection: Connection, rum: bool) -> None:
    """Index the shadow table and put it in the entries' place, with the entries' index and key names (one
    transaction with the load: searches read the old rows until the commit; the swap itself is a catalogue
    change)."""
    for statement in _entry_indexes(SHADOW, rum):
        connection.execute(text(statement))
    grants = connection.execute(text(_GRANTS), {"name": ENTRIES}).all()
    connection.execute(text(f"DROP TABLE {ENTRIES}"))
    connection.execute(text(f"ALTER TABLE {SHADOW} RENAME TO {ENTRIES}"))
    connection.execute(text(f"ALTER TABLE {ENTRIES} RENAME CONSTRAINT {SHADOW}_pkey TO {ENTRIES}_pkey"))
    for suffix, _ in ENTRY_INDEXES + ([RUM_ENTRY_INDEX] if rum else []):
        connection.execute(text(f"ALTER INDEX ix_{SHADOW}_{suffix} RENAME TO ix_{ENTRIES}_{suffix}"))
    for grantee, privilege, column, grantable in grants:
        connection.execute(text(f"GRANT {privilege}{column} ON {ENTRIES} TO {grantee}"
                                f"{' WITH GRANT OPTION' * grantable}"))


# What an operator granted on the entries table or its columns to other roles (a reporting role, say), as GRANT's
# words: a rebuild grants the same on the new table (the grantor becomes docmgr's role).
_GRANTEE = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END"
_GRANTS = (f"SELECT {_GRANTEE}, a.privilege_type, '', a.is_grantable FROM pg_class c "
           "CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
           "WHERE c.oid = CAST(:name AS regclass) AND a.grantee <> c.relowner "
           f"UNION ALL SELECT {_GRANTEE}, a.privilege_type, ' (' || quote_ident(t.attname) || ')', a.is_grantable "
           "FROM pg_attribute t CROSS JOIN LATERAL aclexplode(t.attacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
           "WHERE t.attrelid = CAST(:name AS regclass) AND NOT t.attisdropped")


def has_rum_index(connection: Connection) -> bool:
    return connection.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": RUM_INDEX}).scalar_one()


def schema_exists(connection: Connection) -> bool:
    return connection.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": ENTRIES}).scalar_one()
