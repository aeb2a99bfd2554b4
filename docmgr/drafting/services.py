"""Drafting: agreement templates (versioned), agreements, and their rendered draft versions.

Who may do what:
- legal staff and admins create and change templates and agreements and render drafts;
- a firm user reads the agreements its organisation is a party to (and nothing else: 404);
- the ministry reads everything and changes nothing (403 on writes).

Rendering is a pure function (``docmgr.drafting.rendering``); this module gathers the data, checks
the rules, stores the bytes and records the audit events.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask_babel import gettext
from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, selectinload

from docmgr.accounts.models import Organization, User
from docmgr.accounts.permissions import (
    agreement_visibility_clause,
    can_read_agreement,
    can_read_document,
    require_staff,
)
from docmgr.audit.models import AuditEvent
from docmgr.audit.services import record
from docmgr.database import release_read_transaction, serialize_writers, utcnow
from docmgr.documents.indexing import filename_words
from docmgr.documents.models import Document, TaskForceSession
from docmgr.documents.services import visible_documents
from docmgr.drafting import rendering, signing_settings
from docmgr.drafting.models import Agreement, AgreementStatus, Draft, Signatory, Template, agreement_parties
from docmgr.errors import Conflict, Invalid, NotFound
from docmgr.search.indexers import enqueue_index
from docmgr.storage import store_bytes
from docmgr.vocab import SECTOR_NAMES, is_email

TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9_-]{1,79}$")
MAX_TEXT = 2_000
MAX_LONG_TEXT = 20_000
MAX_LIST_ITEMS = 100
MAX_BODY = 200_000


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


# --- access ------------------------------------------------------------------------------------


require_drafter = require_staff  # legal staff and admins draft and edit; the ministry included, all others get 403


def visible_agreements(actor: User) -> Select:
    query = select(Agreement)
    clause = agreement_visibility_clause(actor)
    return query if clause is None else query.where(clause)


def get_agreement(session: Session, actor: User, agreement_id: int) -> Agreement:
    """The agreement, or the same 404 for 'missing' and 'not yours', so nothing leaks."""
    agreement = session.get(Agreement, agreement_id)
    if agreement is None or not can_read_agreement(actor, agreement):
        raise NotFound(gettext("No such agreement."), code="agreement_not_found")
    return agreement


def require_editable(agreement: Agreement) -> None:
    """Text, parties and signatories change only while the agreement is a draft."""
    if agreement.status != AgreementStatus.DRAFT.value:
        raise Conflict(
            gettext("The agreement is '%(status)s'; it can be changed only while it is a draft.", status=agreement.status),
            code="not_editable",
        )


# What counts as writing an agreement, for the four-eyes rule (signatures.lifecycle.four_eyes).
AUTHORING_ACTIONS = ("agreement.created", "agreement.updated", "agreement.draft_rendered")


def authors_since_approval(session: Session, agreement: Agreement) -> set[int]:
    """Everyone who created the agreement, changed its fields, parties or signatories, or rendered a draft
    since its last approval (read from the audit trail, written in the same transaction as each change)."""
    authors = {agreement.created_by_id} if agreement.created_by_id else set()
    events = session.execute(
        select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.data)
        .where(AuditEvent.agreement_id == agreement.id,
               AuditEvent.action.in_((*AUTHORING_ACTIONS, "agreement.transition")))
        .order_by(AuditEvent.id)
    )
    for action, actor_id, data in events:
        if action == "agreement.transition":
            if json.loads(data or "{}").get("to_status") == AgreementStatus.APPROVED.value:
                authors = {agreement.created_by_id} if agreement.created_by_id else set()
        elif actor_id is not None:
            authors.add(actor_id)
    return authors


def latest_draft(agreement: Agreement) -> Draft | None:
    return max(agreement.drafts, key=lambda d: d.version, default=None)


def get_draft(session: Session, actor: User, agreement_id: int, version: int) -> Draft:
    agreement = get_agreement(session, actor, agreement_id)
    draft = session.scalar(select(Draft).where(Draft.agreement_id == agreement.id, Draft.version == version))
    if draft is None:
        raise NotFound(
            gettext("Agreement %(id)s has no draft version %(version)s.", id=agreement.id, version=version),
            code="draft_not_found",
        )
    return draft


# --- templates ---------------------------------------------------------------------------------


def template_fields(template: Template) -> list[rendering.FieldSpec]:
    return rendering.parse_field_declarations(template.fields or [])


def template_source_sha256(*, name: str, name_ru: str, fields: list[rendering.FieldSpec], body: str) -> str:
    """The identity of a template's content: same content, same hash, whatever its origin."""
    canonical = json.dumps(
        {"name": name, "name_ru": name_ru, "fields": [f.to_dict() for f in fields], "body": body},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def list_templates(session: Session, *, key: str | None = None, all_versions: bool = False) -> list[Template]:
    query = select(Template).order_by(Template.key, Template.version.desc())
    if key:
        query = query.where(Template.key == key)
    templates = list(session.scalars(query))
    if all_versions:
        return templates
    latest: dict[str, Template] = {}
    for template in templates:
        latest.setdefault(template.key, template)
    return list(latest.values())


def latest_template(session: Session, key: str, *, field: str = "template") -> Template:
    template = session.scalar(select(Template).where(Template.key == key).order_by(Template.version.desc()).limit(1))
    if template is None:
        raise Invalid(gettext("'%(field)s': no template named '%(key)s'.", field=field, key=key), field=field, code="unknown_template")
    return template


def get_template(session: Session, key: str, version: int | None = None) -> Template:
    if version is None:
        template = session.scalar(select(Template).where(Template.key == key).order_by(Template.version.desc()).limit(1))
    else:
        template = session.scalar(select(Template).where(Template.key == key, Template.version == version))
    if template is None:
        raise NotFound(
            gettext("No such template version.") if version else gettext("No such template."), code="template_not_found"
        )
    return template


def render_limits() -> rendering.RenderLimits:
    """The limits of one template render, from ``TEMPLATE_RENDER_TIMEOUT_SECONDS`` (default 10)."""
    from flask import current_app

    timeout = current_app.config.get("TEMPLATE_RENDER_TIMEOUT_SECONDS", rendering.RenderLimits.timeout_seconds)
    return rendering.RenderLimits.for_timeout(float(timeout))


def translated(error: rendering.TemplateError | rendering.FieldDeclarationError) -> str:
    """A rendering error in the reader's language (rendering itself knows no locale: its messages are marked
    with ``N_`` and carry their values), with the template line in front when it has one."""
    message = gettext(error.msgid, **error.params) if error.params else gettext(error.msgid)
    line = getattr(error, "line", None)
    return gettext("Line %(line)s: %(message)s", line=line, message=message) if line else message


def template_error(error: rendering.TemplateError, label: str | None = None) -> Invalid:
    details = {"line": error.line} if error.line else {}
    message = translated(error)
    if label:
        message = gettext("Template %(template)s: %(message)s", template=label, message=message)
    return Invalid(message, field="body", code="template_error", **details)


def _checked_template_content(
    *, name: Any, name_ru: Any, fields: Any, body: Any
) -> tuple[str, str, list[rendering.FieldSpec], str]:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise Invalid(gettext("The template needs a name of 1 to 200 characters."), field="name")
    if not isinstance(name_ru, str) or len(name_ru) > 200:
        raise Invalid(gettext("'%(field)s' must be a text of at most %(num)s characters.", field="name_ru", num=200), field="name_ru")
    try:
        specs = rendering.parse_field_declarations(fields)
    except rendering.FieldDeclarationError as error:
        raise Invalid(translated(error), field=error.path) from None
    if not isinstance(body, str) or not body.strip():
        raise Invalid(gettext("The template body is empty."), field="body", code="missing_field")
    if len(body) > MAX_BODY:
        raise Invalid(gettext("The template body is longer than %(num)s characters.", num=MAX_BODY), field="body")
    try:
        rendering.validate_template(body, specs, render_limits())
    except rendering.TemplateError as error:
        raise template_error(error) from None
    return name.strip(), name_ru.strip(), specs, body


def check_template_content(
    *, name: Any, name_ru: Any, fields: Any, body: Any
) -> tuple[str, str, list[rendering.FieldSpec], str]:
    """A template's name, field list and body checked as a new version would be (compiled and test-rendered);
    for the editor's preview (docmgr.drafting.template_editing)."""
    return _checked_template_content(name=name, name_ru=name_ru, fields=fields, body=body)


def _add_template_version(
    session: Session, actor: User | None, *, key: str, name: str, name_ru: str, specs: list[rendering.FieldSpec],
    body: str, source_sha256: str | None = None,
) -> Template:
    serialize_writers(session, f"drafting.template.{key}")  # one next version at a time (PostgreSQL)
    version = (session.scalar(select(func.max(Template.version)).where(Template.key == key)) or 0) + 1
    template = Template(
        key=key, version=version, name=name, name_ru=name_ru,
        fields=[f.to_dict() for f in specs],
        body=body,
        source_sha256=source_sha256 or template_source_sha256(name=name, name_ru=name_ru, fields=specs, body=body),
        created_by_id=actor.id if actor else None,
    )
    session.add(template)
    session.flush()
    record(
        session, actor, "template.created" if version == 1 else "template.version_created", template,
        key=key, version=version, source_sha256=template.source_sha256,
    )
    return template


def create_template(
    session: Session, actor: User, *, key: Any, name: Any, name_ru: Any = "", fields: Any = None, body: Any = None
) -> Template:
    """A new template key (version 1). Its body must compile and render with sample values."""
    require_drafter(actor)
    if not isinstance(key, str) or not TEMPLATE_KEY.match(key):
        raise Invalid(gettext("The key is 2 to 80 lower-case letters, digits, '-' or '_', starting with a letter."), field="key")
    if session.scalar(select(Template.id).where(Template.key == key).limit(1)):
        raise Conflict(
            gettext("A template '%(key)s' exists already; add a new version of it instead.", key=key),
            code="template_exists", field="key",
        )
    release_read_transaction(session)  # availability: no database lock while the body is test-rendered
    name, name_ru, specs, body = _checked_template_content(
        name=name, name_ru=name_ru, fields=fields if fields is not None else [], body=body
    )
    if session.scalar(select(Template.id).where(Template.key == key).limit(1)):  # again, now holding the lock
        raise Conflict(
            gettext("A template '%(key)s' exists already; add a new version of it instead.", key=key),
            code="template_exists", field="key",
        )
    return _add_template_version(session, actor, key=key, name=name, name_ru=name_ru, specs=specs, body=body)


def create_template_version(
    session: Session, actor: User, key: str, *, body: Any = UNCHANGED, fields: Any = UNCHANGED,
    name: Any = UNCHANGED, name_ru: Any = UNCHANGED,
) -> Template:
    """Editing a template = a new immutable version; what is not given is taken from the latest."""
    require_drafter(actor)
    current = get_template(session, key)
    given = {
        "name": current.name if name is UNCHANGED else name,
        "name_ru": current.name_ru if name_ru is UNCHANGED else name_ru,
        "fields": current.fields if fields is UNCHANGED else fields,
        "body": current.body if body is UNCHANGED else body,
    }
    release_read_transaction(session)  # availability: no database lock while the body is test-rendered
    name, name_ru, specs, body = _checked_template_content(**given)
    return _add_template_version(session, actor, key=key, name=name, name_ru=name_ru, specs=specs, body=body)


@dataclass
class TemplateFile:
    key: str
    name: str
    name_ru: str
    specs: list[rendering.FieldSpec]
    body: str

    @property
    def source_sha256(self) -> str:
        return template_source_sha256(name=self.name, name_ru=self.name_ru, fields=self.specs, body=self.body)


def read_template_files(directory: Path) -> list[TemplateFile]:
    """``<key>.json`` (name, name_ru, fields) beside ``<key>.html.j2`` (the body), for each key."""
    files = []
    for meta_path in sorted(Path(directory).glob("*.json")):
        key = meta_path.stem
        body_path = meta_path.with_name(f"{key}.html.j2")
        if not TEMPLATE_KEY.match(key) or not body_path.is_file():
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        specs = rendering.parse_field_declarations(meta.get("fields", []))
        files.append(TemplateFile(key, meta["name"], meta.get("name_ru", ""), specs, body_path.read_text(encoding="utf-8")))
    return files


def sync_templates(session: Session, directory: Path | str | None = None) -> list[Template]:
    """Load the shipped templates: version 1 for a new key, a new version when a file's content is
    not yet stored under that key. Returns the versions created.

    Comparing against *every* stored version (not only the newest) means a version legal staff
    created in the app is never overwritten by an unchanged file at the next ``init``.
    A file that fails validation raises (a shipped template must be valid).
    """
    if directory is None:
        from flask import current_app

        directory = current_app.config["TEMPLATES_DIR"]
    created = []
    for item in read_template_files(Path(directory)):
        sha = item.source_sha256
        known = session.scalar(select(Template.id).where(Template.key == item.key, Template.source_sha256 == sha).limit(1))
        if known:
            continue
        try:
            rendering.validate_template(item.body, item.specs)
        except rendering.TemplateError as error:
            raise Invalid(gettext("%(file)s: %(message)s", file=f"templates/{item.key}.html.j2", message=translated(error)),
                          field="body", code="template_error") from None
        created.append(
            _add_template_version(
                session, None, key=item.key, name=item.name, name_ru=item.name_ru, specs=item.specs, body=item.body,
                source_sha256=sha,
            )
        )
    return created


# --- field values ------------------------------------------------------------------------------


def check_field_value(spec: rendering.FieldSpec, value: Any, party_ids: set[int]) -> Any:
    """One template field's value checked against its declaration (for the page forms)."""
    return _check_value(spec, value, f"fields.{spec.name}", party_ids)


def _check_value(spec: rendering.FieldSpec, value: Any, path: str, party_ids: set[int]) -> Any:
    """One field's value, checked against its declared type; returns the JSON form we store."""
    if spec.type in ("text", "long_text"):
        if not isinstance(value, str):
            raise Invalid(gettext("'%(field)s' must be a text.", field=path), field=path)
        limit = MAX_TEXT if spec.type == "text" else MAX_LONG_TEXT
        if len(value) > limit:
            raise Invalid(gettext("'%(field)s' is longer than %(num)s characters.", field=path, num=limit), field=path)
        return value.strip()
    if spec.type == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise Invalid(gettext("'%(field)s' must be a date as YYYY-MM-DD.", field=path), field=path)
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise Invalid(gettext("'%(field)s' is not a valid date.", field=path), field=path) from None
    if spec.type == "number":
        if not rendering.is_finite_number(value):
            raise Invalid(gettext("'%(field)s' must be a number.", field=path), field=path)
        return value
    if spec.type == "organization":
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(gettext("'%(field)s' must be the id of one of the parties.", field=path), field=path)
        if value not in party_ids:
            raise Invalid(gettext("'%(field)s' must be one of the parties of the agreement.", field=path), field=path)
        return value
    if spec.type == "list":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise Invalid(gettext("'%(field)s' must be a list of texts.", field=path), field=path)
        items = [item.strip() for item in value if item.strip()]
        if len(items) > MAX_LIST_ITEMS or any(len(item) > MAX_TEXT for item in items):
            raise Invalid(gettext("'%(field)s' has too many or too long items.", field=path), field=path)
        return items
    raise Invalid(gettext("'%(path)s' has an unknown type.", path=path), field=path)  # unreachable: declarations are checked


def check_field_values(specs: list[rendering.FieldSpec], values: Any, party_ids: set[int]) -> dict[str, Any]:
    """Every given value, checked; empty values are dropped (missing is allowed while drafting)."""
    if not isinstance(values, dict):
        raise Invalid(gettext("'fields' must be an object of field names and values."), field="fields")
    by_name = {spec.name: spec for spec in specs}
    checked: dict[str, Any] = {}
    for name in values:
        if name not in by_name:
            raise Invalid(
                gettext("Unknown field 'fields.%(name)s': the template declares %(names)s.", name=name,
                        names=", ".join(sorted(by_name)) or gettext("no fields")),
                field=f"fields.{name}", code="unknown_field",
            )
    for name, value in values.items():
        if value is None or value == "" or value == []:
            continue
        checked[name] = _check_value(by_name[name], value, f"fields.{name}", party_ids)
    return checked


def missing_required_fields(specs: list[rendering.FieldSpec], values: dict[str, Any]) -> list[rendering.FieldSpec]:
    return [spec for spec in specs if spec.required and values.get(spec.name) in (None, "", [])]


# --- agreements --------------------------------------------------------------------------------


def _load_parties(session: Session, organization_ids: Any) -> list[Organization]:
    if not isinstance(organization_ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in organization_ids
    ):
        raise Invalid(gettext("'%(field)s' must be a list of organisation ids.", field="organization_ids"), field="organization_ids")
    unique_ids = list(dict.fromkeys(organization_ids))
    if len(unique_ids) < 2:
        raise Invalid(gettext("'%(field)s': an agreement needs at least two different parties.", field="organization_ids"), field="organization_ids")
    organizations = list(session.scalars(select(Organization).where(Organization.id.in_(unique_ids))))
    found = {o.id for o in organizations}
    for org_id in unique_ids:
        if org_id not in found:
            raise Invalid(gettext("'%(field)s': no organisation with id %(id)s.", field="organization_ids", id=org_id), field="organization_ids")
    order = {org_id: index for index, org_id in enumerate(unique_ids)}
    return sorted(organizations, key=lambda o: order[o.id])


def _load_proposals(session: Session, actor: User, proposal_ids: Any) -> list[Document]:
    if not isinstance(proposal_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in proposal_ids):
        raise Invalid(gettext("'%(field)s' must be a list of document ids.", field="proposal_ids"), field="proposal_ids")
    proposals = []
    for document_id in dict.fromkeys(proposal_ids):
        document = session.get(Document, document_id)
        if document is None or not can_read_document(actor, document):
            raise Invalid(
                gettext("'%(field)s': no proposal with id %(id)s that you can see.", field="proposal_ids", id=document_id),
                field="proposal_ids",
            )
        proposals.append(document)
    return proposals


def _load_forum_session(session: Session, session_id: Any) -> TaskForceSession | None:
    if session_id is None:
        return None
    if not isinstance(session_id, int) or isinstance(session_id, bool):
        raise Invalid(gettext("'%(field)s' must be a whole number or null.", field="session_id"), field="session_id")
    forum_session = session.get(TaskForceSession, session_id)
    if forum_session is None:
        raise Invalid(gettext("'%(field)s': no task-force session with id %(id)s.", field="session_id", id=session_id), field="session_id")
    return forum_session


def _parse_due_at(value: Any, path: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Invalid(gettext("'%(field)s' must be an ISO date or date-time.", field=path), field=path)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(gettext("'%(field)s' must be an ISO date or date-time (YYYY-MM-DD).", field=path), field=path) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


SIGNATORY_FIELDS = {"id", "name", "name_alt", "title", "title_alt", "organization_id", "email", "due_at", "order"}


def _checked_signatories(raw: Any, party_ids: set[int]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise Invalid(gettext("'%(field)s' must be a list.", field="signatories"), field="signatories")
    checked = []
    for index, item in enumerate(raw):
        path = f"signatories[{index}]"
        if not isinstance(item, dict):
            raise Invalid(gettext("'%(field)s' must be an object.", field=path), field=path)
        unknown = sorted(set(item) - SIGNATORY_FIELDS)
        if unknown:
            raise Invalid(gettext("Unknown field: %(path)s.%(unknown)s.", path=path, unknown=unknown[0]), field=f"{path}.{unknown[0]}", code="unknown_field")
        values: dict[str, Any] = {}
        for key, limit in (("name", 200), ("name_alt", 200), ("title", 200), ("title_alt", 200), ("email", 320)):
            if key == "title_alt" and key not in item:
                continue  # not asked by every form: an entry without it keeps the stored one
            value = item.get(key) or ""
            if not isinstance(value, str) or len(value) > limit:
                raise Invalid(
                    gettext("'%(field)s' must be a text of at most %(num)s characters.", field=f"{path}.{key}", num=limit),
                    field=f"{path}.{key}",
                )
            values[key] = value.strip()
        if not values["name"]:
            raise Invalid(gettext("'%(field)s' is required.", field=f"{path}.name"), field=f"{path}.name", code="missing_field")
        if values["email"] and not is_email(values["email"]):
            raise Invalid(gettext("'%(field)s' is not a valid e-mail address.", field=f"{path}.email"), field=f"{path}.email")
        org_id = item.get("organization_id")
        if not isinstance(org_id, int) or isinstance(org_id, bool) or org_id not in party_ids:
            raise Invalid(
                gettext("'%(field)s' must be one of the parties of the agreement.", field=f"{path}.organization_id"),
                field=f"{path}.organization_id",
            )
        values["organization_id"] = org_id
        values["due_at"] = _parse_due_at(item.get("due_at"), f"{path}.due_at")
        signatory_id = item.get("id")
        if signatory_id is not None and (not isinstance(signatory_id, int) or isinstance(signatory_id, bool)):
            raise Invalid(gettext("'%(path)s.id' must be a signatory id.", path=path), field=f"{path}.id")
        values["id"] = signatory_id
        checked.append(values)
    return checked


def _apply_signatories(agreement: Agreement, checked: list[dict[str, Any]]) -> None:
    """Replace the list: entries with an id update that signatory, others are new, the rest go."""
    existing = {s.id: s for s in agreement.signatories}
    kept: list[Signatory] = []
    for index, values in enumerate(checked):
        signatory_id = values.pop("id")
        if signatory_id is not None:
            signatory = existing.get(signatory_id)
            if signatory is None:
                raise Invalid(
                    gettext("No signatory %(id)s on this agreement.", id=signatory_id), field=f"signatories[{index}].id"
                )
            for key, value in values.items():
                setattr(signatory, key, value)
        else:
            signatory = Signatory(**values)
        kept.append(signatory)
    agreement.signatories = kept


def _signatory_state(agreement: Agreement) -> list[tuple]:
    return [
        (s.id, s.name, s.name_alt, s.title, s.title_alt, s.organization_id, s.email, s.due_at.isoformat() if s.due_at else None)
        for s in agreement.signatories
    ]


def prefill_from_proposals(specs: list[rendering.FieldSpec], proposals: list[Document]) -> dict[str, Any]:
    """What linked proposals can tell: the subject (their titles) and the sectors."""
    names = {spec.name: spec for spec in specs}
    values: dict[str, Any] = {}
    if not proposals:
        return values
    titles_it = [p.title_it for p in proposals if p.title_it]
    titles_ru = [p.title_ru for p in proposals if p.title_ru]
    for field_name, titles in (("subject_it", titles_it), ("subject_ru", titles_ru), ("purpose_it", titles_it),
                               ("purpose_ru", titles_ru)):
        if field_name in names and titles:
            values[field_name] = "; ".join(titles)
    sectors = sorted({s for p in proposals for s in p.sectors})
    for field_name in ("sectors", "areas"):
        if field_name in names and names[field_name].type == "list" and sectors:
            values[field_name] = [SECTOR_NAMES.get(s, s) for s in sectors]
    return values


def _checked_title_alt(value: Any) -> str:
    """The agreement's title in the other language: optional, at most 500 characters."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.strip()) > 500:
        raise Invalid(gettext("'%(field)s' must be a text of at most %(num)s characters.", field="title_alt", num=500),
                      field="title_alt")
    return value.strip()


def create_agreement(
    session: Session, actor: User, *, template_key: Any, title: Any = None, organization_ids: Any = None,
    proposal_ids: Any = None, fields: Any = None, signatories: Any = None, session_id: Any = None,
    title_alt: Any = None, signing_order: Any = UNCHANGED, sign_by: Any = UNCHANGED, reminder_days: Any = UNCHANGED,
    cc: Any = UNCHANGED,
) -> Agreement:
    """A new draft; how it is signed (``signing_order``, ``sign_by``, ``reminder_days``, ``cc``, the signatories'
    ``order``) may be given at once, with the same rules as :func:`update_agreement`."""
    require_drafter(actor)
    given = {name: value for name, value in (("signing_order", signing_order), ("sign_by", sign_by),
                                             ("reminder_days", reminder_days), ("cc", cc)) if value is not UNCHANGED}
    settings = signing_settings.check_signing_settings(given, signatories if signatories is not None else [])
    if not isinstance(template_key, str) or not template_key:
        raise Invalid(gettext("Give the template's key in '%(field)s'.", field="template"), field="template", code="missing_field")
    template = latest_template(session, template_key)
    specs = template_fields(template)
    parties = _load_parties(session, organization_ids if organization_ids is not None else [])
    party_ids = {o.id for o in parties}
    proposals = _load_proposals(session, actor, proposal_ids if proposal_ids is not None else [])
    forum_session = _load_forum_session(session, session_id)
    if forum_session is None:
        forum_session = next((p.session for p in proposals if p.session is not None), None)
    values = check_field_values(specs, fields if fields is not None else {}, party_ids)
    values = {**prefill_from_proposals(specs, proposals), **values}
    checked_signatories = _checked_signatories(signatories if signatories is not None else [], party_ids)
    if title is not None and not isinstance(title, str):
        raise Invalid(gettext("'%(field)s' must be a text.", field="title"), field="title")
    title = (title or "").strip() or f"{template.name} — {' / '.join(o.name for o in parties)}"
    if len(title) > 500:
        raise Invalid(gettext("The title is longer than 500 characters."), field="title")
    title_alt = _checked_title_alt(title_alt)
    agreement = Agreement(
        title=title, title_alt=title_alt, template=template, status=AgreementStatus.DRAFT.value,
        fields=values, session=forum_session,
        created_by_id=actor.id, parties=parties, proposals=proposals,
    )
    session.add(agreement)
    _apply_signatories(agreement, checked_signatories)
    signing_settings.apply_signing_settings(agreement, settings)
    for index, order in settings.orders.items():
        agreement.signatories[index].order = order
    session.flush()
    record(
        session, actor, "agreement.created", agreement, agreement_id=agreement.id, title=title,
        template=template.key, template_version=template.version, organization_ids=sorted(party_ids),
        proposal_ids=[p.id for p in proposals], signatories=len(agreement.signatories),
    )
    return agreement


def agreement_fields(agreement: Agreement) -> dict[str, Any]:
    return dict(agreement.fields or {})


def update_agreement(
    session: Session, actor: User, agreement_id: int, *, title: Any = UNCHANGED, fields: Any = UNCHANGED,
    signatories: Any = UNCHANGED, organization_ids: Any = UNCHANGED, proposal_ids: Any = UNCHANGED,
    session_id: Any = UNCHANGED, title_alt: Any = UNCHANGED, signing_order: Any = UNCHANGED,
    sign_by: Any = UNCHANGED, reminder_days: Any = UNCHANGED, cc: Any = UNCHANGED,
) -> Agreement:
    """Change a draft. ``fields`` merges: given names replace their values, null clears one.
    ``signatories`` replaces the list (entries with an ``id`` keep that signatory).
    How it is signed (``signing_order``, ``sign_by``, ``reminder_days``, ``cc``, the signatories'
    ``order``) may also change once approved: see :mod:`docmgr.drafting.signing_settings`."""
    agreement = get_agreement(session, actor, agreement_id)
    require_drafter(actor)
    given = {name: value for name, value in (("signing_order", signing_order), ("sign_by", sign_by),
                                             ("reminder_days", reminder_days), ("cc", cc)) if value is not UNCHANGED}
    settings = signing_settings.check_signing_settings(given, signatories)
    content = (title, fields, organization_ids, proposal_ids, session_id, title_alt)
    steps_only = signatories is UNCHANGED or (isinstance(signatories, list) and all(
        isinstance(item, dict) and set(item) <= {"id", "order"} for item in signatories))
    if all(value is UNCHANGED for value in content) and (agreement.status != AgreementStatus.DRAFT.value or steps_only):
        signing_settings.require_settings_editable(agreement)
        orders = _orders_only(agreement, signatories, settings) if signatories is not UNCHANGED else {}
        changed = signing_settings.apply_signing_settings(agreement, settings)
        if signing_settings.apply_orders(agreement, orders):
            changed.append("order")
        _record_settings(session, actor, agreement, changed)
        return agreement
    require_editable(agreement)
    changed: list[str] = []
    if organization_ids is not UNCHANGED:
        parties = _load_parties(session, organization_ids)
        if [o.id for o in parties] != [o.id for o in agreement.parties]:
            agreement.parties = parties
            changed.append("organization_ids")
    party_ids = {o.id for o in agreement.parties}
    specs = template_fields(agreement.template)
    values = agreement_fields(agreement)
    if fields is not UNCHANGED:
        if not isinstance(fields, dict):
            raise Invalid(gettext("'fields' must be an object of field names and values."), field="fields")
        updates = check_field_values(specs, fields, party_ids)
        for name, value in fields.items():
            if value is None or value == "" or value == []:
                values.pop(name, None)
        values.update(updates)
    # Values that pointed at a party must still point at one after the parties changed.
    for spec in specs:
        if spec.type == "organization" and values.get(spec.name) is not None and values[spec.name] not in party_ids:
            raise Invalid(
                gettext("'%(field)s' must be one of the parties of the agreement.", field=f"fields.{spec.name}"),
                field=f"fields.{spec.name}",
            )
    if values != agreement.fields:
        agreement.fields = values
        changed.append("fields")
    settings_changed = signing_settings.apply_signing_settings(agreement, settings)
    if signatories is not UNCHANGED:
        state_before = _signatory_state(agreement)
        orders_before = [(s.id, s.order) for s in agreement.signatories]
        _apply_signatories(agreement, _checked_signatories(signatories, party_ids))
        for index, order in settings.orders.items():
            agreement.signatories[index].order = order
        if _signatory_state(agreement) != state_before:
            changed.append("signatories")
        if [(s.id, s.order) for s in agreement.signatories] != orders_before:
            settings_changed.append("order")
    else:
        for index, signatory in enumerate(agreement.signatories):
            if signatory.organization_id not in party_ids:
                raise Invalid(
                    gettext("Signatory '%(name)s' belongs to an organisation that is no longer a party.",
                            name=signatory.name),
                    field=f"signatories[{index}].organization_id",
                )
    if title is not UNCHANGED:
        if not isinstance(title, str) or not title.strip() or len(title) > 500:
            raise Invalid(gettext("The title must be a text of 1 to 500 characters."), field="title")
        if title.strip() != agreement.title:
            agreement.title = title.strip()
            changed.append("title")
    if title_alt is not UNCHANGED:
        title_alt = _checked_title_alt(title_alt)
        if title_alt != (agreement.title_alt or ""):
            agreement.title_alt = title_alt
            changed.append("title_alt")
    if proposal_ids is not UNCHANGED:
        proposals = _load_proposals(session, actor, proposal_ids)
        if [p.id for p in proposals] != [p.id for p in agreement.proposals]:
            agreement.proposals = proposals
            changed.append("proposal_ids")
    if session_id is not UNCHANGED:
        forum_session = _load_forum_session(session, session_id)
        if (forum_session.id if forum_session else None) != agreement.session_id:
            agreement.session = forum_session
            changed.append("session_id")
    if changed:
        agreement.updated_at = utcnow()
        session.flush()
        record(session, actor, "agreement.updated", agreement, agreement_id=agreement.id, changed=changed)
    _record_settings(session, actor, agreement, settings_changed)
    return agreement


def _orders_only(agreement: Agreement, raw: Any, settings: signing_settings.SigningSettings) -> dict[int, int]:
    """After approval a signatories list may change only the steps: every entry names an existing
    signatory (``id``) and repeats its other values unchanged. Returns {signatory id: order}."""
    existing = {s.id: s for s in agreement.signatories}
    refusal = Conflict(gettext("Once approved, only the signing order of the signatories can change; send the "
                               "agreement back to draft to change who signs."), code="not_editable")
    if not isinstance(raw, list):
        raise Invalid(gettext("'%(field)s' must be a list.", field="signatories"), field="signatories")
    orders: dict[int, int] = {}
    for index, item in enumerate(raw):
        signatory = existing.get(item.get("id")) if isinstance(item, dict) else None
        if signatory is None:
            raise refusal
        for key, value in item.items():
            if key in ("id", "order"):
                continue
            stored = getattr(signatory, key, None)
            if key == "due_at":
                stored = stored.isoformat() if stored else None
                value = _parse_due_at(value, f"signatories[{index}].due_at")
                value = value.isoformat() if value else None
            if _normal(value) != _normal(stored):
                raise refusal
        if index in settings.orders:
            orders[signatory.id] = settings.orders[index]
    return orders


def _normal(value: Any) -> Any:
    return "" if value is None else value.strip() if isinstance(value, str) else value


def _record_settings(session: Session, actor: User, agreement: Agreement, changed: list[str]) -> None:
    """Changes of how it is signed are audited apart: they are not authoring (no new approval needed)."""
    if changed:
        agreement.updated_at = utcnow()
        session.flush()
        record(session, actor, "agreement.signing_settings", agreement, agreement_id=agreement.id, changed=changed,
               signing_order=agreement.signing_order,
               sign_by=agreement.sign_by.isoformat() if agreement.sign_by else None,
               reminder_days=agreement.reminder_days, cc=[c["email"] for c in agreement.cc or []],
               orders={str(s.id): s.order for s in agreement.signatories})


@dataclass
class AgreementFilters:
    status: str | None = None
    session_id: int | None = None
    organization_id: int | None = None
    template: str | None = None


STATUSES = tuple(s.value for s in AgreementStatus)


def list_agreements(
    session: Session, actor: User, filters: AgreementFilters, page: int = 1, per_page: int = 20
) -> tuple[list[Agreement], int]:
    query = visible_agreements(actor)
    if filters.status:
        if filters.status not in STATUSES:
            raise Invalid(gettext("Status must be one of %(choices)s.", choices=", ".join(STATUSES)), field="status")
        query = query.where(Agreement.status == filters.status)
    if filters.session_id:
        query = query.where(Agreement.session_id == filters.session_id)
    if filters.organization_id:
        query = query.where(
            exists().where(
                agreement_parties.c.agreement_id == Agreement.id,
                agreement_parties.c.organization_id == filters.organization_id,
            )
        )
    if filters.template:
        query = query.where(Agreement.template_id.in_(select(Template.id).where(Template.key == filters.template)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(
        session.scalars(
            query.options(
                selectinload(Agreement.parties), selectinload(Agreement.signatories), selectinload(Agreement.drafts),
                selectinload(Agreement.template),
            )
            .order_by(Agreement.updated_at.desc(), Agreement.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return items, total


# --- rendering drafts --------------------------------------------------------------------------


def render_snapshot(agreement: Agreement, *, today: date | None = None) -> dict[str, Any]:
    """Everything a render uses, as plain data (kept with each draft, so it can be re-rendered)."""
    forum_session = agreement.session
    return {
        "template": {"id": agreement.template.id, "key": agreement.template.key, "version": agreement.template.version},
        "title": agreement.title,
        "title_alt": agreement.title_alt or "",
        "fields": agreement_fields(agreement),
        "parties": [rendering.party_snapshot(o) for o in agreement.parties],
        "signatories": [rendering.signatory_snapshot(s) for s in agreement.signatories],
        "session": {
            "id": forum_session.id, "name": forum_session.name, "place": forum_session.place,
            "name_alt": forum_session.name_alt or "", "place_alt": forum_session.place_alt or "",
            "starts_on": forum_session.starts_on.isoformat(), "ends_on": forum_session.ends_on.isoformat(),
        } if forum_session else None,
        "date": (today or date.today()).isoformat(),
    }


def _render(agreement: Agreement, snapshot: dict[str, Any], *, placeholders: bool = False) -> rendering.RenderedAgreement:
    return _render_template(_template_source(agreement.template), snapshot, placeholders=placeholders)


def _template_source(template: Template) -> tuple[str, list[rendering.FieldSpec], str]:
    """What rendering needs of a template, read while the database transaction is open."""
    return template.body, template_fields(template), f"{template.key} v{template.version}"


def _render_template(
    source: tuple[str, list[rendering.FieldSpec], str], snapshot: dict[str, Any], *, placeholders: bool = False
) -> rendering.RenderedAgreement:
    body, specs, label = source
    try:
        return rendering.render_agreement(body, specs, snapshot, placeholders=placeholders, limits=render_limits())
    except rendering.TemplateError as error:
        raise template_error(error, label) from None


@dataclass
class Preview:
    rendered: rendering.RenderedAgreement
    missing: list[rendering.FieldSpec]


def preview_agreement(session: Session, actor: User, agreement_id: int) -> Preview:
    """The bilingual text as it would render now; missing required fields show as [Label]."""
    agreement = get_agreement(session, actor, agreement_id)
    specs = template_fields(agreement.template)
    missing = missing_required_fields(specs, agreement_fields(agreement))
    return Preview(_render(agreement, render_snapshot(agreement), placeholders=True), missing)


def render_draft(session: Session, actor: User, agreement_id: int) -> Draft:
    """Render a new immutable draft version: PDF and DOCX stored by SHA-256, indexed for search."""
    agreement = get_agreement(session, actor, agreement_id)
    require_drafter(actor)
    require_editable(agreement)
    specs = template_fields(agreement.template)
    missing = missing_required_fields(specs, agreement_fields(agreement))
    if missing:
        names = ", ".join(f"fields.{spec.name}" for spec in missing)
        raise Invalid(
            gettext("Fill the required fields before rendering: %(names)s.", names=names), field=f"fields.{missing[0].name}",
            code="missing_field", missing=[f"fields.{spec.name}" for spec in missing],
        )
    snapshot = render_snapshot(agreement)
    source = _template_source(agreement.template)
    release_read_transaction(session)  # availability: no database lock while rendering
    rendered = _render_template(source, snapshot)
    pdf = rendering.build_pdf(rendered)
    docx_bytes = rendering.build_docx(rendered)
    session.refresh(agreement, with_for_update=True)  # PostgreSQL: a row lock, so drafts get one version each
    require_editable(agreement)  # again, in the write transaction: it may have changed while rendering
    if render_snapshot(agreement, today=date.fromisoformat(snapshot["date"])) != snapshot:
        raise Conflict(gettext("The agreement changed while its draft was rendered; render again."),
                       code="changed_meanwhile")
    pdf_blob, docx_blob = store_bytes(pdf), store_bytes(docx_bytes)
    version = (session.scalar(select(func.max(Draft.version)).where(Draft.agreement_id == agreement.id)) or 0) + 1
    draft = Draft(
        agreement=agreement, version=version, template_id=agreement.template_id,
        fields=_json_values(snapshot), pdf_sha256=pdf_blob.sha256, pdf_size=pdf_blob.size,
        docx_sha256=docx_blob.sha256, docx_size=docx_blob.size, text=rendered.plain_text(),
        clauses=_json_values(rendered.summaries()), created_by_id=actor.id,
    )
    session.add(draft)
    session.flush()
    enqueue_index(session, "draft", draft.id)
    record(
        session, actor, "agreement.draft_rendered", draft, agreement_id=agreement.id, version=version,
        template=agreement.template.key, template_version=agreement.template.version,
        pdf_sha256=draft.pdf_sha256, docx_sha256=draft.docx_sha256,
    )
    return draft


def _json_values(data: Any) -> Any:
    """``data`` with what JSON has no type for (dates, decimals) as text, as the snapshot stores it."""
    return json.loads(rendering.json_dumps(data))


def draft_snapshot(draft: Draft) -> dict[str, Any]:
    return dict(draft.fields or {})


def draft_clauses(draft: Draft) -> list[dict[str, str]]:
    return list(draft.clauses or [])


def compare_drafts(session: Session, actor: User, agreement_id: int, version_a: int, version_b: int) -> dict[str, Any]:
    """What changed from draft A to draft B: clause by clause in both languages, and field values."""
    draft_a = get_draft(session, actor, agreement_id, version_a)
    draft_b = get_draft(session, actor, agreement_id, version_b)
    clauses = rendering.compare_clauses(draft_clauses(draft_a), draft_clauses(draft_b))
    fields_a = draft_snapshot(draft_a).get("fields", {})
    fields_b = draft_snapshot(draft_b).get("fields", {})
    field_changes = [
        {"name": name, "a": fields_a.get(name), "b": fields_b.get(name)}
        for name in sorted(set(fields_a) | set(fields_b)) if fields_a.get(name) != fields_b.get(name)
    ]
    return {
        "agreement_id": agreement_id, "a": draft_a, "b": draft_b, "clauses": clauses, "fields": field_changes,
        "changed_clauses": sum(1 for c in clauses if c["status"] != "unchanged"),
    }


# --- search ------------------------------------------------------------------------------------


def draft_index_fields(session: Session, draft: Draft) -> dict[str, Any]:
    """What the search index stores for a draft: both languages' text, the parties in both scripts,
    the signatories, and which organisations' firm users may find it (the parties).

    The search module keeps only the latest draft of each agreement (uid ``agreement:<id>``)."""
    agreement = draft.agreement
    clauses = draft_clauses(draft)
    text_it = "\n".join(f"{c.get('heading_it', '')}\n{c.get('text_it', '')}" for c in clauses)
    text_ru = "\n".join(f"{c.get('heading_ru', '')}\n{c.get('text_ru', '')}" for c in clauses)
    heading_it = next((c.get("heading_it") for c in clauses if c.get("kind") == "title"), "") or ""
    heading_ru = next((c.get("heading_ru") for c in clauses if c.get("kind") == "title"), "") or ""
    names: list[str] = []
    for org in agreement.parties:
        names.extend(n for n in (org.name, org.name_alt) if n)
    executed_files = agreement.executed_document.current_files() if agreement.executed_document else []
    people: list[str] = []
    for signatory in agreement.signatories:
        people.extend(n for n in (signatory.name, signatory.name_alt) if n)
    return {
        "title": agreement.title,
        "title_it": f"{heading_it} — {agreement.title}" if heading_it else agreement.title,
        "title_ru": f"{heading_ru} — {agreement.title}" if heading_ru else agreement.title,
        "text_it": text_it,
        "text_ru": text_ru,
        "organization_names": names,
        "person_names": people,
        "reader_org_ids": sorted(agreement.party_ids),
        "agreement_id": agreement.id,
        "session_id": agreement.session_id,
        "session_name": agreement.session.name if agreement.session else "",
        "sectors": sorted({s for p in agreement.proposals for s in p.sectors}),
        "languages": ["it", "ru"],
        "created_at": draft.created_at,
        # The agreement's own date for the year facet: signed, else its session's.
        "dated_on": _signature_date(agreement) or (agreement.session.starts_on if agreement.session else None),
        # The executed copy has no hit of its own (executed_copy_shown_as): its files are found here.
        "files": [{"id": f.id, "language": f.language, "text": f.text or "", "filename": f.filename}
                  for f in executed_files],
        "meta": [name for f in executed_files for name in (f.filename, filename_words(f.filename))],
    }


def executed_copy_shown_as(session: Session, object_type: str, object_id: int) -> tuple[str, int] | None:
    """A document that is an agreement's executed copy is found as the agreement (one hit): its
    latest draft, whose entry holds the copy's files (see ``draft_index_fields``)."""
    if object_type != "document":
        return None
    draft_id = session.scalar(
        select(func.max(Draft.id)).join(Agreement, Draft.agreement_id == Agreement.id)
        .where(Agreement.executed_document_id == object_id)
    )
    return ("draft", draft_id) if draft_id is not None else None


def _signature_date(agreement: Agreement) -> date | None:
    """When the agreement was signed: its execution, else the last signature so far."""
    if agreement.executed_at is not None:
        return agreement.executed_at.date()
    signed = [s.signed_at for s in agreement.signatories if s.signed_at is not None]
    return max(signed).date() if signed else None


def index_draft(session: Session, draft_id: int) -> dict[str, Any] | None:
    """The "draft" indexer (registered in ``docmgr.drafting.init_app``)."""
    draft = session.get(Draft, draft_id)
    return None if draft is None else draft_index_fields(session, draft)


def all_draft_ids(session: Session) -> Iterable[int]:
    return session.scalars(select(Draft.id).order_by(Draft.id))


def organizations_for_form(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.country, Organization.name)))


def proposals_for_form(session: Session, actor: User) -> list[Document]:
    query = visible_documents(actor).where(Document.kind == "proposal").order_by(Document.created_at.desc()).limit(200)
    return list(session.scalars(query))


def sessions_for_form(session: Session) -> list[TaskForceSession]:
    return list(session.scalars(select(TaskForceSession).order_by(TaskForceSession.starts_on.desc())))
