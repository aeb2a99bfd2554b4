"""Setting up the data folders and schema, and the integrity checks behind `docmgr check`.

Modules plug in from their ``init_app(app)``: :func:`register_check` (a check prints what it finds and
returns how many problems), :func:`register_blob_references` (which stored files their rows point at)
and :func:`register_init_step` (what `docmgr init` must also do: load shipped templates, rebuild an
outdated index…). This module imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from docmgr.audit.services import verify_chain
from docmgr.extensions import db
from docmgr.storage import current_store

Echo = Callable[[str], None]
Check = Callable[[Echo], int]
BlobReferences = Callable[[Session], Iterable[tuple[str, str]]]
InitStep = Callable[[], str | None]


def _registry(app: Flask, name: str) -> list:
    return app.extensions.setdefault(f"docmgr.{name}", [])


def register_check(app: Flask, check: Check) -> None:
    """Add a check to `docmgr check`: ``check(echo)`` prints what it finds and returns how many problems."""
    if check not in _registry(app, "checks"):
        _registry(app, "checks").append(check)


def register_blob_references(app: Flask, references: BlobReferences) -> None:
    """``references(session)`` yields (sha256, what points at it) for every stored file a module's rows use."""
    if references not in _registry(app, "blob_references"):
        _registry(app, "blob_references").append(references)


def register_init_step(app: Flask, step: InitStep) -> None:
    """Something `docmgr init` does after the migrations; it may return a line to print."""
    if step not in _registry(app, "init_steps"):
        _registry(app, "init_steps").append(step)


def initialize() -> list[str]:
    """Create the data folders, bring the schema to the newest migration and run every module's init
    step. Returns the lines the steps had to say."""
    current_store().ensure()
    current_app.config["INDEX_DIR"].mkdir(parents=True, exist_ok=True)
    upgrade()
    said = []
    for step in _registry(current_app, "init_steps"):
        line = step()
        if line:
            said.append(line)
    return said


def referenced_blobs() -> list[tuple[str, str]]:
    """(sha256, what points at it) for every stored file a row refers to."""
    refs: list[tuple[str, str]] = []
    for references in _registry(current_app, "blob_references"):
        refs.extend(references(db.session))
    return refs


def check_files(echo: Echo) -> int:
    store = current_store()
    problems = 0
    seen: dict[str, str | None] = {}
    for sha, owner in referenced_blobs():
        if sha not in seen:
            seen[sha] = store.verify(sha)
        if seen[sha]:
            problems += 1
            echo(f"file {seen[sha]}: {owner} sha256={sha}")
    echo(f"files: {len(seen)} stored file(s) re-hashed, {problems} problem(s)")
    return problems


def check_audit(echo: Echo) -> int:
    report = verify_chain(db.session)
    for problem in report.problems:
        echo(f"audit: {problem['message']}")
    echo(f"audit: {report.events} event(s) in the chain, {len(report.problems)} problem(s)")
    return len(report.problems)


def init_app(app: Flask) -> None:
    register_check(app, check_files)
    register_check(app, check_audit)


def run_checks(echo: Echo = print) -> int:
    return sum(check(echo) for check in list(_registry(current_app, "checks")))
