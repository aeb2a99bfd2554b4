"""Whoosh query trees (what :mod:`docmgr.search.query` parses and :mod:`docmgr.search.services` filters with)
as SQL for the PostgreSQL backend: words and phrases become one ``tsquery`` on ``search_entries.tsv`` (the
field is the lexeme's weight, see :mod:`docmgr.search.pgschema`), keyword fields and permissions become
column predicates. The same query language therefore means the same thing on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from whoosh import query as wq
from whoosh.query.qcore import QueryError
from whoosh.query.spans import SpanNear, SpanNear2

from docmgr.search.pgschema import NAME_PREFIX, ORG_PREFIX
from docmgr.search.schema import InText

# Lexeme weights of the text fields (A titles, B labels, D the files' texts; "": any), and prefixes.
FIELD_WEIGHTS = {"body": "", "title_it": "A", "title_ru": "A", "meta": "B", "names": "", "org": ""}
FIELD_PREFIXES = {"names": NAME_PREFIX, "org": ORG_PREFIX}
TEXT_WEIGHT = "D"
COLUMN_EQUALS = {"kind": "kind", "doctype": "doctype", "uid": "uid", "object_key": "object_key", "year": "year"}
ARRAY_CONTAINS = {"sector": ("sectors", "text"), "lang": ("langs", "text"), "readers": ("readers", "int")}
INT_EQUALS = {"organization_id": "organization_id", "session_id": "session_id"}


def lexeme(text: str) -> str:
    """One quoted lexeme of the tsquery/tsvector input syntax."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class _Part:
    ts: str | None = None  # a tsquery (text) when the part is only words
    sql: str | None = None  # else an SQL condition


@dataclass
class Compiled:
    """An SQL condition with its parameters, and the tsquery of the positive words (for ranking)."""

    where: str
    params: dict[str, Any]
    rank: str | None


@dataclass
class _Compiler:
    params: dict[str, Any] = field(default_factory=dict)
    positive: list[str] = field(default_factory=list)

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def predicate(self, part: _Part) -> str:
        if part.sql is not None:
            return part.sql
        return f"(tsv @@ CAST({self.param(part.ts)} AS tsquery))"

    # --- leaves ---------------------------------------------------------------------------------------

    def words(self, fieldname: str, words: list[str], slop: int, weights: str | None, positive: bool) -> _Part:
        if fieldname not in FIELD_WEIGHTS:
            raise QueryError(f"no text field {fieldname!r}")
        weights = weights or FIELD_WEIGHTS[fieldname]
        prefix = FIELD_PREFIXES.get(fieldname, "")
        words = [w for w in words if w]
        if not words:
            return _Part(sql="FALSE")
        items = [lexeme(prefix + w) + (f":{weights}" if weights else "") for w in words]
        if positive:
            self.positive.extend(items)
        joiner = " <-> " if slop <= 1 and fieldname not in ("names", "org") else " & "
        return _Part(ts=joiner.join(items) if len(items) > 1 else items[0])

    def term(self, node: wq.Term, weights: str | None, positive: bool) -> _Part:
        name, value = node.fieldname, node.text
        if name in FIELD_WEIGHTS:
            return self.words(name, [str(value)], 1, weights, positive)
        if name in COLUMN_EQUALS:
            return _Part(sql=f"COALESCE({COLUMN_EQUALS[name]} = {self.param(str(value))}, FALSE)")
        if name in ARRAY_CONTAINS:
            column, kind = ARRAY_CONTAINS[name]
            if kind == "int":
                if not str(value).isdigit():
                    return _Part(sql="FALSE")
                return _Part(sql=f"{column} @> ARRAY[{self.param(int(value))}]::integer[]")
            return _Part(sql=f"{column} @> ARRAY[{self.param(str(value).lower())}]::text[]")
        if name in INT_EQUALS:
            if not str(value).isdigit():
                return _Part(sql="FALSE")
            return _Part(sql=f"COALESCE({INT_EQUALS[name]} = {self.param(int(value))}, FALSE)")
        raise QueryError(f"unknown field {name!r}")

    # --- the tree -------------------------------------------------------------------------------------

    def compile(self, node: wq.Query, weights: str | None = None, positive: bool = True) -> _Part:
        if node is wq.NullQuery or isinstance(node, wq.NullQuery.__class__):
            return _Part(sql="FALSE")
        if isinstance(node, wq.Every):
            return _Part(sql="TRUE")
        if isinstance(node, InText):
            return self.compile(node.q, TEXT_WEIGHT, positive)
        if isinstance(node, wq.Term):
            return self.term(node, weights, positive)
        if isinstance(node, wq.Phrase):
            return self.words(node.fieldname, [str(w) for w in node.words], node.slop, weights, positive)
        if isinstance(node, (SpanNear2, SpanNear)):
            children = node.qs if isinstance(node, SpanNear2) else [node.a, node.b]
            if not all(isinstance(c, wq.Term) for c in children):
                raise QueryError("span of non-terms")
            return self.words(children[0].fieldname, [str(c.text) for c in children], node.slop, weights, positive)
        if isinstance(node, (wq.Prefix, wq.Wildcard)):  # only when not expanded against the lexicon
            literal = str(node.text).split("*")[0].split("?")[0]
            fieldname = node.fieldname
            if fieldname not in FIELD_WEIGHTS or not literal:
                return _Part(sql="FALSE")
            prefix = FIELD_PREFIXES.get(fieldname, "")
            item = f"{lexeme(prefix + literal)}:*{weights or FIELD_WEIGHTS[fieldname]}"
            if positive:
                self.positive.append(item)
            return _Part(ts=item)
        if isinstance(node, wq.DateRange):
            conditions = []
            if node.startdate is not None:
                conditions.append(f"created >= {self.param(node.startdate)}")
            if node.enddate is not None:
                conditions.append(f"created <= {self.param(node.enddate)}")
            return _Part(sql="(" + " AND ".join(conditions) + ")" if conditions else "TRUE")
        if isinstance(node, wq.Not):
            inner = self.compile(node.query, weights, not positive)
            return _Part(ts=f"!({inner.ts})") if inner.sql is None else _Part(sql=f"NOT {inner.sql}")
        if isinstance(node, wq.AndNot):
            return self.combine([self.compile(node.a, weights, positive),
                                 self.compile(wq.Not(node.b), weights, positive)], "&")
        if isinstance(node, wq.AndMaybe):
            self.compile(node.b, weights, positive)  # ranks only
            return self.compile(node.a, weights, positive)
        if isinstance(node, wq.And):
            return self.combine([self.compile(c, weights, positive) for c in node.subqueries], "&")
        if isinstance(node, (wq.Or, wq.DisjunctionMax)):
            return self.combine([self.compile(c, weights, positive) for c in node.subqueries], "|")
        raise QueryError(f"cannot translate {type(node).__name__}")

    def combine(self, parts: list[_Part], operator: str) -> _Part:
        if operator == "&":
            parts = [p for p in parts if p.sql != "TRUE"]
            if any(p.sql == "FALSE" for p in parts):
                return _Part(sql="FALSE")
            if not parts:
                return _Part(sql="TRUE")
        else:
            parts = [p for p in parts if p.sql != "FALSE"]
            if any(p.sql == "TRUE" for p in parts):
                return _Part(sql="TRUE")
            if not parts:
                return _Part(sql="FALSE")
        if len(parts) == 1:
            return parts[0]
        if all(p.sql is None for p in parts):
            return _Part(ts=f" {operator} ".join(f"({p.ts})" for p in parts))
        # Words together in one tsquery (one index probe), the column predicates beside it.
        words = [p for p in parts if p.sql is None]
        columns = [p for p in parts if p.sql is not None]
        if len(words) > 1:
            words = [_Part(ts=f" {operator} ".join(f"({p.ts})" for p in words))]
        sql_operator = " AND " if operator == "&" else " OR "
        return _Part(sql="(" + sql_operator.join(self.predicate(p) for p in [*words, *columns]) + ")")


def compile_query(query: wq.Query, filter_query: wq.Query | None = None) -> Compiled:
    """The SQL condition of ``query`` within ``filter_query`` (raises ``QueryError`` for what has no
    translation: the caller falls back to plain words, as it does for Whoosh)."""
    compiler = _Compiler()
    part = compiler.compile(query)
    rank = " | ".join(compiler.positive) or None
    if filter_query is not None:
        filter_compiler_positive = len(compiler.positive)
        part = compiler.combine([part, compiler.compile(filter_query)], "&")
        del compiler.positive[filter_compiler_positive:]
    return Compiled(compiler.predicate(part), compiler.params, rank)
