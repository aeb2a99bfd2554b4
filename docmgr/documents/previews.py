"""Page images of stored files: a thumbnail for lists, every page for the viewer, pages for OCR.

PDF pages are rendered with pdfium, images (scans) are decoded with Pillow; both happen in a child process
(:func:`docmgr.limits.run_in_limited_child`, the sandbox text extraction uses too) with a timeout and a memory limit,
because a hostile file can make either library spin or allocate without end, and pdfium is not thread-safe besides. The scale is bounded too: no page image exceeds a pixel
budget, whatever size the PDF claims for its pages.

Rendered previews are cached by the file's SHA-256 in ``STORAGE_DIR/previews/<sha256>/<page>.png`` (and
``thumb.png``), written to a temporary name and renamed into place, so readers never see half a PNG and a file
uploaded twice is rendered once. A render that failed leaves a ``.failed`` marker for a while, so a hostile file is
not re-rendered on every request.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext

from docmgr.documents.models import DocumentFile
from docmgr.errors import Invalid, NotFound
from docmgr.extensions import db
from docmgr.limits import ChildLimits, run_in_limited_child
from docmgr.storage import current_store

PREVIEW_DPI = 110
PREVIEW_MAX_WIDTH = 1240  # images are shown downscaled to at most this width (A4 at 150 dpi)
PREVIEW_MAX_PIXELS = 6_000_000  # per page image, whatever the page size
MAX_PREVIEW_PAGES = 200
THUMBNAIL_WIDTH = 200
RENDER_TIMEOUT_SECONDS = 30  # per page; config PREVIEW_TIMEOUT overrides
CHILD_MEMORY_BYTES = 2 * 1024**3  # address-space limit of the rendering child
FAILURE_MEMORY_SECONDS = 15 * 60  # how long a failed render is remembered

PDF_TYPE = "application/pdf"
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/tiff": "tiff"}
_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}


class RenderError(Exception):
    """Rendering a page failed (damaged file, timeout, memory limit)."""


class PreviewFailed(Invalid):
    """422: the stored file was accepted, but this page cannot be shown (damaged, too slow, too big)."""

    code = "preview_failed"


# --- rendering one page in a child process -------------------------------------------------------------------------


def render_kind(content_type: str) -> str | None:
    """'pdf' or the image kind for content types we can show as pages; None for text documents."""
    if content_type == PDF_TYPE:
        return "pdf"
    return IMAGE_TYPES.get(content_type)


def render_page(
    source: Path, kind: str, page_index: int, target: Path, *, dpi: float | None = None, width: int | None = None,
    max_width: int | None = None, max_pixels: int = PREVIEW_MAX_PIXELS, grayscale: bool = False,
    timeout: float = RENDER_TIMEOUT_SECONDS,
) -> Path:
    """Render page ``page_index`` (0-based) of ``source`` to a PNG at ``target``, atomically.

    ``dpi`` scales PDF pages (images keep their own resolution); ``width`` asks for an exact width (thumbnails);
    ``max_width`` and ``max_pixels`` bound the result. Raises RenderError on failure or after ``timeout`` seconds.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".render-", suffix=".png")
    os.close(fd)
    limits = ChildLimits(timeout_seconds=timeout, memory_bytes=CHILD_MEMORY_BYTES, cpu_seconds=max(int(timeout), 1))
    try:
        problem = run_in_limited_child(
            _render_in_child,
            (str(source), kind, page_index, tmp_name, dpi or 0, width or 0, max_width or 0, max_pixels, grayscale),
            limits, name="docmgr-render",
        )
        if problem is None:
            raise RenderError(f"rendering page {page_index + 1} took longer than {timeout:g} s or ran out of memory")
        if problem:
            raise RenderError(f"rendering page {page_index + 1} failed: {problem}"[:500])
        if os.path.getsize(tmp_name) == 0:
            raise RenderError(f"rendering page {page_index + 1} produced nothing")
        os.replace(tmp_name, target)
        return target
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _bounded_size(width: float, height: float, max_width: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the aspect ratio of (width, height) within the bounds, never larger than it."""
    factor = 1.0
    if max_width and width > max_width:
        factor = max_width / width
    if width * height * factor * factor > max_pixels:
        factor = math.sqrt(max_pixels / (width * height)) * 0.999  # rounding up must not cross the budget
    return max(1, round(width * factor)), max(1, round(height * factor))


def _render_pdf_page(source: str, page_index: int, dpi: float, width: int, max_width: int, max_pixels: int,
                     grayscale: bool):
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(source)
    try:
        page = document[page_index]
        page_width, page_height = page.get_size()
        if page.get_rotation() in (90, 270):
            page_width, page_height = page_height, page_width
        page_width, page_height = max(page_width, 1.0), max(page_height, 1.0)
        scale = (width / page_width) if width else (dpi or PREVIEW_DPI) / 72
        if max_width and page_width * scale > max_width:
            scale = max_width / page_width
        if page_width * page_height * scale * scale > max_pixels:
            scale = math.sqrt(max_pixels / (page_width * page_height)) * 0.999  # pdfium rounds sizes up
        bitmap = page.render(scale=scale, grayscale=grayscale, may_draw_forms=False)
        image = bitmap.to_pil()
        image.load()
        return image.convert("L") if grayscale else image.convert("RGB")
    finally:
        document.close()


def _render_image_frame(source: str, kind: str, page_index: int, width: int, max_width: int, max_pixels: int,
                        grayscale: bool):
    from PIL import Image, ImageOps

    with Image.open(source, formats=[_PILLOW_FORMATS[kind]]) as opened:
        if page_index:
            opened.seek(page_index)
        bound_width = width or max_width or 0
        target = _bounded_size(opened.width, opened.height, bound_width, max_pixels)
        if width:
            target = (width, max(1, round(opened.height * width / opened.width)))
        opened.draft("L" if grayscale else "RGB", target)  # JPEG decodes at a reduced scale: fast, little memory
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, "white")
            image.paste(rgba, mask=rgba.getchannel("A"))
        elif image.mode.startswith("I;16") or image.mode in ("I", "F"):
            image = image.point(lambda value: value / 256).convert("L")
        image = image.convert("L" if grayscale else "RGB")
        if image.size != target:
            image = image.resize(target, Image.Resampling.LANCZOS)
        return image


def _render_in_child(source: str, kind: str, page: int, out: str, dpi: float, width: int, max_width: int,
                     max_pixels: int, grayscale: bool) -> str:
    """In the limited child: render one page and save it as PNG; '' when done, else why not."""
    try:
        if kind == "pdf":
            image = _render_pdf_page(source, page, dpi, width, max_width, max_pixels, grayscale)
        else:
            image = _render_image_frame(source, kind, page, width, max_width, max_pixels, grayscale)
        image.save(out, "PNG", compress_level=6)
    except MemoryError:
        return "out of memory"
    except Exception as exc:  # noqa: BLE001 - whatever the libraries raise on a damaged file
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


# --- the cache (callers check that the actor may read the file: documents.services.get_file) ----------------------


@dataclass
class PageImage:
    path: Path
    etag: str  # the file's hash and the page: the same bytes render to the same image


@dataclass
class PageSet:
    file: DocumentFile
    pages: int  # page images available (0 for text documents: show the text instead)
    total_pages: int  # pages in the file, when known
    is_truncated: bool  # more pages than MAX_PREVIEW_PAGES


def preview_root() -> Path:
    return current_store().root / "previews"


def cached_page_path(sha256: str, name: str) -> Path:
    """Where the preview ``name`` ('1'…, 'thumb') of the blob ``sha256`` is cached."""
    current_store().path(sha256)  # validates the hash: it becomes part of a path
    return preview_root() / sha256 / f"{name}.png"


def render_source(file: DocumentFile) -> tuple[str, str] | None:
    """(SHA-256 of the blob whose pages are shown, its render kind): the file itself for PDFs and scans, the PDF
    LibreOffice made of a DOCX or ODT once converted (docmgr.documents.conversion); None for text."""
    kind = render_kind(file.content_type)
    if kind is not None:
        return file.sha256, kind
    if file.preview_status == "done" and file.preview_sha256:
        return file.preview_sha256, "pdf"
    return None


def source_page_count(file: DocumentFile) -> int | None:
    return file.page_count if render_kind(file.content_type) else file.preview_pages


def previewable_pages(file: DocumentFile) -> int:
    """How many page images a file has (capped at MAX_PREVIEW_PAGES); 0 for text, and DOCX/ODT not converted."""
    if render_source(file) is None:
        return 0
    return min(source_page_count(file) or 1, MAX_PREVIEW_PAGES)


def page_set(file: DocumentFile) -> PageSet:
    """The page images of a file the caller checked the actor may read."""
    pages = previewable_pages(file)
    total = source_page_count(file) or (1 if pages else 0)
    return PageSet(file=file, pages=pages, total_pages=total, is_truncated=pages < total and pages > 0)


def page_image(file: DocumentFile, page: int) -> PageImage:
    """Page ``page`` (1-based) of a file the caller checked the actor may read, rendered at ~110 dpi (cached)."""
    if not 1 <= page <= previewable_pages(file):
        raise NotFound(gettext("This file has no such page image."), code="page_not_found")
    sha256, kind = render_source(file)
    path = _ensure_rendered(
        sha256, str(page), kind, page - 1, dpi=PREVIEW_DPI, max_width=PREVIEW_MAX_WIDTH if kind != "pdf" else None,
    )
    return PageImage(path=path, etag=f"{sha256}-{page}")


def thumbnail(file: DocumentFile) -> PageImage:
    """The first page, 200 px wide (cached), of a file the caller checked the actor may read."""
    source = render_source(file)
    if source is None:
        raise NotFound(gettext("Text documents have no thumbnail."), code="page_not_found")
    path = _ensure_rendered(source[0], "thumb", source[1], 0, width=THUMBNAIL_WIDTH)
    return PageImage(path=path, etag=f"{source[0]}-thumb")


THUMBNAIL_TASK = "documents.thumbnail"


def thumbnail_task(file_id: int) -> None:
    """The ``documents.thumbnail`` task (queued with each uploaded PDF or image): render the first-page
    thumbnail into the cache, so lists and search results never wait for it. Idempotent: a cached
    thumbnail (or a recent failure) is left as it is; a file gone since is skipped."""
    file = db.session.get(DocumentFile, file_id)
    source = render_source(file) if file is not None else None
    db.session.rollback()  # it writes nothing: no transaction (no SQLite write lock) while the page renders
    if source is None:
        return
    try:
        _ensure_rendered(source[0], "thumb", source[1], 0, width=THUMBNAIL_WIDTH)
    except PreviewFailed:
        pass  # remembered by the .failed marker; the page shows the file without a thumbnail


def _ensure_rendered(sha256: str, name: str, kind: str, page_index: int, **options) -> Path:
    target = cached_page_path(sha256, name)
    if target.is_file():
        return target
    failed = target.with_suffix(".failed")
    if failed.is_file() and time.time() - failed.stat().st_mtime < FAILURE_MEMORY_SECONDS:
        raise PreviewFailed("No preview can be made of this page; download the file instead.")
    timeout = float(current_app.config.get("PREVIEW_TIMEOUT", RENDER_TIMEOUT_SECONDS))
    try:
        return render_page(current_store().path(sha256), kind, page_index, target, timeout=timeout, **options)
    except RenderError as error:
        current_app.logger.warning("preview of %s (%s) failed: %s", sha256, name, error)
        failed.write_text(str(error))
        raise PreviewFailed("No preview can be made of this page; download the file instead.") from None

