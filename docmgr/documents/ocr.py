"""OCR of scans: image-only PDFs and PNG/JPEG/TIFF pages get their Italian and Russian text recognised.

Off the request path, with the queue in the database (:class:`~docmgr.documents.models.OcrJob`): the upload enqueues
a job in its own transaction (:func:`enqueue_ocr`); workers (:func:`run_ocr_worker` — a daemon thread per server
process, or ``flask --app wsgi docmgr ocr-worker``) claim jobs with a conditional UPDATE, so two workers never take
the same job, even in different processes. A job left ``running`` for more than ten minutes (its worker crashed or
was killed) is queued again, at most ``MAX_ATTEMPTS`` times in all.

Pages are rendered by :mod:`docmgr.documents.previews` in a child process (300 dpi, at most 50 pages) and read by
``tesseract <page.png> stdout -l ita+rus`` in another, each with a timeout. No database transaction is open while
they run: SQLite would hold its write lock for the whole recognition.

Without Tesseract (or its ``ita``/``rus`` packs), or with ``OCR_ENABLED`` off, everything else works: jobs stay
queued, the pages say that text recognition is unavailable, and a worker started later catches up.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.documents import extraction
from docmgr.documents.models import DocumentFile, OcrJob, OcrJobStatus, TextStatus
from docmgr.documents.previews import RenderError, render_kind, render_page
from docmgr.extensions import db
from docmgr.search.services import enqueue
from docmgr.storage import current_store

MAX_OCR_PAGES = 50
OCR_DPI = 300
OCR_MAX_PIXELS = 40_000_000  # per page image: A3 at 300 dpi is 17 Mpx; a huge page is scaled down to this
PAGE_TIMEOUT_SECONDS = 180  # per page, for rendering and again for Tesseract; config OCR_PAGE_TIMEOUT overrides
STALE_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 3
POLL_SECONDS = 5.0
STALE_CHECK_SECONDS = 60.0
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
    from flask import current_app

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


def enqueue_ocr(session: Session, file: DocumentFile) -> OcrJob:
    """Queue recognition of a file without a text layer, in the caller's transaction (the upload's)."""
    file.text_status = TextStatus.OCR_PENDING.value
    job = OcrJob(file_id=file.id, status=OcrJobStatus.QUEUED.value, attempts=0, error="")
    session.add(job)
    return job


def try_claim(session: Session, job_id: int, worker_id: str) -> bool:
    """Take one queued job. The UPDATE only matches while the job is still queued, so of two workers racing for it
    exactly one changes a row; the other sees rowcount 0. Commits, so other workers see the claim at once."""
    result = session.execute(
        update(OcrJob)
        .where(OcrJob.id == job_id, OcrJob.status == OcrJobStatus.QUEUED.value)
        .values(
            status=OcrJobStatus.RUNNING.value, worker_id=worker_id, started_at=utcnow(), finished_at=None,
            attempts=OcrJob.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def claim_next_job(session: Session, worker_id: str) -> int | None:
    """The id of the oldest queued job, now ours; None when nothing is queued."""
    candidates = list(
        session.scalars(
            select(OcrJob.id).where(OcrJob.status == OcrJobStatus.QUEUED.value).order_by(OcrJob.id).limit(10)
        )
    )
    session.commit()
    for job_id in candidates:
        if try_claim(session, job_id, worker_id):
            return job_id
    return None


def requeue_stale(session: Session, now=None) -> int:
    """Jobs 'running' for longer than STALE_AFTER lost their worker: queue them again, or give up after
    MAX_ATTEMPTS (a file that kills the worker every time must not keep the queue busy for ever)."""
    cutoff = (now or utcnow()) - STALE_AFTER
    stale = list(
        session.execute(
            select(OcrJob.id, OcrJob.attempts, OcrJob.started_at).where(
                OcrJob.status == OcrJobStatus.RUNNING.value, OcrJob.started_at < cutoff
            )
        )
    )
    changed = 0
    for job_id, attempts, started_at in stale:
        still_stale = (
            update(OcrJob)
            .where(OcrJob.id == job_id, OcrJob.status == OcrJobStatus.RUNNING.value, OcrJob.started_at == started_at)
            .execution_options(synchronize_session=False)
        )
        if attempts >= MAX_ATTEMPTS:
            message = f"Gave up after {attempts} attempts: the worker stopped before finishing each time."
            result = session.execute(
                still_stale.values(status=OcrJobStatus.FAILED.value, error=message, finished_at=utcnow())
            )
            if result.rowcount == 1:
                job = session.get(OcrJob, job_id)
                _mark_failed(session, job, message)
        else:
            result = session.execute(still_stale.values(status=OcrJobStatus.QUEUED.value, worker_id=None))
        changed += result.rowcount
    session.commit()
    return changed


def queue_counts(session: Session) -> dict[str, int]:
    counts = {status.value: 0 for status in OcrJobStatus}
    for status, count in session.execute(select(OcrJob.status, func.count()).group_by(OcrJob.status)):
        counts[status] = count
    return counts


def ocr_overview(session: Session, actor: User) -> dict[str, Any]:
    """What the API tells about OCR: whether it is available; staff also see why not and the queue."""
    from flask import current_app

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


def process_job(session: Session, job_id: int, worker_id: str, config: dict[str, Any]) -> str:
    """Recognise the file of a job this worker claimed and store the result; returns the job's new status."""
    job = session.get(OcrJob, job_id)
    if job is None or job.status != OcrJobStatus.RUNNING.value or job.worker_id != worker_id:
        session.rollback()
        return "lost"
    file = job.file
    kind = render_kind(file.content_type)
    source = current_store().path(file.sha256)
    page_count = file.page_count
    session.commit()  # no transaction (no SQLite write lock) while Tesseract runs

    result: Recognised | None = None
    failure = ""
    if kind is None:
        failure = f"Files of type {file.content_type} cannot be recognised."
    elif not source.is_file():
        failure = "The stored file is missing."
    else:
        try:
            result = recognise(source, kind, page_count, config, current_store().tmp)
        except OcrFailure as error:
            failure = str(error)

    job = session.get(OcrJob, job_id)
    if job is None or job.status != OcrJobStatus.RUNNING.value or job.worker_id != worker_id:
        session.rollback()  # re-queued meanwhile (we were too slow) and perhaps finished by another worker
        return "lost"
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
        enqueue(session, "document", file.document_id)
    session.commit()
    return job.status


def _mark_failed(session: Session, job: OcrJob, message: str) -> None:
    job.file.text_status = TextStatus.FAILED.value
    record(session, None, "document.ocr_failed", job.file, document_id=job.file.document_id, error=message)


# --- the worker ------------------------------------------------------------------------------------------------


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_ocr_worker(
    app: Flask, once: bool = False, *, worker_id: str | None = None, stop: threading.Event | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> int:
    """Process OCR jobs; returns how many were processed.

    ``once``: process what is queued, then return (the CLI's ``--once``, tests, cron). Otherwise run until ``stop``
    is set, polling the queue. While OCR is unavailable nothing is claimed: jobs stay queued for later.
    """
    worker_id = worker_id or default_worker_id()
    stop = stop or threading.Event()
    processed = 0
    last_stale_check = float("-inf")
    with app.app_context():
        session = db.session
        while not stop.is_set():
            if not ocr_status(app.config).available:
                if once:
                    break
                stop.wait(poll_seconds * 12)
                continue
            try:
                now = time.monotonic()
                if once or now - last_stale_check >= STALE_CHECK_SECONDS:
                    requeue_stale(session)
                    last_stale_check = now
                job_id = claim_next_job(session, worker_id)
                if job_id is None:
                    if once:
                        break
                    stop.wait(poll_seconds)
                    continue
                process_job(session, job_id, worker_id, app.config)
                processed += 1
            except Exception:
                session.rollback()
                if once:
                    raise
                app.logger.exception("OCR worker %s: unexpected error; retrying shortly", worker_id)
                stop.wait(poll_seconds)
        db.session.remove()
    return processed


_thread_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Template helper ``ocr_available()``, and the per-process worker thread when OCR_THREAD is on.

    The thread starts with the first request a process serves, not in create_app: CLI commands (which create the
    app too) then never start one, and under a pre-forking server each worker process gets its own.
    """
    app.jinja_env.globals["ocr_available"] = ocr_available
    if not app.config.get("OCR_THREAD"):
        return
    started_in: dict[str, int] = {}
    stop = app.extensions.setdefault("docmgr.ocr_stop", threading.Event())  # set it to stop the thread

    @app.before_request
    def _start_ocr_thread() -> None:
        if started_in.get("pid") == os.getpid():
            return
        with _thread_lock:
            if started_in.get("pid") == os.getpid():
                return
            started_in["pid"] = os.getpid()
            status = ocr_status(app.config)
            if not status.available:
                app.logger.warning("OCR is unavailable, scans wait in the queue: %s", status.reason)
                return
            thread = threading.Thread(
                target=run_ocr_worker, args=(app,), kwargs={"stop": stop}, name="docmgr-ocr", daemon=True
            )
            thread.start()
            app.extensions["docmgr.ocr_thread"] = thread
