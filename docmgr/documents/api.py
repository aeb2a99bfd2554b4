"""/api/v1/documents."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, send_file
from werkzeug.datastructures import FileStorage

from docmgr.api import acting_user, form_fields, int_arg, iso, json_body, page_args, text_field
from docmgr.documents import services
from docmgr.documents.models import Document, DocumentFile
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.storage import current_store

bp = Blueprint("documents_api", __name__)

UPLOAD_FIELDS = {"title_it", "title_ru", "kind", "sectors", "session_id", "organization_id", "language"}


def file_json(file: DocumentFile) -> dict:
    return {
        "id": file.id, "filename": file.filename, "language": file.language, "sha256": file.sha256,
        "size": file.size, "content_type": file.content_type, "version": file.version,
        "created_at": iso(file.created_at), "page_count": file.page_count, "text_status": file.text_status,
        "language_detected": file.language_detected,
    }


def document_json(document: Document, with_files: bool = True) -> dict:
    data = {
        "id": document.id, "title_it": document.title_it, "title_ru": document.title_ru, "kind": document.kind,
        "sectors": document.sectors, "organization_id": document.organization_id,
        "organization": document.organization.name, "session_id": document.session_id,
        "languages": document.languages, "created_at": iso(document.created_at), "updated_at": iso(document.updated_at),
    }
    if with_files:
        data["files"] = [file_json(f) for f in document.files]
    return data


def _optional_int(name: str) -> int | None:
    raw = request.form.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"'{name}' must be a whole number.", field=name) from None


def _uploads(parts: list[FileStorage]) -> list[services.Upload]:
    """Languages pair with files in order: `language` may be given once per file, or once for all."""
    languages = request.form.getlist("language")
    if languages and len(languages) not in (1, len(parts)):
        raise Invalid("Give one 'language' per file, or one for all files.", field="language")
    uploads = []
    for index, part in enumerate(parts):
        language = languages[index] if len(languages) == len(parts) else (languages[0] if languages else None)
        uploads.append(services.Upload(stream=part.stream, filename=part.filename or "", language=language or None))
    return uploads


def _check_file_parts() -> list[FileStorage]:
    unknown = sorted(set(request.files) - {"file"})
    if unknown:
        raise Invalid(f"Unknown file part: {unknown[0]}; send files as 'file'.", field=unknown[0], code="unknown_field")
    return [part for part in request.files.getlist("file") if part.filename or part.content_length]


@bp.post("/documents")
def create_document():
    actor = acting_user()
    if not request.mimetype.startswith("multipart/form-data"):
        raise Invalid("Send the document as multipart/form-data with one or more 'file' parts.", field="file", code="missing_field")
    form_fields(UPLOAD_FIELDS)
    parts = _check_file_parts()
    document = services.create_document(
        db.session, actor,
        title_it=request.form.get("title_it", ""), title_ru=request.form.get("title_ru", ""),
        kind=request.form.get("kind", "proposal"), sectors=services.parse_sectors(request.form.get("sectors")),
        organization_id=_optional_int("organization_id"), session_id=_optional_int("session_id"),
        uploads=_uploads(parts),
    )
    db.session.commit()
    return jsonify(document_json(document)), 201


@bp.get("/documents")
def list_documents():
    actor = acting_user()
    page, per_page = page_args()
    filters = services.DocumentFilters(
        kind=request.args.get("kind") or None, sector=request.args.get("sector") or None,
        organization_id=int_arg("organization_id"), session_id=int_arg("session_id"),
        language=request.args.get("language") or None,
    )
    items, total = services.list_documents(db.session, actor, filters, page, per_page)
    return jsonify({"items": [document_json(d, with_files=False) for d in items], "total": total, "page": page, "per_page": per_page})


@bp.get("/documents/<int:document_id>")
def get_document(document_id: int):
    return jsonify(document_json(services.get_document(db.session, acting_user(), document_id)))


@bp.patch("/documents/<int:document_id>")
def update_document(document_id: int):
    actor = acting_user()
    data = json_body({"title_it", "title_ru", "kind", "sectors", "session_id"})
    session_id = data.get("session_id", "unchanged")
    if session_id not in ("unchanged", None) and (not isinstance(session_id, int) or isinstance(session_id, bool)):
        raise Invalid("'session_id' must be a whole number or null.", field="session_id")
    document = services.update_document(
        db.session, actor, document_id, title_it=text_field(data, "title_it"), title_ru=text_field(data, "title_ru"),
        kind=text_field(data, "kind"), sectors=services.parse_sectors(data["sectors"]) if "sectors" in data else None,
        session_id=session_id,
    )
    db.session.commit()
    return jsonify(document_json(document))


@bp.post("/documents/<int:document_id>/files")
def add_file(document_id: int):
    actor = acting_user()
    form_fields({"language"})
    parts = _check_file_parts()
    if len(parts) != 1:
        raise Invalid("Send exactly one 'file' part.", field="file", code="missing_field" if not parts else "invalid_field")
    file = services.add_file(db.session, actor, document_id, _uploads(parts)[0])
    db.session.commit()
    return jsonify(file_json(file)), 201


@bp.get("/documents/<int:document_id>/files/<int:file_id>/content")
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
def file_pages(document_id: int, file_id: int):
    """Page images of a file (none for DOCX/ODT/TXT: read its text instead), and where its OCR stands."""
    from flask import url_for

    from docmgr.documents import previews
    from docmgr.documents.ocr import ocr_available

    pages = previews.page_set(db.session, acting_user(), document_id, file_id)
    ids = {"document_id": document_id, "file_id": file_id}
    return jsonify({
        "pages": pages.pages,
        "urls": [url_for("documents.page_image", page=n, **ids) for n in range(1, pages.pages + 1)],
        "total_pages": pages.total_pages,
        "truncated": pages.is_truncated,
        "thumbnail_url": url_for("documents.thumbnail", **ids) if pages.pages else None,
        "viewer_url": url_for("documents.viewer", **ids),
        "text_status": pages.file.text_status,
        "ocr_available": ocr_available(),
    })


@bp.get("/documents/ocr")
def ocr_overview():
    """{"ocr_available"}; staff also get "reason" (why not) and "jobs" (counts by status)."""
    from docmgr.documents import ocr

    return jsonify(ocr.ocr_overview(db.session, acting_user()))

