"""The `flask --app wsgi docmgr …` command group (API.md, "Commands"). Commands call the services."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from docmgr.accounts.services import create_organization, create_user, find_organization
from docmgr.audit.anchor import check_head, reseal_all
from docmgr.audit.services import verify_chain
from docmgr.backup import export_backup, import_backup
from docmgr.demo import load_demo
from docmgr.documents.ocr import ocr_status
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.maintenance import initialize, run_checks
from docmgr.search.rebuild import reindex
from docmgr.tasks.worker import run_due, run_worker
from docmgr.warmup import warm_up


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
    said = initialize()
    click.echo(f"database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo(f"storage:  {current_app.config['STORAGE_DIR']}")
    click.echo(f"index:    {current_app.config['INDEX_DIR']}")
    for line in said:
        click.echo(line)


@docmgr_cli.command("create-org")
@click.option("--name", required=True)
@click.option("--country", required=True, type=click.Choice(["IT", "RU"], case_sensitive=False))
@click.option("--kind", default="firm", type=click.Choice(["firm", "institution", "ministry"]))
@click.option("--name-alt", default=None, help="The name in the other script.")
@with_appcontext
def create_org_command(name: str, country: str, kind: str, name_alt: str | None) -> None:
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
    logins = load_demo()
    click.echo("Demo logins (e-mail / password):")
    for role, email, password in logins:
        click.echo(f"  {role:<9} {email:<32} {password}")


@docmgr_cli.command("check")
@click.option("--head", "heads", multiple=True, metavar="HASH",
              help="An audit chain head seen earlier (in an export or a certificate; HASH or ID:HASH) that the "
                   "chain must still hold. May be given several times.")
@with_appcontext
def check_command(heads: tuple[str, ...]) -> None:
    """Verify stored files against their SHA-256, the index against the database, the audit chain, and that no
    queued work is overdue or dead."""
    problems = run_checks(echo=click.echo)
    for head in heads:
        found = check_head(db.session, head)
        for problem in found:
            click.echo(f"audit: {problem['message']}")
        if not found:
            click.echo(f"audit: head {head.strip()} is in the chain")
        problems += len(found)
    if problems:
        click.echo(f"FAILED: {problems} problem(s) found.")
        sys.exit(1)
    click.echo("OK: every check passed.")


@docmgr_cli.command("seal-audit")
@with_appcontext
def seal_audit_command() -> None:
    """Seal the audit entries written before seals existed (once, after upgrading). Refuses when the chain's
    hashes do not verify: sealing must not bless a trail that was already altered."""
    report = verify_chain(db.session, seals=False, heads=False)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"audit: {problem['message']}")
        click.echo("FAILED: the chain does not verify; nothing was sealed.")
        sys.exit(1)
    sealed = reseal_all(db.session, only_unsealed=True)
    db.session.commit()
    click.echo(f"OK: {sealed} entr(ies) sealed.")


@docmgr_cli.command("worker")
@click.option("--once", is_flag=True, help="Run the work that is due now, then exit (instead of waiting for more).")
@with_appcontext
def worker_command(once: bool) -> None:
    """Run queued and periodic work: indexing, OCR of scans, thumbnails (Ctrl-C or SIGTERM stops it)."""
    _run_worker(once)


@docmgr_cli.command("ocr-worker", hidden=True)
@click.option("--once", is_flag=True)
@with_appcontext
def ocr_worker_command(once: bool) -> None:
    """Deprecated: `worker` runs OCR together with all other queued work."""
    click.echo("`ocr-worker` is deprecated: use `flask --app wsgi docmgr worker`.", err=True)
    _run_worker(once)


def _run_worker(once: bool) -> None:
    app = current_app._get_current_object()
    status = ocr_status(app.config)
    if not status.available:
        click.echo(f"OCR is unavailable: {status.reason} Scans wait in the queue.", err=True)
    if once:
        done = run_due(app)
        click.echo(f"{done} task(s) done.")
        return
    if app.config.get("WARM_UP"):
        warm_up(app, pdf=False)  # the fork server (extraction, thumbnails, OCR pages) and the language model
    run_worker(app)


@docmgr_cli.command("reindex")
@click.option("--procs", default=1, show_default=True, help="Indexing processes (Whoosh: a multi-segment writer; PostgreSQL: the text analysis).")
@with_appcontext
def reindex_command(procs: int) -> None:
    """Rebuild the search index from the database (into a fresh directory, swapped in atomically)."""
    count = reindex(procs=procs)
    click.echo(f"index: {count} entr(ies) indexed into a fresh generation")


# --- backups (hardening) -------------------------------------------------------------------------


_KEY_HELP = "Key that signs the archive's manifest (default: DOCMGR_BACKUP_KEY, else this instance's audit key)."


@docmgr_cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", default=None, envvar="DOCMGR_BACKUP_KEY", help=_KEY_HELP)
@with_appcontext
def export_command(path: Path, key: str | None) -> None:
    """Write a consistent, signed backup archive (tar, 0600) of the database, stored files and audit log to
    PATH, while the service keeps running."""
    try:
        result = export_backup(path, echo=click.echo, key=key)
    except DocmgrError as error:
        _fail(error)
    for problem in result.problems:
        click.echo(f"warning: stored file {problem}", err=True)
    if result.problems:
        click.echo(f"archive written, but {len(result.problems)} stored file(s) could not be included.", err=True)
        sys.exit(1)


@docmgr_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", default=None, envvar="DOCMGR_BACKUP_KEY", help="Key the archive was signed with.")
@click.option("--trust-unsigned", is_flag=True, help="Import an archive without a valid signature (you vouch for it).")
@with_appcontext
def import_command(path: Path, key: str | None, trust_unsigned: bool) -> None:
    """Restore a signed backup archive into this instance, which must be new (no users, no documents, no files)."""
    try:
        result = import_backup(path, echo=click.echo, key=key, trust_unsigned=trust_unsigned)
    except DocmgrError as error:
        _fail(error)
    click.echo(f"OK: {result.restored_rows} row(s) and {result.restored_blobs} stored file(s) restored.")


def _register_module_commands() -> None:
    from docmgr.mail.cli import register as register_mail
    from docmgr.signatures.cli import register as register_signatures

    register_signatures(docmgr_cli)
    register_mail(docmgr_cli)


_register_module_commands()
