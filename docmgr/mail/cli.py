"""``docmgr mail-test ADDRESS``: record a test message (sent by the worker), to check the SMTP settings.

Registered on the ``docmgr`` group by :func:`register` (one line in :mod:`docmgr.cli`).
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.mail.services import MAIL_LANGUAGES, compose


@click.command("mail-test")
@click.argument("address")
@click.option("--language", type=click.Choice(MAIL_LANGUAGES), default="en", show_default=True)
@with_appcontext
def mail_test_command(address: str, language: str) -> None:
    """Record a test message to ADDRESS; `worker` sends it through DOCMGR_SMTP_HOST (see `/mail`)."""
    try:
        mail = compose(db.session, "test", address, language=language)
        db.session.commit()
    except DocmgrError as error:
        db.session.rollback()
        click.echo(f"error: {error.message}", err=True)
        sys.exit(1)
    where = current_app.config["SMTP_HOST"] or "nowhere: DOCMGR_SMTP_HOST is not set"
    click.echo(f"OK: message {mail.id} to {mail.to_address} queued (SMTP: {where}).")


def register(group: click.Group) -> None:
    group.add_command(mail_test_command)
