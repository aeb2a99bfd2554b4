"""/api/v1/documents."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, jsonify, request, send_file
from flask_babel import gettext
from werkzeug.datastructures import FileStorage

from docmgr.api import acting_user, documented, form_fields, int_arg, json_body, page_args, text_field
from docmgr.documents import ocr, previews, progress, services, trash
from docmgr.documents import serializers as ser
from docmgr.documents.models import DocumentFile
from docmgr.documents.ocr import ocr_available
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.storage import current_store
from docmgr.vocab import parse_int

bp = Blueprint("documents_api", __name__)

DOCUMENT = ser.DocumentSchema()
FILE = ser.DocumentFileSchema()
TRASHED = ser.TrashedDocumentSchema()


def _optional_int(name: str) -> int | None:
    try:
        return parse_int(request.form.get(name))
    except ValueError:
        raise Invalid(gettext("'%(name)s' must be a whole number.", name=name), field=name) from None


def _uploads(parts: list[FileStorage]) -> list[services.Upload]:
    """Languages pair with files in order: `language` may be given once per file, or once for all."""
    languages = request.form.getlist("language")
    if languages and len(languages) not in (1, len(parts)):
        raise Invalid(gettext("Give one 'language' per file, or one for all files."), field="language")
    uploads = []
    for index, part in enumerate(parts):
        language = languages[index] if len(languages) == len(parts) else (languages[0] if languages else None)
        uploads.append(services.Upload(stream=part.stream, filename=part.filename or "", language=language or None))
    return uploads


def _check_file_parts() -> list[FileStorage]:
    unknown = sorted(set(request.files) - {"file"})
    if unknown:
        raise Invalid(gettext("Unknown file part: %(unknown)s; send files as 'file'.", unknown=unknown[0]), field=unknown[0], code="unknown_field")
    return [part for part in request.files.getlist("file") if part.filename or part.content_length]


@bp.post("/documents")
@documented({201: ser.DocumentCreatedSchema}, form=ser.DocumentUploadForm, errors=(413, 415))
def create_document():
    actor = acting_user()
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid(gettext("Send the document as multipart/form-data with one or more 'file' parts."), field="file", code="missing_field")
    form_fields(ser.DocumentUploadForm)
    parts = _check_file_parts()
    documents = services.create_documents(
        db.session, actor,
        title_it=request.form.get("title_it", ""), title_ru=request.form.get("title_ru", ""),
        kind=request.form.get("kind", "proposal"), sectors=services.parse_sectors(request.form.get("sectors")),
        organization_id=_optional_int("organization_id"), session_id=_optional_int("session_id"),
        uploads=_uploads(parts), grouping=request.form.get("grouping") or None,
    )
    db.session.commit()
    return jsonify({**DOCUMENT.dump(documents[0]), "documents": ser.DocumentSummarySchema(many=True).dump(documents)}), 201


@bp.get("/documents")
@documented({200: ser.DocumentListSchema}, query=ser.DocumentListQuery)
def list_documents():
    actor = acting_user()
    page, per_page = page_args()
    filters = services.DocumentFilters(
        kind=request.args.get("kind") or None, sector=request.args.get("sector") or None,
        organization_id=int_arg("organization_id"), session_id=int_arg("session_id"),
        language=request.args.get("language") or None,
    )
    items, total = services.list_documents(db.session, actor, filters, page, per_page)
    return jsonify(ser.DocumentListSchema().dump({"items": items, "total": total, "page": page, "per_page": per_page}))


@bp.get("/documents/<int:document_id>")
@documented({200: ser.DocumentSchema})
def get_document(document_id: int):
    return jsonify(DOCUMENT.dump(services.get_document(db.session, acting_user(), document_id)))


@bp.patch("/documents/<int:document_id>")
@documented({200: ser.DocumentSchema}, body=ser.DocumentUpdateRequest)
def update_document(document_id: int):
    actor = acting_user()
    data = json_body(ser.DocumentUpdateRequest)
    session_id = data.get("session_id", "unchanged")
    if session_id not in ("unchanged", None) and (not isinstance(session_id, int) or isinstance(session_id, bool)):
        raise Invalid(gettext("'session_id' must be a whole number or null."), field="session_id")
    document = services.update_document(
        db.session, actor, document_id, title_it=text_field(data, "title_it"), title_ru=text_field(data, "title_ru"),
        kind=text_field(data, "kind"), sectors=services.parse_sectors(data["sectors"]) if "sectors" in data else None,
        session_id=session_id, document_date=_document_date(data),
        file_languages=services.parse_file_languages(data["files"]) if "files" in data else None,
    )
    db.session.commit()
    return jsonify(DOCUMENT.dump(document))


@bp.delete("/documents/<int:document_id>")
@documented({200: ser.TrashedDocumentSchema}, errors=(409,))
def trash_document(document_id: int):
    """Move the document to the trash (restorable for DOCMGR_TRASH_DAYS days); 409 says why when it cannot be."""
    document = trash.trash_document(db.session, acting_user(), document_id)
    db.session.commit()
    return jsonify(TRASHED.dump(trash.TrashItem(document, trash.purge_after(document))))


@bp.post("/documents/<int:document_id>/restore")
@documented({200: ser.DocumentSchema}, errors=(409,))
def restore_document(document_id: int):
    document = trash.restore_document(db.session, acting_user(), document_id)
    db.session.commit()
    return jsonify(DOCUMENT.dump(document))


@bp.get("/trash")
@documented({200: ser.TrashListSchema}, query=ser.PageQuery)
def list_trash():
    """What the caller may restore: admins everything; others their organisation's and what they deleted."""
    actor = acting_user()
    page, per_page = page_args()
    items, total = trash.list_trash(db.session, actor, page, per_page)
    return jsonify(ser.TrashListSchema().dump({"items": items, "total": total, "page": page, "per_page": per_page}))


def _document_date(data: dict) -> date | None | str:
    if "document_date" not in data:
        return "unchanged"
    value = data["document_date"]
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(gettext("'document_date' must be a date YYYY-MM-DD or null."), field="document_date") from None


@bp.post("/documents/<int:document_id>/files")
@documented({201: ser.DocumentFileSchema}, form=ser.FileUploadForm, errors=(413, 415))
def add_file(document_id: int):
    actor = acting_user()
    form_fields(ser.FileUploadForm)
    parts = _check_file_parts()
    if len(parts) != 1:
        raise Invalid(gettext("Send exactly one 'file' part."), field="file", code="missing_field" if not parts else "invalid_field")
    file = services.add_file(db.session, actor, document_id, _uploads(parts)[0])
    db.session.commit()
    return jsonify(FILE.dump(file)), 201


@bp.get("/documents/<int:document_id>/files/<int:file_id>/content")
@documented({200: "*/*"})  # the sniffed type of the stored file
def file_content(document_id: int, file_id: int):
    file = services.get_file(db.session, acting_user(), document_id, file_id)
    return download_response(file)


def download_response(file: DocumentFile):
    """Always an attachment with the sniffed type, so a browser never renders stored bytes inline."""
    response = send_file(
        current_store().path(file.sha256), mimetype=file.content_type, as_attachment=True,
        download_name=file.filename, etag=file.sha256, conditional=True, max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- page previews and OCR (docmgr.documents.previews, docmgr.documents.ocr) -------------------------------------


@bp.get("/documents/<int:document_id>/files/<int:file_id>/pages")
@documented({200: ser.PageSetSchema})
def file_pages(document_id: int, file_id: int):
    """Page images of a file (none for DOCX/ODT/TXT: read its text instead), and where its OCR stands."""
    pages = previews.page_set(services.get_file(db.session, acting_user(), document_id, file_id))
    return jsonify(ser.PageSetSchema().dump({"page_set": pages, "ocr_available": ocr_available()}))


@bp.get("/documents/<int:document_id>/processing")
@documented({200: ser.ProcessingSchema})
def document_processing(document_id: int):
    """What the worker is still doing for the document (search index, thumbnails, PDF preview, OCR): the upload
    page's "processing" until ``state`` is ``ready``."""
    document = services.get_document(db.session, acting_user(), document_id)
    return jsonify(ser.ProcessingSchema().dump(progress.processing(db.session, document)))


@bp.get("/documents/ocr")
@documented({200: ser.OcrOverviewSchema})
def ocr_overview():
    """{"ocr_available"}; staff also get "reason" (why not) and "jobs" (counts by status)."""
    return jsonify(ser.OcrOverviewSchema().dump(ocr.ocr_overview(db.session, acting_user())))

