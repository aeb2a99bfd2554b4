"""OCR of scans: image-only PDFs and PNG/JPEG/TIFF pages get their Italian and Russian text recognised.

Off the request path, through the task queue: the upload records an :class:`~docmgr.documents.models.OcrJob` and
its ``documents.ocr`` task in its own transaction (:func:`enqueue_ocr`); ``docmgr worker`` runs :func:`ocr_task`.
The task checks the job's status first, so running it twice changes nothing; a job whose runs keep dying (a file
that kills the worker) is given up after ``MAX_ATTEMPTS`` starts.

Pages are rendered by :mod:`docmgr.documents.previews` in a child process (300 dpi, at most 50 pages) and read by
``tesseract <page.png> stdout -l ita+rus`` in another, each with a timeout. No database transaction is open while
they run: SQLite would hold its write lock for the whole recognition.

Without Tesseract (or its ``ita``/``rus`` packs), or with ``OCR_ENABLED`` off, everything else works: the tasks
are deferred (not failed), the pages say that text recognition is unavailable, and the worker catches up later.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import docmgr.documents.extraction as extraction
from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.documents.file_language import relabel_file
from docmgr.documents.models import DocumentFile, OcrJob, OcrJobStatus, TextStatus
from docmgr.documents.previews import RenderError, render_kind, render_page
from docmgr.extensions import db
from docmgr.search.indexers import enqueue_index
from docmgr.storage import current_store
from docmgr.tasks import Deferred, enqueue
from docmgr.vocab import LanguageSource

MAX_OCR_PAGES = 50
OCR_DPI = 300
OCR_MAX_PIXELS = 40_000_000  # per page image: A3 at 300 dpi is 17 Mpx; a huge page is scaled down to this
PAGE_TIMEOUT_SECONDS = 180  # per page, for rendering and again for Tesseract; config OCR_PAGE_TIMEOUT overrides
MAX_ATTEMPTS = 3  # runs started for one job; then it is failed (a file that kills the worker every time)
MAX_TEXT_CHARS = 5_000_000


class OcrFailure(Exception):
    """Recognition failed for a reason worth recording on the job (damaged page, timeout, Tesseract error)."""


# --- availability ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OcrAvailability:
    available: bool
    reason: str  # why not, for administrators ('' when available)


def ocr_status(config: dict[str, Any]) -> OcrAvailability:
    """Whether this process can recognise text: OCR_ENABLED, a Tesseract binary, and its language packs."""
    if not config.get("OCR_ENABLED", True):
        return OcrAvailability(False, "OCR is switched off (DOCMGR_OCR_ENABLED).")
    binary = shutil.which(config.get("OCR_TESSERACT", "tesseract"))
    if binary is None:
        return OcrAvailability(False, "Tesseract is not installed (scripts/setup.sh installs it).")
    wanted = set(config.get("OCR_LANGUAGES", "ita+rus").split("+"))
    missing = sorted(wanted - _installed_languages(binary))
    if missing:
        return OcrAvailability(False, f"Tesseract lacks the language pack(s): {', '.join(missing)}.")
    return OcrAvailability(True, "")


def ocr_available() -> bool:
    """For templates and the API: can the running app recognise text?"""
    return ocr_status(current_app.config).available


@functools.lru_cache(maxsize=8)
def _installed_languages(binary: str) -> frozenset[str]:
    try:
        result = subprocess.run(
            [binary, "--list-langs"], capture_output=True, timeout=20, stdin=subprocess.DEVNULL, env=_tesseract_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    return frozenset(line.strip() for line in lines[1:] if line.strip())  # the first line names the folder


def _tesseract_env() -> dict[str, str]:
    # One thread per Tesseract: several run side by side (workers), and OpenMP threads only slow that down.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_THREAD_LIMIT": "1", "LC_ALL": "C"}
    if "TESSDATA_PREFIX" in os.environ:
        env["TESSDATA_PREFIX"] = os.environ["TESSDATA_PREFIX"]
    return env


# --- the queue -------------------------------------------------------------------------------------------------

OCR_TASK = "documents.ocr"


def enqueue_ocr(session: Session, file: DocumentFile) -> OcrJob:
    """Queue recognition of a file without a text layer, in the caller's transaction (the upload's)."""
    file.text_status = TextStatus.OCR_PENDING.value
    job = OcrJob(file_id=file.id, status=OcrJobStatus.QUEUED.value, attempts=0, error="")
    session.add(job)
    session.flush()
    enqueue(session, OCR_TASK, job_id=job.id)
    return job


def queue_counts(session: Session) -> dict[str, int]:
    counts = {status.value: 0 for status in OcrJobStatus}
    for status, count in session.execute(select(OcrJob.status, func.count()).group_by(OcrJob.status)):
        counts[status] = count
    return counts


def ocr_overview(session: Session, actor: User) -> dict[str, Any]:
    """What the API tells about OCR: whether it is available; staff also see why not and the queue."""
    status = ocr_status(current_app.config)
    overview: dict[str, Any] = {"ocr_available": status.available}
    if actor.sees_everything:
        overview["reason"] = status.reason
        overview["jobs"] = queue_counts(session)
    return overview


# --- recognising -----------------------------------------------------------------------------------------------


@dataclass
class Recognised:
    text: str
    pages: int  # pages read
    note: str  # pages skipped or failed, '' when all went well


def run_tesseract(image: Path, *, binary: str, languages: str, timeout: float) -> str:
    """The text Tesseract reads on one page image."""
    try:
        result = subprocess.run(
            [binary, str(image), "stdout", "-l", languages], capture_output=True, timeout=timeout,
            stdin=subprocess.DEVNULL, env=_tesseract_env(),
        )
    except subprocess.TimeoutExpired:
        raise OcrFailure(f"Tesseract took longer than {timeout:g} s") from None
    except OSError as exc:
        raise OcrFailure(f"Tesseract could not be started: {exc}") from None
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrFailure(f"Tesseract failed: {lines[-1] if lines else result.returncode}"[:300])
    return result.stdout.decode("utf-8", "replace")


def recognise(source: Path, kind: str, page_count: int | None, config: dict[str, Any], work_dir: Path) -> Recognised:
    """Render each page (at most MAX_OCR_PAGES) and OCR it. One bad page does not cost the others."""
    binary = shutil.which(config.get("OCR_TESSERACT", "tesseract"))
    if binary is None:
        raise OcrFailure("Tesseract is not installed.")
    languages = config.get("OCR_LANGUAGES", "ita+rus")
    timeout = float(config.get("OCR_PAGE_TIMEOUT", PAGE_TIMEOUT_SECONDS))
    total = max(page_count or 1, 1)
    pages = min(total, MAX_OCR_PAGES)
    texts: list[str] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="ocr-") as tmp:
        for index in range(pages):
            image = Path(tmp) / f"{index + 1}.png"
            try:
                render_page(
                    source, kind, index, image, dpi=OCR_DPI if kind == "pdf" else None, max_pixels=OCR_MAX_PIXELS,
                    grayscale=True, timeout=timeout,
                )
                texts.append(run_tesseract(image, binary=binary, languages=languages, timeout=timeout))
            except (RenderError, OcrFailure) as error:
                problems.append(f"page {index + 1}: {error}")
            finally:
                image.unlink(missing_ok=True)
    if len(problems) == pages:
        raise OcrFailure("; ".join(problems[:3]))
    notes = []
    if problems:
        notes.append(f"{len(problems)} of {pages} page(s) could not be read ({'; '.join(problems[:3])})")
    if total > pages:
        notes.append(f"only the first {pages} of {total} pages were read")
    text = extraction.normalise_text("\n\n".join(texts))[:MAX_TEXT_CHARS]
    return Recognised(text=text, pages=pages - len(problems), note="; ".join(notes))


def ocr_task(job_id: int) -> None:
    """The ``documents.ocr`` task: recognise the job's file and store the text. Idempotent: a job already done or
    failed is left alone. Recognition problems (a damaged page, a timeout) fail the job for good; anything else
    raises, and the queue tries again later."""
    config = current_app.config
    status = ocr_status(config)
    if not status.available:
        raise Deferred(f"OCR is unavailable: {status.reason}", seconds=300)
    session = db.session
    job = session.get(OcrJob, job_id)
    if job is None or job.status in (OcrJobStatus.DONE.value, OcrJobStatus.FAILED.value):
        session.rollback()
        return
    if job.attempts >= MAX_ATTEMPTS:  # started that often and never finished: the file kills the worker
        message = f"Gave up after {job.attempts} attempts: the worker stopped before finishing each time."
        job.status, job.error, job.finished_at = OcrJobStatus.FAILED.value, message, utcnow()
        _mark_failed(session, job, message)
        session.commit()
        return
    job.status, job.worker_id, job.started_at, job.finished_at = OcrJobStatus.RUNNING.value, worker_id(), utcnow(), None
    job.attempts += 1
    file = job.file
    kind = render_kind(file.content_type)
    source = current_store().path(file.sha256)
    page_count = file.page_count
    content_type = file.content_type
    session.commit()  # no transaction (no SQLite write lock) while Tesseract runs

    result: Recognised | None = None
    failure = ""
    if kind is None:
        failure = f"Files of type {content_type} cannot be recognised."
    elif not source.is_file():
        failure = "The stored file is missing."
    else:
        try:
            result = recognise(source, kind, page_count, config, current_store().tmp)
        except OcrFailure as error:
            failure = str(error)

    job = session.get(OcrJob, job_id)
    if job is None or job.status != OcrJobStatus.RUNNING.value:
        session.rollback()  # finished meanwhile by another run
        return
    file = job.file
    job.finished_at = utcnow()
    if result is None:
        job.status = OcrJobStatus.FAILED.value
        job.error = failure
        _mark_failed(session, job, failure)
    else:
        job.status = OcrJobStatus.DONE.value
        job.error = result.note
        file.text = result.text
        file.text_status = TextStatus.OCR_DONE.value
        file.language_detected = extraction.detect_language(result.text)
        record(
            session, None, "document.ocr_done", file, document_id=file.document_id, pages=result.pages,
            characters=len(result.text), language_detected=file.language_detected, note=result.note,
        )
        # The language a scan got at upload was a guess (its title's) unless the uploader chose it: the text says.
        if file.language_detected and file.language_source != LanguageSource.UPLOADER.value:
            relabel_file(session, None, file, file.language_detected, LanguageSource.DETECTED)
        enqueue_index(session, "document", file.document_id)
    session.commit()


def _mark_failed(session: Session, job: OcrJob, message: str) -> None:
    job.file.text_status = TextStatus.FAILED.value
    record(session, None, "document.ocr_failed", job.file, document_id=job.file.document_id, error=message)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
