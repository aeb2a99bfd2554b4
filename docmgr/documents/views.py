"""Pages: browse, upload, read and download documents."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from docmgr.accounts import permissions
from docmgr.documents import bulk, previews, progress, services, trash
from docmgr.documents.api import download_response
from docmgr.documents.forms import EditDocumentForm, NewDocumentForm, check_document_date
from docmgr.errors import DocmgrError, Invalid
from docmgr.extensions import db
from docmgr.forms import FormErrors, FormInvalid
from docmgr.vocab import KINDS, LANGUAGES, SECTORS
from docmgr.web import form_error, form_int

bp = Blueprint("documents", __name__)




@bp.get("/")
@login_required
def index():
    return _index_page()


def _index_page(error: FormErrors | dict | None = None, status: int = 200):
    actor = current_user._get_current_object()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = 20
    try:
        filters = services.DocumentFilters(
            kind=request.args.get("kind") or None, sector=request.args.get("sector") or None,
            organization_id=form_int(request.args.get("organization_id"), "organization_id"),
            session_id=form_int(request.args.get("session_id"), "session_id"),
            language=request.args.get("language") or None, q=request.args.get("q") or None,
        )
        documents, total = services.list_documents(db.session, actor, filters, page, per_page)
    except DocmgrError as exc:
        error, documents, total, status = form_error(exc), [], 0, 422
    organizations = services.list_organizations(db.session) if permissions.sees_everything(actor) else []
    return render_template(
        "documents/index.html", documents=documents, total=total, page=page, per_page=per_page, error=error,
        organizations=organizations, sessions=services.list_task_force_sessions(db.session),
        sectors=SECTORS, kinds=KINDS, languages=services.file_languages(db.session, actor),
        selected=set(request.form.getlist("ids")),
    ), status


@bp.route("/documents/new", methods=["GET", "POST"])
@login_required
def new():
    actor = current_user._get_current_object()
    error, status = None, 200
    form = NewDocumentForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            # Each file input has its language select beside it: pair them by position *before* dropping
            # the inputs left empty, or an empty first input would give the second file the first's language.
            languages = request.form.getlist("language")
            uploads = [
                services.Upload(p.stream, p.filename or "", (languages[i] if i < len(languages) else "") or None)
                for i, p in enumerate(request.files.getlist("file"))
                if p.filename
            ]
            documents = services.create_documents(
                db.session, actor, title_it=form.title_it.data, title_ru=form.title_ru.data, kind=form.kind.data,
                sectors=services.parse_sectors(form.sectors.data),
                organization_id=form_int(form.organization_id.data, "organization_id"),
                session_id=form_int(form.session_id.data, "session_id"), uploads=uploads,
                grouping=form.grouping.data,
            )
            db.session.commit()
            if len(documents) > 1:
                flash(_("%(num)s documents were uploaded, one per file: %(titles)s.", num=len(documents),
                        titles=_titles(documents)), "success")
                return _after_upload(url_for("documents.index"))
            flash(_("The document was uploaded."), "success")
            return _after_upload(url_for("documents.detail", document_id=documents[0].id))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template(
        "documents/new.html", error=error, form=request.form, sectors=SECTORS, kinds=KINDS,
        languages=LANGUAGES, organizations=services.list_organizations(db.session),
        sessions=services.list_task_force_sessions(db.session), groupings=services.GROUPINGS,
    ), status


def _titles(documents: list, shown: int = 10) -> str:
    titles = "; ".join(document.title for document in documents[:shown])
    return titles + ("; …" if len(documents) > shown else "")


def _after_upload(location: str):
    """Where the browser goes after an upload. The upload page's script (static/js/upload.js) sends the form with
    XMLHttpRequest, which would follow a redirect itself: the page it fetched would show, and so spend, the flash
    message before the script took the browser there. The script is told the address instead and goes itself."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return jsonify({"location": location})
    return redirect(location)


@bp.get("/documents/<int:document_id>")
@login_required
def detail(document_id: int):
    actor = current_user._get_current_object()
    return _detail_page(services.get_document(db.session, actor, document_id))


def _detail_page(document, error: dict | None = None, status: int = 200):
    """The document page; ``removal_refused`` says why it cannot be deleted (executed, retained…), if so."""
    actor = current_user._get_current_object()
    return render_template(
        "documents/detail.html", document=document, languages=LANGUAGES, error=error,
        processing=progress.processing(db.session, document),
        removal_refused=trash.why_not_removable(db.session, actor, document),
    ), status


@bp.post("/documents/<int:document_id>/files")
@login_required
def add_file(document_id: int):
    actor = current_user._get_current_object()
    try:
        part = request.files.get("file")
        if part is None or not part.filename:
            raise Invalid(_("Choose a file to upload."), field="file", code="missing_field")
        services.add_file(
            db.session, actor, document_id, services.Upload(part.stream, part.filename, request.form.get("language") or None)
        )
        db.session.commit()
        flash(_("The file was added."), "success")
        return redirect(url_for("documents.detail", document_id=document_id))
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise
        return _detail_page(services.get_document(db.session, actor, document_id), form_error(exc), exc.status)


@bp.get("/documents/<int:document_id>/files/<int:file_id>/download")
@login_required
def download(document_id: int, file_id: int):
    file = services.get_file(db.session, current_user._get_current_object(), document_id, file_id)
    return download_response(file)


# --- editing, the trash, retention, bulk actions ---------------------------------------------------------------


@bp.route("/documents/<int:document_id>/edit", methods=["GET", "POST"])
@login_required
def edit(document_id: int):
    actor = current_user._get_current_object()
    document = services.get_document(db.session, actor, document_id)
    permissions.require_can_change_document(actor, document)
    error, status = None, 200
    form = EditDocumentForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            services.update_document(
                db.session, actor, document_id, title_it=form.title_it.data or "", title_ru=form.title_ru.data or "",
                sectors=services.parse_sectors(form.sectors.data),
                session_id=form_int(form.session_id.data, "session_id"),
                document_date=check_document_date(form.document_date.data),
                file_languages=_changed_file_languages(document),
            )
            db.session.commit()
            flash(_("The changes were saved."), "success")
            return redirect(url_for("documents.detail", document_id=document_id))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            if isinstance(exc, DocmgrError) and exc.status in (401, 403, 404, 409):
                raise
            error, status = form.refusal(exc)
            values = request.form
    if request.method == "GET" or error is None:
        values = MultiDict({
            "title_it": document.title_it, "title_ru": document.title_ru, "session_id": str(document.session_id or ""),
            "document_date": document.document_date.isoformat() if document.document_date else "",
            **{f"language-{file.id}": file.language for file in document.files},
        })
        values.setlist("sectors", document.sectors)
    return render_template(
        "documents/edit.html", document=document, form=values, error=error, sectors=SECTORS, languages=LANGUAGES,
        sessions=services.list_task_force_sessions(db.session),
    ), status


def _changed_file_languages(document) -> dict[int, str]:
    """The edit form's per-file language selects (``language-<file id>``) whose value differs from the file's:
    only a change makes a language the uploader's choice (the form sends every select)."""
    current = {f"language-{file.id}": (file.id, file.language) for file in document.files}
    changed = {}
    for name, value in request.form.items():
        if name.startswith("language-"):
            if name not in current:
                raise Invalid(_("No such file in this document: %(id)s.", id=name.removeprefix("language-")),
                              field="files")
            file_id, language = current[name]
            if value != language:
                changed[file_id] = value
    return changed


@bp.post("/documents/<int:document_id>/delete")
@login_required
def delete(document_id: int):
    actor = current_user._get_current_object()
    try:
        trash.trash_document(db.session, actor, document_id)
        db.session.commit()
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        return _detail_page(services.get_document(db.session, actor, document_id), form_error(exc), exc.status)
    flash(_("The document was moved to the trash. You can restore it there within %(days)s days.",
            days=trash.trash_days()), "success")
    return redirect(url_for("documents.index"))


@bp.get("/trash")
@login_required
def trash_page():
    actor = current_user._get_current_object()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = trash.list_trash(db.session, actor, page)
    return render_template("documents/trash.html", items=items, total=total, page=page, per_page=50,
                           days=trash.trash_days())


@bp.post("/trash/<int:document_id>/restore")
@login_required
def restore(document_id: int):
    actor = current_user._get_current_object()
    document = trash.restore_document(db.session, actor, document_id)
    db.session.commit()
    flash(_("The document was restored."), "success")
    return redirect(url_for("documents.detail", document_id=document.id))


@bp.route("/documents/retention", methods=["GET", "POST"])
@login_required
def retention():
    actor = current_user._get_current_object()
    permissions.require_admin(actor)
    error, status = None, 200
    values = {kind: str(days) for kind, days in trash.retention_days(db.session).items()}
    if request.method == "POST":
        values = {kind: request.form.get(f"days_{kind}", "") for kind in KINDS}
        try:
            trash.set_retention(db.session, actor, values)
            db.session.commit()
            flash(_("The retention periods were saved."), "success")
            return redirect(url_for("documents.retention"))
        except DocmgrError as exc:
            db.session.rollback()
            if exc.status != 422:
                raise
            error, status = FormErrors(exc.details.get("errors") or [form_error(exc)]), exc.status
    return render_template("documents/retention.html", values=values, kinds=KINDS, error=error), status


@bp.post("/documents/bulk")
@login_required
def bulk_action():
    """The list's selection: ``action=assign`` (a session and/or sectors) or ``action=zip`` (one download)."""
    actor = current_user._get_current_object()
    try:
        ids = bulk.parse_ids(request.form.getlist("ids"))
        if request.form.get("action") == "zip":
            entries = bulk.zip_entries(db.session, actor, ids)
            db.session.rollback()  # nothing to write; the stream reads files only
            response = Response(stream_with_context(bulk.stream_zip(entries)), mimetype="application/zip")
            response.headers["Content-Disposition"] = "attachment; filename=documents.zip"
            response.headers["Cache-Control"] = "private, no-store"
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response
        if request.form.get("action") != "assign":
            raise Invalid(_("Choose an action."), field="action")
        raw_session = request.form.get("session_id", "")
        session_id = "unchanged" if raw_session == "" else (
            None if raw_session == "none" else form_int(raw_session, "session_id"))
        documents = bulk.bulk_assign(db.session, actor, ids, session_id=session_id,
                                     add_sectors=request.form.getlist("sectors"))
        db.session.commit()
    except DocmgrError as exc:
        db.session.rollback()
        if exc.status in (401, 403) and exc.field != "ids":
            raise
        return _index_page(form_error(exc), exc.status)
    flash(ngettext("%(num)d document was updated.", "%(num)d documents were updated.", len(documents)), "success")
    return redirect(url_for("documents.index"))


# --- page previews and the viewer (docmgr.documents.previews) ----------------------------------------------------


def _png_response(image):
    """Our own rendering, so inline is safe; cached privately and revalidated by ETag (hash + page), which re-checks
    that the reader may still see the file and answers 304 without a body when nothing changed."""
    from flask import send_file

    response = send_file(image.path, mimetype="image/png", etag=image.etag, conditional=True, max_age=None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/documents/<int:document_id>/files/<int:file_id>/thumbnail.png")
@login_required
def thumbnail(document_id: int, file_id: int):
    file = services.get_file(db.session, current_user._get_current_object(), document_id, file_id)
    return _png_response(previews.thumbnail(file))


@bp.get("/documents/<int:document_id>/files/<int:file_id>/pages/<int:page>.png")
@login_required
def page_image(document_id: int, file_id: int, page: int):
    file = services.get_file(db.session, current_user._get_current_object(), document_id, file_id)
    return _png_response(previews.page_image(file, page))


@bp.get("/documents/<int:document_id>/files/<int:file_id>/view")
@login_required
def viewer(document_id: int, file_id: int):
    pages = previews.page_set(services.get_file(db.session, current_user._get_current_object(), document_id, file_id))
    return render_template("documents/viewer.html", document=pages.file.document, file=pages.file, pages=pages)

