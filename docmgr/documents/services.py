"""Documents: who may see what, uploads (sniffed, extracted, stored by hash), listings."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from flask_babel import gettext
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from docmgr.accounts.models import Organization, Role, User
from docmgr.accounts.permissions import (
    can_read_document,
    document_visibility_clause,
    require_admin,
    require_can_change_document,
    require_writer,
)
from docmgr.accounts.services import check_country
from docmgr.audit.services import record
from docmgr.database import release_read_transaction, utcnow
from docmgr.documents import extraction, sandbox
from docmgr.documents.conversion import CONVERT_TASK, is_office
from docmgr.documents.file_language import next_version, relabel_file
from docmgr.documents.models import (
    Document,
    DocumentFile,
    DocumentSector,
    DocumentShare,
    TaskForceSession,
    TextStatus,
)
from docmgr.documents.ocr import enqueue_ocr
from docmgr.documents.previews import THUMBNAIL_TASK, render_kind
from docmgr.errors import Invalid, NotFound, TooLarge, UnsupportedType
from docmgr.search.indexers import enqueue_index
from docmgr.storage import current_store, store_stream
from docmgr.tasks import enqueue
from docmgr.vocab import (
    GROUPINGS,
    KINDS,
    LANGUAGE_LABELS,
    LANGUAGES,
    SECTORS,
    DocumentKind,
    Grouping,
    LanguageSource,
    is_known_language,
    is_language_code,
)

# --- visibility --------------------------------------------------------------------------------


def visible_documents(actor: User) -> Select:
    """The documents ``actor`` may read (never those in the trash)."""
    query = select(Document).where(Document.deleted_at.is_(None))
    clause = document_visibility_clause(actor)
    return query if clause is None else query.where(clause)


def documents_by_ids(session: Session, actor: User, ids: Iterable[int]) -> dict[int, Document]:
    """The documents among ``ids`` that ``actor`` may read, with their files (e.g. for search hits)."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    query = visible_documents(actor).where(Document.id.in_(wanted)).options(selectinload(Document.files))
    return {document.id: document for document in session.scalars(query)}


def get_document(session: Session, actor: User, document_id: int) -> Document:
    """The document, or 404 alike for 'missing' and 'not yours' so titles never leak."""
    document = session.get(Document, document_id)
    if document is None or not can_read_document(actor, document):
        raise NotFound(gettext("No such document."), code="document_not_found")
    return document


def get_file(session: Session, actor: User, document_id: int, file_id: int) -> DocumentFile:
    document = get_document(session, actor, document_id)
    file = session.get(DocumentFile, file_id)
    if file is None or file.document_id != document.id:
        raise NotFound(gettext("No such file."), code="file_not_found")
    return file


# --- uploads -----------------------------------------------------------------------------------


@dataclass
class Upload:
    """One incoming file: its bytes, the name the client gave (display only) and an optional language."""

    stream: BinaryIO
    filename: str
    language: str | None = None


@dataclass
class _CheckedUpload:
    path: Path
    filename: str
    kind: str
    language: str
    language_detected: str | None
    extracted: extraction.Extracted
    size: int
    language_source: LanguageSource


# Controls, NULs and separators; also (security) Unicode bidi overrides/isolates and zero-width marks, which
# make "invoice\u202etxt.exe" display as "invoiceexe.txt".
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def display_filename(raw: str | None) -> str:
    """A safe display name: no directories, control characters or NULs; never a path on disk."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("", name).strip().lstrip(".")
    if not name:
        name = "file"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext[:9]) if dot else name[:200]
    return name


def _spool(upload: Upload, max_bytes: int, tmp_dir: Path) -> tuple[Path, int]:
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := upload.stream.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        gettext("%(name)s is larger than the limit of %(mb)s MB.", name=display_filename(upload.filename),
                                mb=f"{current_app.config['MAX_UPLOAD_MB']:g}"),
                        field="file",
                    )
                out.write(chunk)
    except BaseException:
        os.unlink(tmp_name)
        raise
    return Path(tmp_name), size


def _check_upload(upload: Upload, fallback_language: str, tmp_dir: Path) -> _CheckedUpload:
    """Everything that can refuse a file happens here, before anything is stored."""
    name = display_filename(upload.filename)
    if upload.language not in (None, "", *LANGUAGES):
        raise Invalid(gettext("Language must be one of %(choices)s.", choices=", ".join(LANGUAGES)), field="language")
    path, size = _spool(upload, current_app.config["MAX_UPLOAD_BYTES"], tmp_dir)
    try:
        if size == 0:
            raise Invalid(gettext("%(name)s is empty.", name=name), field="file", code="empty_file")
        try:
            kind = extraction.sniff(path)
            extracted = sandbox.extract_limited(path, kind)  # limited child process (hardening)
        except extraction.ExtractionError as error:
            if error.code == "unsupported_file_type":
                raise UnsupportedType(
                    gettext("%(name)s: only PDF, DOCX, ODT, plain-text files and PNG, JPEG or TIFF scans are accepted. %(reason)s",
                            name=name, reason=gettext(error.message)),
                    field="file",
                ) from None
            if error.code == "empty_file":
                raise Invalid(gettext("%(name)s is empty.", name=name), field="file", code="empty_file") from None
            raise Invalid(gettext("%(name)s: %(value)s", name=name, value=gettext(error.message)), field="file", code=error.code) from None
        detected = extraction.detect_language(extracted.text)
        language = upload.language or detected or fallback_language
        source = LanguageSource.UPLOADER if upload.language else LanguageSource.DETECTED
        return _CheckedUpload(path, name, kind, language, detected, extracted, size, source)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _store_checked(session: Session, actor: User, document: Document, checked: _CheckedUpload) -> DocumentFile:
    with checked.path.open("rb") as fh:
        blob = store_stream(fh)
    version = next_version(session, document.id, checked.language)
    file = DocumentFile(
        document=document,
        filename=checked.filename,
        language=checked.language,
        language_detected=checked.language_detected,
        language_source=checked.language_source.value,
        sha256=blob.sha256,
        size=blob.size,
        content_type=extraction.SUPPORTED[checked.kind],
        version=version,
        page_count=checked.extracted.page_count,
        text=checked.extracted.text,
        text_status=TextStatus.OK.value if checked.extracted.text.strip() else TextStatus.EMPTY.value,
        created_by_id=actor.id,
    )
    session.add(file)
    session.flush()
    if file.text_status == TextStatus.EMPTY.value:  # a scan: OCR it off the request path (docmgr.documents.ocr)
        enqueue_ocr(session, file)
    if current_app.config.get("THUMBNAILS_QUEUED") and render_kind(file.content_type):
        enqueue(session, THUMBNAIL_TASK, file_id=file.id)
    if current_app.config.get("OFFICE_PREVIEWS") and is_office(file.content_type):  # DOCX/ODT -> PDF, by the worker
        file.preview_status = "pending"
        enqueue(session, CONVERT_TASK, file_id=file.id)
    record(
        session, actor, "document.file_added", file,
        document_id=document.id, filename=file.filename, sha256=file.sha256, language=file.language,
        version=file.version, size=file.size,
    )
    return file


def _check_all(uploads: list[Upload], fallback_language: str) -> list[_CheckedUpload]:
    tmp_dir = current_store().tmp
    checked: list[_CheckedUpload] = []
    try:
        for upload in uploads:
            checked.append(_check_upload(upload, fallback_language, tmp_dir))
    except BaseException:
        for item in checked:
            item.path.unlink(missing_ok=True)
        raise
    return checked


def _clean(checked: Iterable[_CheckedUpload]) -> None:
    for item in checked:
        item.path.unlink(missing_ok=True)


# --- creating and changing documents ------------------------------------------------------------


def parse_sectors(raw: str | Iterable[str] | None) -> list[str]:
    if raw is None:
        return []
    # JSON may bring anything here: a number or a list of numbers is refused by name, not a 500.
    is_collection = isinstance(raw, Iterable) and not isinstance(raw, (str, bytes, dict))
    items = raw.split(",") if isinstance(raw, str) else list(raw) if is_collection else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise Invalid(gettext("Sectors must be a comma-separated string or a list of strings."), field="sectors")
    sectors = sorted({s.strip().lower() for s in items if s and s.strip()})
    for sector in sectors:
        if sector not in SECTORS:
            raise Invalid(gettext("Unknown sector '%(sector)s'; choose from %(choices)s.", sector=sector, choices=", ".join(SECTORS)),
                          field="sectors")
    return sectors


def check_titles(title_it: str | None, title_ru: str | None) -> tuple[str, str]:
    title_it, title_ru = (title_it or "").strip(), (title_ru or "").strip()
    if not title_it and not title_ru:
        raise Invalid(gettext("Give a title in Italian or in Russian (or both)."), field="title_it", code="missing_field")
    for name, value in (("title_it", title_it), ("title_ru", title_ru)):
        check_title(value, name)
    return title_it, title_ru


def check_title(value: str | None, field: str = "title_it") -> str:
    value = (value or "").strip()
    if len(value) > 500:
        raise Invalid(gettext("Titles are limited to 500 characters."), field=field)
    return value


def check_kind(kind: str | None) -> str:
    if kind not in KINDS:
        raise Invalid(gettext("Kind must be one of %(choices)s.", choices=", ".join(KINDS)), field="kind")
    return kind


def _validated_fields(
    session: Session, actor: User, *, title_it: str, title_ru: str, kind: str, sectors: list[str],
    organization_id: int | None, session_id: int | None,
) -> tuple[str, str, Organization, TaskForceSession | None]:
    title_it, title_ru = check_titles(title_it, title_ru)
    check_kind(kind)
    if actor.role == Role.FIRM.value:
        if organization_id not in (None, actor.organization_id):
            raise Invalid(gettext("Firm users upload for their own organisation only."), field="organization_id")
        organization_id = actor.organization_id
    if organization_id is None:
        raise Invalid(gettext("Choose the organisation the document belongs to."), field="organization_id", code="missing_field")
    org = session.get(Organization, organization_id)
    if org is None:
        raise Invalid(gettext("No such organisation."), field="organization_id")
    forum_session = None
    if session_id is not None:
        forum_session = session.get(TaskForceSession, session_id)
        if forum_session is None:
            raise Invalid(gettext("No such task-force session."), field="session_id")
    return title_it, title_ru, org, forum_session


def _title_language(title_it: str, title_ru: str) -> str:
    if title_it and title_ru:
        return "bi"
    return "ru" if title_ru else "it"


def check_grouping(grouping: str | None) -> str:
    grouping = grouping or Grouping.SEPARATE.value
    if grouping not in GROUPINGS:
        raise Invalid(gettext("'grouping' must be one of %(choices)s.", choices=", ".join(GROUPINGS)), field="grouping")
    return grouping


def _check_pair(checked: list[_CheckedUpload]) -> None:
    if len(checked) != 2:
        raise Invalid(gettext("Pairing needs exactly two files: one Italian and one Russian."), field="file",
                      code="pair_needs_two_files")
    languages = sorted(item.language for item in checked)
    if languages != ["it", "ru"]:
        names = ", ".join(f"{item.filename}: {LANGUAGE_LABELS.get(item.language, item.language)}" for item in checked)
        raise Invalid(
            gettext("Pairing needs one Italian and one Russian file; these are %(found)s. Choose each file's "
                    "language if detection was wrong.", found=names),
            field="language", code="pair_languages",
        )


def _separate_title(title: str, filename: str, several: bool) -> str:
    """With several separate files each document is named after its file as well."""
    if not several or not title:
        return title
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return f"{title} – {stem}"[:500]


def create_documents(
    session: Session,
    actor: User,
    *,
    title_it: str = "",
    title_ru: str = "",
    kind: str = DocumentKind.PROPOSAL.value,
    sectors: list[str] | None = None,
    organization_id: int | None = None,
    session_id: int | None = None,
    uploads: list[Upload],
    grouping: str | None = None,
) -> list[Document]:
    """Create documents from files uploaded together: one per file (``separate``, the default), one with an
    Italian and a Russian file (``pair``), or one with every file (``versions``). Nothing is stored unless
    every file is accepted."""
    require_writer(actor)
    grouping = check_grouping(grouping)
    title_it, title_ru, org, forum_session = _validated_fields(
        session, actor, title_it=title_it, title_ru=title_ru, kind=kind, sectors=sectors or [],
        organization_id=organization_id, session_id=session_id,
    )
    if not uploads:
        raise Invalid(gettext("Attach at least one file."), field="file", code="missing_field")
    if grouping == Grouping.PAIR.value and len(uploads) != 2:
        raise Invalid(gettext("Pairing needs exactly two files: one Italian and one Russian."), field="file",
                      code="pair_needs_two_files")
    release_read_transaction(session)  # availability: no database lock while the files are parsed
    checked = _check_all(uploads, _title_language(title_it, title_ru))
    try:
        if grouping == Grouping.PAIR.value:
            _check_pair(checked)
        groups = [[item] for item in checked] if grouping == Grouping.SEPARATE.value else [checked]
        several = len(groups) > 1
        documents = []
        for group in groups:
            name = group[0].filename
            document = Document(
                title_it=_separate_title(title_it, name, several), title_ru=_separate_title(title_ru, name, several),
                kind=kind, organization=org, session=forum_session, created_by_id=actor.id,
            )
            document.sector_rows = [DocumentSector(sector=s) for s in sectors or []]
            session.add(document)
            session.flush()
            record(
                session, actor, "document.created", document,
                title_it=document.title_it, title_ru=document.title_ru, kind=kind, sectors=sectors or [],
                organization_id=org.id, session_id=forum_session.id if forum_session else None, grouping=grouping,
            )
            for item in group:
                _store_checked(session, actor, document, item)
            enqueue_index(session, "document", document.id)
            documents.append(document)
    finally:
        _clean(checked)
    return documents


def create_document(session: Session, actor: User, *, uploads: list[Upload], grouping: str | None = None,
                    **fields: Any) -> Document:
    """One document: its files are its language versions (``versions``) unless ``grouping`` says otherwise,
    in which case the first of the documents created is returned."""
    return create_documents(session, actor, uploads=uploads, grouping=grouping or Grouping.VERSIONS.value,
                            **fields)[0]


def add_file(session: Session, actor: User, document_id: int, upload: Upload) -> DocumentFile:
    """A new version of a language already present, or the other language."""
    document = get_document(session, actor, document_id)
    require_can_change_document(actor, document)
    fallback = document.files[-1].language if document.files else _title_language(document.title_it, document.title_ru)
    release_read_transaction(session)  # availability: no database lock while the file is parsed
    checked = _check_all([upload], fallback)
    try:
        require_can_change_document(actor, document)  # again: the document may have changed meanwhile
        file = _store_checked(session, actor, document, checked[0])
        enqueue_index(session, "document", document.id)
    finally:
        _clean(checked)
    return file


def update_document(
    session: Session, actor: User, document_id: int, *, title_it: str | None = None, title_ru: str | None = None,
    kind: str | None = None, sectors: list[str] | None = None, session_id: int | None | str = "unchanged",
    document_date: date | None | str = "unchanged", file_languages: dict[int, str] | None = None,
) -> Document:
    """Change a document's metadata; ``document_date`` is its own date (None clears it); ``file_languages``
    (file id -> language) relabels files as the uploader's choice, which detection never replaces."""
    document = get_document(session, actor, document_id)
    require_can_change_document(actor, document)
    relabels = _check_file_languages(document, file_languages or {})
    new_title_it = document.title_it if title_it is None else title_it
    new_title_ru = document.title_ru if title_ru is None else title_ru
    new_session_id = document.session_id if session_id == "unchanged" else session_id
    title_it, title_ru, _, forum_session = _validated_fields(
        session, actor, title_it=new_title_it, title_ru=new_title_ru, kind=kind or document.kind,
        sectors=sectors or [], organization_id=document.organization_id, session_id=new_session_id,
    )
    changes = {}
    for attr, value in (("title_it", title_it), ("title_ru", title_ru), ("kind", kind or document.kind)):
        if getattr(document, attr) != value:
            changes[attr] = [getattr(document, attr), value]
            setattr(document, attr, value)
    if document.session_id != (forum_session.id if forum_session else None):
        changes["session_id"] = [document.session_id, forum_session.id if forum_session else None]
        document.session = forum_session
    if document_date != "unchanged" and document_date != document.document_date:
        if document_date is not None and not isinstance(document_date, date):
            raise Invalid(gettext("'document_date' must be a date."), field="document_date")
        changes["document_date"] = [str(document.document_date or ""), str(document_date or "")]
        document.document_date = document_date
    if sectors is not None and sorted(sectors) != document.sectors:
        changes["sectors"] = [document.sectors, sorted(sectors)]
        document.sector_rows = [DocumentSector(sector=s) for s in sorted(sectors)]
    if changes:
        record(session, actor, "document.updated", document, changes=changes)
    relabelled = [relabel_file(session, actor, file, language, LanguageSource.UPLOADER) for file, language in relabels]
    if changes or any(relabelled):
        enqueue_index(session, "document", document.id)
    return document


def _check_file_languages(document: Document, file_languages: dict[int, str]) -> list[tuple[DocumentFile, str]]:
    files = {file.id: file for file in document.files}
    relabels = []
    for file_id, language in sorted(file_languages.items()):
        if file_id not in files:
            raise Invalid(gettext("No such file in this document: %(id)s.", id=file_id), field="files")
        if not is_known_language(language):
            raise Invalid(gettext("A file's language must be Italian (it), Russian (ru), bilingual (bi) or another "
                                  "ISO 639-1 code such as en or fr."), field="files")
        relabels.append((files[file_id], language))
    return relabels


def parse_file_languages(raw: Any) -> dict[int, str]:
    """The PATCH API's ``files``: a list of ``{"id": file id, "language": code}``."""
    message = gettext("'files' must be a list of objects with a file's 'id' and its 'language'.")
    if not isinstance(raw, list):
        raise Invalid(message, field="files")
    result: dict[int, str] = {}
    for item in raw:
        if (not isinstance(item, dict) or set(item) != {"id", "language"} or not isinstance(item["id"], int)
                or isinstance(item["id"], bool) or not isinstance(item["language"], str)):
            raise Invalid(message, field="files")
        result[item["id"]] = item["language"]
    return result


def seal_document(session: Session, actor: User | None, document: Document) -> None:
    """Make ``document`` read-only for everybody (the executed copy of an agreement)."""
    document.sealed_at = utcnow()
    record(session, actor, "document.sealed", document)


def share_document(session: Session, actor: User | None, document: Document, organization_ids: Iterable[int]) -> None:
    """Let other organisations read a document (used for executed agreements)."""
    present = {share.organization_id for share in document.shares}
    for org_id in sorted(set(organization_ids) - present - {document.organization_id}):
        document.shares.append(DocumentShare(organization_id=org_id))
    record(session, actor, "document.shared", document, organization_ids=sorted(set(organization_ids)))
    enqueue_index(session, "document", document.id)


# --- listing -----------------------------------------------------------------------------------


@dataclass
class DocumentFilters:
    kind: str | None = None
    sector: str | None = None
    organization_id: int | None = None
    session_id: int | None = None
    language: str | None = None
    q: str | None = None  # a plain title filter for the browse page (full-text search lives in search/)

    def validate(self) -> DocumentFilters:
        check_filter_values(kind=self.kind, sector=self.sector, language=self.language)
        return self


def file_languages(session: Session, actor: User) -> list[str]:
    """For filter menus: LANGUAGES, then any other language detected in a file ``actor`` may read."""
    query = select(DocumentFile.language).join(Document, DocumentFile.document_id == Document.id).distinct()
    clause = document_visibility_clause(actor)
    query = query if clause is None else query.where(clause)
    others = set(session.scalars(query)) - set(LANGUAGES)
    return [*LANGUAGES, *sorted(others)]


def check_filter_values(*, kind: str | None, sector: str | None, language: str | None) -> None:
    """The filters that browsing and search share: a value outside its list is a 422 naming the field."""
    if kind and kind not in KINDS:
        raise Invalid(gettext("Kind must be one of %(choices)s.", choices=", ".join(KINDS)), field="kind")
    if sector and sector not in SECTORS:
        raise Invalid(gettext("Sector must be one of %(choices)s.", choices=", ".join(SECTORS)), field="sector")
    if language and not is_language_code(language):
        raise Invalid(gettext("Language must be one of %(choices)s, or another two-letter ISO 639-1 code.",
                              choices=", ".join(LANGUAGES)), field="language")


def list_documents(
    session: Session, actor: User, filters: DocumentFilters, page: int = 1, per_page: int = 20
) -> tuple[list[Document], int]:
    filters.validate()
    query = visible_documents(actor)
    if filters.kind:
        query = query.where(Document.kind == filters.kind)
    if filters.sector:
        query = query.where(
            exists().where(DocumentSector.document_id == Document.id, DocumentSector.sector == filters.sector)
        )
    if filters.organization_id:
        query = query.where(Document.organization_id == filters.organization_id)
    if filters.session_id:
        query = query.where(Document.session_id == filters.session_id)
    if filters.language:
        query = query.where(
            exists().where(DocumentFile.document_id == Document.id, DocumentFile.language == filters.language)
        )
    if filters.q:
        like = f"%{filters.q.strip()}%"
        query = query.where(or_(Document.title_it.ilike(like), Document.title_ru.ilike(like)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(
        session.scalars(
            query.options(selectinload(Document.files), selectinload(Document.sector_rows), selectinload(Document.organization))
            .order_by(Document.created_at.desc(), Document.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return items, total


# --- task-force sessions -----------------------------------------------------------------------


def check_session_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid(gettext("The session needs a name."), field="name")
    return name


def check_session_place(place: str | None) -> str:
    place = (place or "").strip()
    if not place:
        raise Invalid(gettext("The session needs a place."), field="place")
    return place


def _checked_session(
    session: Session, name: str, place: str, country: str, starts_on: date, ends_on: date, name_alt: str | None,
    place_alt: str | None, *, except_id: int | None = None,
) -> tuple[str, str, str, dict[str, str]]:
    name, place, country = check_session_name(name), check_session_place(place), check_country(country)
    alternatives = {}
    for key, value in (("name_alt", name_alt), ("place_alt", place_alt)):
        if value is not None and (not isinstance(value, str) or len(value.strip()) > 200):
            raise Invalid(gettext("'%(field)s' must be a text of at most %(num)s characters.", field=key, num=200),
                          field=key)
        alternatives[key] = (value or "").strip()
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise Invalid(gettext("Give the start and end dates."), field="starts_on")
    if ends_on < starts_on:
        raise Invalid(gettext("The session cannot end before it starts."), field="ends_on")
    if session.scalar(select(TaskForceSession.id).where(TaskForceSession.name == name,
                                                        TaskForceSession.id != (except_id or 0))):
        raise Invalid(gettext("A session named '%(name)s' already exists.", name=name), field="name", code="duplicate")
    return name, place, country, alternatives


def create_task_force_session(
    session: Session, actor: User | None, *, name: str, place: str, country: str, starts_on: date, ends_on: date,
    name_alt: str | None = None, place_alt: str | None = None,
) -> TaskForceSession:
    """A session; ``name_alt`` and ``place_alt`` are its name and place in the other language (optional,
    used by the generated agreements' other column)."""
    if actor is not None:
        require_admin(actor)
    name, place, country, alternatives = _checked_session(session, name, place, country, starts_on, ends_on, name_alt,
                                                          place_alt)
    forum_session = TaskForceSession(name=name, place=place, country=country, starts_on=starts_on, ends_on=ends_on,
                                     **alternatives)
    session.add(forum_session)
    session.flush()
    record(session, actor, "session.created", forum_session, name=name, place=place, country=country, **alternatives)
    return forum_session


def update_task_force_session(
    session: Session, actor: User, session_id: int, *, name: str, place: str, country: str, starts_on: date,
    ends_on: date, name_alt: str | None = None, place_alt: str | None = None,
) -> TaskForceSession:
    """Admins: rename or correct a session (audited, each change as old → new)."""
    require_admin(actor)
    forum_session = session.get(TaskForceSession, session_id)
    if forum_session is None:
        raise NotFound(gettext("No such task-force session."))
    name, place, country, alternatives = _checked_session(session, name, place, country, starts_on, ends_on, name_alt,
                                                          place_alt, except_id=forum_session.id)
    changes = {}
    for key, value in {"name": name, "place": place, "country": country, "starts_on": starts_on, "ends_on": ends_on,
                       **alternatives}.items():
        if getattr(forum_session, key) != value:
            changes[key] = [getattr(forum_session, key), value]
            setattr(forum_session, key, value)
    if changes:
        record(session, actor, "session.updated", forum_session, changes=changes)
    return forum_session


def list_task_force_sessions(session: Session) -> list[TaskForceSession]:
    return list(session.scalars(select(TaskForceSession).order_by(TaskForceSession.starts_on.desc())))


def list_organizations(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.name)))


# --- integrity ---------------------------------------------------------------------------------


def verify_stored_files(session: Session) -> list[dict]:
    """Re-hash every stored file a row points at; report missing and corrupted ones."""
    store = current_store()
    problems = []
    for file in session.scalars(select(DocumentFile).order_by(DocumentFile.id)):
        state = store.verify(file.sha256)
        if state:
            problems.append({"document_id": file.document_id, "file_id": file.id, "sha256": file.sha256, "problem": state})
    return problems
