"""The signatures module's commands: ``docmgr trust import FILE`` (and ``docmgr verify-evidence ZIP``).

Registered on the ``docmgr`` group by :func:`register` (one line in :mod:`docmgr.cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.signatures import trust
from docmgr.signatures.evidence import verify_package


@click.group("trust")
def trust_cli() -> None:
    """Trust anchors for signature verification."""


@trust_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def trust_import_command(path: Path) -> None:
    """Import trust anchors from a PEM/DER certificate file or an ETSI TS 119 612 trusted list."""
    try:
        result = trust.import_file(db.session, path, list_signer_cert=current_app.config.get("TRUST_LIST_SIGNER_CERT"))
    except DocmgrError as error:
        db.session.rollback()
        click.echo(f"error: {error.message}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"{result.source} ({result.kind}): {result.added} new, {result.granted} trusted, {result.removed} removed")


@click.command("verify-evidence")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def verify_evidence_command(path: Path) -> None:
    """Check an agreement's evidence package: manifest hashes, audit chain, every signature."""
    checked, problems = verify_package(path.read_bytes(), trust_roots=trust.trust_roots(db.session, current_app.config))
    for line in checked:
        click.echo(f"ok       {line}")
    for line in problems:
        click.echo(f"PROBLEM  {line}", err=True)
    if problems:
        sys.exit(1)
    click.echo("the evidence package verifies")


def register(group: click.Group) -> None:
    group.add_command(trust_cli)
    group.add_command(verify_evidence_command)
