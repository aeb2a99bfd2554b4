"""The `flask --app wsgi docmgr …` command group (API.md, "Commands"). Commands call the services."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from docmgr.errors import DocmgrError
from docmgr.extensions import db


@click.group("docmgr")
def docmgr_cli() -> None:
    """docmgr administration."""


def _fail(error: DocmgrError) -> None:
    db.session.rollback()
    field = f" ({error.field})" if error.field else ""
    click.echo(f"error{field}: {error.message}", err=True)
    sys.exit(1)


@docmgr_cli.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the schema and the data folders; safe to run again."""
    from docmgr.maintenance import initialize

    initialize()
    click.echo(f"database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo(f"storage:  {current_app.config['STORAGE_DIR']}")
    click.echo(f"index:    {current_app.config['INDEX_DIR']}")


@docmgr_cli.command("create-org")
@click.option("--name", required=True)
@click.option("--country", required=True, type=click.Choice(["IT", "RU"], case_sensitive=False))
@click.option("--kind", default="firm", type=click.Choice(["firm", "institution", "ministry"]))
@click.option("--name-alt", default=None, help="The name in the other script.")
@with_appcontext
def create_org_command(name: str, country: str, kind: str, name_alt: str | None) -> None:
    from docmgr.accounts.services import create_organization

    try:
        org = create_organization(db.session, None, name=name, country=country, kind=kind, name_alt=name_alt)
        db.session.commit()
    except DocmgrError as error:
        _fail(error)
    click.echo(org.id)


@docmgr_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "legal", "firm", "ministry"]))
@click.option("--org", "org_name", default=None, help="Organisation name (required for firm users).")
@click.option("--name", default="")
@with_appcontext
def create_user_command(email: str, password: str, role: str, org_name: str | None, name: str) -> None:
    from docmgr.accounts.services import create_user, find_organization

    try:
        org = find_organization(db.session, org_name) if org_name else None
        user = create_user(db.session, None, email=email, password=password, role=role, organization=org, name=name)
        db.session.commit()
    except DocmgrError as error:
        _fail(error)
    click.echo(user.id)


@docmgr_cli.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo organisations, users, proposals and agreements (once; running it again changes nothing)."""
    from docmgr.demo import load_demo

    logins = load_demo()
    click.echo("Demo logins (e-mail / password):")
    for role, email, password in logins:
        click.echo(f"  {role:<9} {email:<32} {password}")


@docmgr_cli.command("check")
@with_appcontext
def check_command() -> None:
    """Verify stored files against their SHA-256, the index against the database, and the audit chain."""
    from docmgr.maintenance import run_checks

    problems = run_checks(echo=click.echo)
    if problems:
        click.echo(f"FAILED: {problems} problem(s) found.")
        sys.exit(1)
    click.echo("OK: every check passed.")
