"""Pages: browse, upload, read and download documents."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from docmgr.accounts import permissions
from docmgr.documents import previews, progress, services
from docmgr.documents.api import download_response
from docmgr.documents.forms import NewDocumentForm
from docmgr.errors import DocmgrError, Invalid
from docmgr.extensions import db
from docmgr.forms import FormInvalid
from docmgr.vocab import KINDS, LANGUAGES, SECTORS
from docmgr.web import form_error, form_int

bp = Blueprint("documents", __name__)




@bp.get("/")
@login_required
def index():
    actor = current_user._get_current_object()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = 20
    error = None
    try:
        filters = services.DocumentFilters(
            kind=request.args.get("kind") or None, sector=request.args.get("sector") or None,
            organization_id=form_int(request.args.get("organization_id"), "organization_id"),
            session_id=form_int(request.args.get("session_id"), "session_id"),
            language=request.args.get("language") or None, q=request.args.get("q") or None,
        )
        documents, total = services.list_documents(db.session, actor, filters, page, per_page)
    except DocmgrError as exc:
        error, documents, total = form_error(exc), [], 0
    organizations = services.list_organizations(db.session) if permissions.sees_everything(actor) else []
    return render_template(
        "documents/index.html", documents=documents, total=total, page=page, per_page=per_page, error=error,
        organizations=organizations, sessions=services.list_task_force_sessions(db.session),
        sectors=SECTORS, kinds=KINDS, languages=services.file_languages(db.session, actor),
    ), (error and 422) or 200


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
            document = services.create_document(
                db.session, actor, title_it=form.title_it.data, title_ru=form.title_ru.data, kind=form.kind.data,
                sectors=services.parse_sectors(form.sectors.data),
                organization_id=form_int(form.organization_id.data, "organization_id"),
                session_id=form_int(form.session_id.data, "session_id"), uploads=uploads,
            )
            db.session.commit()
            flash(_("The document was uploaded."), "success")
            return redirect(url_for("documents.detail", document_id=document.id))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template(
        "documents/new.html", error=error, form=request.form, sectors=SECTORS, kinds=KINDS,
        languages=LANGUAGES, organizations=services.list_organizations(db.session),
        sessions=services.list_task_force_sessions(db.session),
    ), status


@bp.get("/documents/<int:document_id>")
@login_required
def detail(document_id: int):
    actor = current_user._get_current_object()
    document = services.get_document(db.session, actor, document_id)
    return render_template("documents/detail.html", document=document, languages=LANGUAGES, error=None,
                           processing=progress.processing(db.session, document)), 200


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
        document = services.get_document(db.session, actor, document_id)
        return render_template("documents/detail.html", document=document, languages=LANGUAGES, error=form_error(exc)), exc.status


@bp.get("/documents/<int:document_id>/files/<int:file_id>/download")
@login_required
def download(document_id: int, file_id: int):
    file = services.get_file(db.session, current_user._get_current_object(), document_id, file_id)
    return download_response(file)


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

