"""DOCX and ODT converted to PDF by LibreOffice (headless), so the viewer and thumbnails show them like PDFs.

The ``documents.convert`` task (queued with each uploaded DOCX or ODT, run by the worker) converts the stored
file once: ``soffice --headless --convert-to pdf`` with a private, throw-away profile directory
(``-env:UserInstallation``, so conversions never share or corrupt a profile, and two can run at once), a wall-clock
timeout (the process group is killed past it), a CPU limit, and — where the kernel allows unprivileged user
namespaces — no network at all (``unshare -rn``: a document's linked images are not fetched).

The PDF is stored in the content store like any blob and the file row points at it (``preview_sha256``): a DOCX
uploaded again (same SHA-256) reuses the conversion. :mod:`docmgr.documents.previews` then renders its pages and
thumbnail exactly as for an uploaded PDF. When conversion fails (damaged file, timeout, LibreOffice missing) the
row says ``failed`` and the viewer keeps the extracted text, with a note.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from docmgr.documents.models import DocumentFile
from docmgr.documents.previews import THUMBNAIL_TASK
from docmgr.extensions import db
from docmgr.storage import current_store, store_stream
from docmgr.tasks import enqueue

log = logging.getLogger(__name__)

CONVERT_TASK = "documents.convert"
OFFICE_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.oasis.opendocument.text": "odt",
}
CONVERT_TIMEOUT_SECONDS = 120  # config OFFICE_CONVERT_TIMEOUT_SECONDS overrides
MAX_PDF_BYTES = 200 * 1024 * 1024


class ConversionError(Exception):
    """LibreOffice could not make a PDF of the file (or is not installed)."""


def is_office(content_type: str) -> bool:
    return content_type in OFFICE_TYPES


def soffice_binary(configured: str | None = None) -> str | None:
    """The LibreOffice program to run, or None when it is not installed."""
    return shutil.which(configured or "soffice") or shutil.which("libreoffice")


@cache
def _network_isolation() -> list[str]:
    """``unshare -rn`` when this kernel lets an unprivileged process have its own (empty) network namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [unshare, "-rn"] if probe.returncode == 0 else []


def _limit_child(pid: int, cpu_seconds: int) -> None:
    """No core dumps, and a CPU limit, for the converter (set from here: a pre-exec hook is unsafe in the
    threaded worker). Its helper processes inherit them."""
    try:
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    except (OSError, ValueError):  # already gone
        pass


def convert_to_pdf(source: Path, kind: str, *, binary: str, timeout: float = CONVERT_TIMEOUT_SECONDS) -> bytes:
    """The PDF LibreOffice makes of ``source`` (a ``docx`` or ``odt``). Raises ConversionError."""
    if kind not in OFFICE_TYPES.values():
        raise ConversionError(f"not an office document: {kind}")
    with tempfile.TemporaryDirectory(prefix="docmgr-soffice-") as work:
        work_dir = Path(work)
        document = work_dir / f"document.{kind}"  # our name: the uploader's never reaches a command line
        shutil.copyfile(source, document)
        out_dir = work_dir / "out"
        command = [
            *_network_isolation(), binary, f"-env:UserInstallation={(work_dir / 'profile').as_uri()}",
            "--headless", "--invisible", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
            "--convert-to", "pdf:writer_pdf_Export", "--outdir", str(out_dir), str(document),
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work_dir), "LANG": "C.UTF-8",
               "TMPDIR": str(work_dir)}
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            cwd=work_dir, start_new_session=True,
        )
        _limit_child(process.pid, max(int(timeout), 1))
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ConversionError(f"LibreOffice took longer than {timeout:g} s") from None
        finally:
            if process.poll() is None:  # pragma: no cover - killed above
                os.killpg(process.pid, signal.SIGKILL)
        pdf = out_dir / "document.pdf"
        if process.returncode != 0 or not pdf.is_file():
            detail = (output or b"").decode("utf-8", "replace").strip()[-300:]
            raise ConversionError(f"LibreOffice made no PDF (exit {process.returncode}): {detail}")
        data = pdf.read_bytes()
        if not data.startswith(b"%PDF-") or len(data) > MAX_PDF_BYTES:
            raise ConversionError("LibreOffice's output is not a usable PDF")
        return data


def _page_count(path: Path) -> int:
    import pypdf  # our own PDF, just made by LibreOffice: counting its pages is cheap and safe

    return len(pypdf.PdfReader(str(path)).pages)


def convert_task(file_id: int) -> None:
    """The ``documents.convert`` task: make (or reuse) the PDF of a stored DOCX/ODT. Idempotent: a file already
    converted, or gone since, is left alone; a failure is recorded on the row (no retry: the same bytes fail again).

    LibreOffice runs for seconds with no transaction open: outside a request every SQLite transaction takes the
    write lock, and holding it through a conversion kept every upload waiting (503 "busy" past the busy timeout)."""
    session = db.session
    file = session.get(DocumentFile, file_id)
    if file is None or not is_office(file.content_type) or file.preview_status == "done":
        session.rollback()
        return
    earlier = session.scalar(
        select(DocumentFile).where(
            DocumentFile.sha256 == file.sha256, DocumentFile.preview_status == "done", DocumentFile.id != file.id,
        ).limit(1)
    )
    if earlier is not None and current_store().exists(earlier.preview_sha256):
        file.preview_sha256, file.preview_pages, file.preview_status = (
            earlier.preview_sha256, earlier.preview_pages, "done")
        return
    sha256, content_type = file.sha256, file.content_type
    session.rollback()  # it wrote nothing: no lock while LibreOffice runs

    config = current_app.config
    binary = soffice_binary(config.get("OFFICE_CONVERTER"))
    blob, pages, error = None, 0, None
    try:
        if binary is None:
            raise ConversionError("LibreOffice (soffice) is not installed")
        data = convert_to_pdf(
            current_store().path(sha256), OFFICE_TYPES[content_type], binary=binary,
            timeout=float(config.get("OFFICE_CONVERT_TIMEOUT_SECONDS", CONVERT_TIMEOUT_SECONDS)),
        )
        with tempfile.TemporaryFile() as fh:
            fh.write(data)
            fh.seek(0)
            blob = store_stream(fh)
        pages = _page_count(current_store().path(blob.sha256))
    except Exception as failure:  # noqa: BLE001 - whatever went wrong, the text view stays
        error = failure

    file = session.get(DocumentFile, file_id)
    if file is None or file.sha256 != sha256 or file.preview_status == "done":  # gone or done meanwhile
        session.rollback()
        return
    if error is not None:
        log.warning("converting file %s (%s) to PDF failed: %s", file_id, sha256, error)
        file.preview_status = "failed"
        return
    file.preview_sha256, file.preview_pages, file.preview_status = blob.sha256, max(pages, 1), "done"
    if config.get("THUMBNAILS_QUEUED"):
        enqueue(session, THUMBNAIL_TASK, file_id=file.id)
