"""Pages: agreements (list, new, edit, preview, drafts, compare) and agreement templates."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from docmgr.drafting import rendering, services, template_editing
from docmgr.drafting.api import draft_download
from docmgr.drafting.forms import AgreementForm, NewAgreementForm, TemplateForm
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.forms import FormInvalid
from docmgr.web import form_error, form_int

bp = Blueprint("drafting", __name__)

SIGNATORY_FORM_KEYS = ("id", "name", "name_alt", "title", "organization_id", "email", "due_at")
BLANK_SIGNATORY_ROWS = 2


def _actor():
    return current_user._get_current_object()




def signatories_from_form(form: MultiDict) -> list[dict[str, Any]]:
    """Rows sig-N-*; a row without a name is skipped (clearing a name removes that signatory)."""
    rows = []
    indexes = sorted({int(key.split("-")[1]) for key in form if key.startswith("sig-") and key.split("-")[1].isdigit()})
    for index in indexes:
        row = {key: form.get(f"sig-{index}-{key}", "").strip() for key in SIGNATORY_FORM_KEYS}
        if not row["name"]:
            continue
        rows.append({
            "id": form_int(row["id"], f"signatories[{len(rows)}].id"),
            "name": row["name"], "name_alt": row["name_alt"], "title": row["title"], "email": row["email"],
            "organization_id": form_int(row["organization_id"], f"signatories[{len(rows)}].organization_id"),
            "due_at": row["due_at"] or None,
        })
    return rows


def _form_values_from_agreement(agreement) -> MultiDict:
    """Pre-fill the edit form from the stored agreement."""
    values = services.agreement_fields(agreement)
    data: list[tuple[str, str]] = [("title", agreement.title)]
    for spec in services.template_fields(agreement.template):
        value = values.get(spec.name)
        if value is None:
            continue
        if spec.type == "list":
            data.append((f"field_{spec.name}", "\n".join(value)))
        else:
            data.append((f"field_{spec.name}", str(value)))
    data.extend(("organization_ids", str(o.id)) for o in agreement.parties)
    data.extend(("proposal_ids", str(p.id)) for p in agreement.proposals)
    if agreement.session_id:
        data.append(("session_id", str(agreement.session_id)))
    for index, signatory in enumerate(agreement.signatories):
        data.extend([
            (f"sig-{index}-id", str(signatory.id)), (f"sig-{index}-name", signatory.name),
            (f"sig-{index}-name_alt", signatory.name_alt or ""), (f"sig-{index}-title", signatory.title or ""),
            (f"sig-{index}-organization_id", str(signatory.organization_id)),
            (f"sig-{index}-email", signatory.email or ""),
            (f"sig-{index}-due_at", signatory.due_at.date().isoformat() if signatory.due_at else ""),
        ])
    return MultiDict(data)


# --- agreements --------------------------------------------------------------------------------


@bp.get("/agreements")
@login_required
def agreements():
    actor = _actor()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = 20
    error = None
    try:
        filters = services.AgreementFilters(
            status=request.args.get("status") or None,
            session_id=form_int(request.args.get("session_id"), "session_id"),
        )
        items, total = services.list_agreements(db.session, actor, filters, page, per_page)
    except DocmgrError as exc:
        error, items, total = form_error(exc), [], 0
    return render_template(
        "drafting/agreements.html", agreements=items, total=total, page=page, per_page=per_page, error=error,
        statuses=services.STATUSES, sessions=services.sessions_for_form(db.session),
    ), (error and 422) or 200


@bp.route("/agreements/new", methods=["GET", "POST"])
@login_required
def new_agreement():
    actor = _actor()
    services.require_drafter(actor)
    error, status = None, 200
    form = NewAgreementForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            agreement = services.create_agreement(
                db.session, actor, template_key=form.template.data, title=form.title.data,
                organization_ids=form.organization_ids.data, proposal_ids=form.proposal_ids.data,
                session_id=form.session_id.data,
            )
            db.session.commit()
            flash(_("The agreement was created. Fill in its fields and signatories."), "success")
            return redirect(url_for("drafting.edit", agreement_id=agreement.id))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template(
        "drafting/new.html", error=error, form=request.form, templates=services.list_templates(db.session),
        organizations=services.organizations_for_form(db.session),
        proposals=services.proposals_for_form(db.session, actor), sessions=services.sessions_for_form(db.session),
    ), status


@bp.get("/agreements/<int:agreement_id>")
@login_required
def detail(agreement_id: int):
    agreement = services.get_agreement(db.session, _actor(), agreement_id)
    return render_template(
        "drafting/detail.html", agreement=agreement, drafts=sorted(agreement.drafts, key=lambda d: d.version),
        error=None,
    )


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
@login_required
def edit(agreement_id: int):
    actor = _actor()
    agreement = services.get_agreement(db.session, actor, agreement_id)
    services.require_drafter(actor)
    services.require_editable(agreement)
    specs = services.template_fields(agreement.template)
    error, status, form = None, 200, _form_values_from_agreement(agreement)
    if request.method == "POST":
        form, page_form = request.form, AgreementForm.for_template(specs)
        try:
            if not page_form.validate():
                raise FormInvalid
            services.update_agreement(
                db.session, actor, agreement_id, title=page_form.title.data, fields=page_form.template_values(),
                signatories=signatories_from_form(request.form), organization_ids=page_form.organization_ids.data,
                proposal_ids=page_form.proposal_ids.data, session_id=page_form.session_id.data,
            )
            db.session.commit()
            flash(_("The agreement was saved."), "success")
            target = "drafting.preview" if request.form.get("then") == "preview" else "drafting.detail"
            return redirect(url_for(target, agreement_id=agreement_id))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            if isinstance(exc, DocmgrError) and exc.status in (403, 404):
                raise
            error, status = page_form.refusal(exc)
            agreement = services.get_agreement(db.session, actor, agreement_id)
    signatory_rows = len([k for k in form if k.startswith("sig-") and k.endswith("-name")]) + BLANK_SIGNATORY_ROWS
    return render_template(
        "drafting/edit.html", agreement=agreement, specs=specs, form=form, error=error,
        signatory_rows=max(signatory_rows, BLANK_SIGNATORY_ROWS),
        organizations=services.organizations_for_form(db.session),
        proposals=services.proposals_for_form(db.session, actor), sessions=services.sessions_for_form(db.session),
    ), status


def cc_from_form(text: str) -> list[dict[str, str]]:
    """One copied recipient a line: ``Name <address>`` or just the address (checked by the service)."""
    people = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.endswith(">") and "<" in line:
            name, _sep, address = line[:-1].rpartition("<")
            people.append({"name": name.strip(), "email": address.strip()})
        else:
            people.append({"name": "", "email": line})
    return people


@bp.post("/agreements/<int:agreement_id>/signing")
@login_required
def signing_settings(agreement_id: int):
    """How it is signed: order and steps, sign-by date, reminders, copied recipients (legal)."""
    actor = _actor()
    agreement = services.get_agreement(db.session, actor, agreement_id)
    form = request.form
    steps = [{"id": s.id, "order": form.get(f"order-{s.id}", "").strip() or s.order} for s in agreement.signatories]
    try:
        services.update_agreement(
            db.session, actor, agreement_id, signing_order=form.get("signing_order", ""),
            sign_by=form.get("sign_by", "").strip() or None, reminder_days=form.get("reminder_days", "").strip() or None,
            cc=cc_from_form(form.get("cc", "")), signatories=steps,
        )
        db.session.commit()
        flash(_("How the agreement is signed was saved."), "success")
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status in (403, 404):
            raise
        messages = list((exc.details.get("fields") or {}).values()) or [exc.message]
        for message in messages:
            flash(message, "error")
    return redirect(url_for("drafting.detail", agreement_id=agreement_id) + "#signing", 303)


@bp.get("/agreements/<int:agreement_id>/preview")
@login_required
def preview(agreement_id: int):
    actor = _actor()
    agreement = services.get_agreement(db.session, actor, agreement_id)
    result = services.preview_agreement(db.session, actor, agreement_id)
    return render_template(
        "drafting/preview.html", agreement=agreement, body=rendering.clauses_html(result.rendered),
        missing=result.missing,
    )


@bp.post("/agreements/<int:agreement_id>/drafts")
@login_required
def render_draft(agreement_id: int):
    actor = _actor()
    try:
        draft = services.render_draft(db.session, actor, agreement_id)
        db.session.commit()
        flash(_("Draft version %(version)s was rendered.", version=draft.version), "success")
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status in (403, 404):
            raise
        flash(exc.message, "error")
    return redirect(url_for("drafting.detail", agreement_id=agreement_id))


@bp.get("/agreements/<int:agreement_id>/drafts/<int:version>.pdf")
@login_required
def download_pdf(agreement_id: int, version: int):
    return draft_download(services.get_draft(db.session, _actor(), agreement_id, version), "pdf")


@bp.get("/agreements/<int:agreement_id>/drafts/<int:version>.docx")
@login_required
def download_docx(agreement_id: int, version: int):
    return draft_download(services.get_draft(db.session, _actor(), agreement_id, version), "docx")


@bp.get("/agreements/<int:agreement_id>/drafts/compare")
@login_required
def compare(agreement_id: int):
    actor = _actor()
    agreement = services.get_agreement(db.session, actor, agreement_id)
    versions = sorted(d.version for d in agreement.drafts)
    version_a = request.args.get("a", type=int) or (versions[-2] if len(versions) > 1 else None)
    version_b = request.args.get("b", type=int) or (versions[-1] if versions else None)
    comparison = None
    if version_a and version_b:
        comparison = services.compare_drafts(db.session, actor, agreement_id, version_a, version_b)
    return render_template(
        "drafting/compare.html", agreement=agreement, versions=versions, comparison=comparison,
        version_a=version_a, version_b=version_b,
    )


# --- templates ---------------------------------------------------------------------------------


@bp.get("/templates")
@login_required
def templates():
    all_versions = services.list_templates(db.session, all_versions=True)
    counts: dict[str, int] = {}
    for template in all_versions:
        counts[template.key] = counts.get(template.key, 0) + 1
    return render_template("drafting/templates.html", templates=services.list_templates(db.session), counts=counts)


@bp.get("/templates/<key>")
@login_required
def template_detail(key: str):
    version = request.args.get("version", type=int)
    template = services.get_template(db.session, key, version)
    return render_template(
        "drafting/template_detail.html", template=template, specs=services.template_fields(template),
        versions=services.list_templates(db.session, key=key, all_versions=True),
    )


def _template_form_defaults(template) -> MultiDict:
    fields = template.fields if template else []
    return MultiDict({
        "key": template.key if template else "", "name": template.name if template else "",
        "name_ru": template.name_ru if template else "",
        "fields": json.dumps(fields, ensure_ascii=False, indent=2), "body": template.body if template else "",
    })


def _template_form_values() -> MultiDict:
    """The editor's values: the text areas, each replaced by its uploaded file when one was chosen."""
    values = MultiDict(request.form)
    for name, field, limit in (("fields_file", "fields", template_editing.MAX_FIELDS_FILE),
                               ("body_file", "body", services.MAX_BODY)):
        upload = request.files.get(name)
        if upload is not None and upload.filename:
            values[field] = template_editing.read_upload(upload.read(limit + 1), field, limit=limit)
    return values


def _template_editor(current, save):
    """The template form (new template, or new version of ``current``): check and save, or preview with
    sample values (HTML in the page, or the PDF) without saving. ``save(page_form)`` returns the template."""
    actor = _actor()
    services.require_drafter(actor)
    error, status, form, preview = None, 200, _template_form_defaults(current), None
    if request.method == "POST":
        form, page_form = request.form, TemplateForm(formdata=MultiDict())
        action = request.form.get("action", "save")
        try:
            form = _template_form_values()
            page_form = TemplateForm(formdata=form)
            if not page_form.validate():
                raise FormInvalid
            if action in ("preview", "preview_pdf"):
                preview = template_editing.preview_template(
                    actor, name=page_form.name.data, name_ru=page_form.name_ru.data, fields=page_form.fields.data,
                    body=page_form.body.data,
                )
                if action == "preview_pdf":
                    response = make_response(template_editing.preview_pdf(preview))
                    response.headers["Content-Type"] = "application/pdf"
                    response.headers["Content-Disposition"] = 'inline; filename="preview.pdf"'
                    return response
            else:
                template = save(actor, page_form)
                db.session.commit()
                if template.version == 1:
                    flash(_("Template %(key)s was created.", key=template.key), "success")
                else:
                    flash(_("Version %(version)s of %(key)s was created.", version=template.version, key=template.key),
                          "success")
                return redirect(url_for("drafting.template_detail", key=template.key))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            if isinstance(exc, DocmgrError) and exc.status in (403, 404):
                raise
            error, status = page_form.refusal(exc)
            for item in error:
                line = template_editing.line_of_field_error(item.get("field"), form.get("fields", ""))
                if line and not item.get("line"):
                    item["line"] = line
            if current is not None:
                current = services.get_template(db.session, current.key)
    fields_errors = [item for item in error or [] if (item.get("field") or "").startswith("fields")]
    return render_template("drafting/template_form.html", template=current, form=form, error=error,
                           fields_errors=fields_errors, preview=preview), status


@bp.route("/templates/new", methods=["GET", "POST"])
@login_required
def template_new():
    def save(actor, page_form):
        return services.create_template(
            db.session, actor, key=page_form.key.data, name=page_form.name.data, name_ru=page_form.name_ru.data,
            fields=page_form.fields.data, body=page_form.body.data,
        )

    return _template_editor(None, save)


@bp.route("/templates/<key>/new-version", methods=["GET", "POST"])
@login_required
def template_new_version(key: str):
    services.require_drafter(_actor())
    current = services.get_template(db.session, key)

    def save(actor, page_form):
        return services.create_template_version(
            db.session, actor, key, body=page_form.body.data, fields=page_form.fields.data,
            name=page_form.name.data, name_ru=page_form.name_ru.data,
        )

    return _template_editor(current, save)


@bp.get("/templates/<key>/diff")
@login_required
def template_diff(key: str):
    """What changed between two versions of a template (body and field list, line by line)."""
    versions = services.list_templates(db.session, key=key, all_versions=True)
    if not versions:
        services.get_template(db.session, key)  # 404
    newest = versions[0].version
    version_a = request.args.get("a", type=int) or max(newest - 1, 1)
    version_b = request.args.get("b", type=int) or newest
    diff = template_editing.diff_versions(db.session, key, version_a, version_b)
    return render_template("drafting/template_diff.html", diff=diff, versions=versions, template=versions[0])


FIELD_TYPE_LABELS = {
    "text": _l("Text"), "long_text": _l("Long text"), "date": _l("Date"), "number": _l("Number"),
    "organization": _l("Organisation"), "list": _l("List"),
}
SIGNATORY_STATUS_LABELS = {"pending": _l("Pending"), "signed": _l("Signed"), "declined": _l("Declined")}


@bp.app_context_processor
def _drafting_labels() -> dict[str, Any]:
    return {
        "FIELD_TYPE_LABELS": FIELD_TYPE_LABELS,
        "SIGNATORY_STATUS_LABELS": SIGNATORY_STATUS_LABELS,
    }
