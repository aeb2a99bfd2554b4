"""Text extraction in a child process, under limits on time, memory and CPU.

pypdf, python-docx and pdfium are hardened, but a crafted file can still be expensive within their
limits: a few kilobytes of PDF whose pages all point at one content stream of two million operators
cost seconds and hundreds of megabytes *per page*. In the web worker that would stall the worker (and
with several such uploads, exhaust the machine's memory). Here the parsing happens in a forked child
with ``RLIMIT_AS`` and ``RLIMIT_CPU`` set, and the parent waits for at most a wall-clock timeout; a
child that runs out of time or memory, or dies, is reported as ``too_complex``.

Sniffing stays in the calling process: it reads at most the first 64 KiB and a zip's central
directory, both bounded.

The children come from a ``forkserver`` that has imported the extraction libraries once, so a task
costs a fork (a few milliseconds), not an interpreter start-up. No Flask here, except in
:func:`extract_limited`, which reads the app's configuration.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from docmgr.documents.extraction import Extracted, ExtractionError, extract, sniff

__all__ = ["SandboxLimits", "extract_in_subprocess", "extract_limited"]

DEFAULT_MAX_CHARS = 5_000_000

# Imported once by the fork server, so each child starts with them loaded. '__main__' first: without
# it every child would re-run the parent's main script (gunicorn, flask, pytest) on start-up.
_PRELOAD = [
    "__main__",
    "docmgr.documents.extraction",
    "pypdf",
    "pypdfium2",
    "docx",
    "defusedxml.ElementTree",
    "charset_normalizer",
]


@dataclass(frozen=True)
class SandboxLimits:
    """What one extraction may spend. The wall clock also covers a child stuck waiting (e.g. on I/O)."""

    timeout_seconds: float = 60.0
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 30

    @classmethod
    def from_config(cls, config: Any) -> SandboxLimits:
        return cls(
            timeout_seconds=float(config.get("EXTRACTION_TIMEOUT_SECONDS", cls.timeout_seconds)),
            memory_bytes=int(float(config.get("EXTRACTION_MEMORY_MB", cls.memory_bytes / 2**20)) * 2**20),
            cpu_seconds=int(config.get("EXTRACTION_CPU_SECONDS", cls.cpu_seconds)),
        )


_context_lock = threading.Lock()
_context: Any = None


def _forkserver_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


def _lower_limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    new_hard = value if hard == resource.RLIM_INFINITY else min(hard, value)
    resource.setrlimit(which, (min(value, new_hard), new_hard))


# A child whose resident memory came this close to its address-space limit ran out of memory, whatever
# the parsers made of the MemoryError (a damaged file needs a few megabytes, not hundreds).
_MEMORY_EXHAUSTED_SHARE = 0.6


def _peak_memory_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _child(conn: Connection, path: str, kind: str, max_chars: int, memory_bytes: int, cpu_seconds: int) -> None:
    """Runs in the forked child. Sends ("ok", text, page_count, encrypted) or ("error", code, message)."""
    try:
        _lower_limit(resource.RLIMIT_CORE, 0)  # a child killed by SIGXCPU must not dump core
        _lower_limit(resource.RLIMIT_AS, memory_bytes)
        # Soft limit: SIGXCPU (which terminates); the hard limit a little later: SIGKILL.
        soft = max(1, cpu_seconds)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        new_hard = soft + 2 if hard == resource.RLIM_INFINITY else min(hard, soft + 2)
        resource.setrlimit(resource.RLIMIT_CPU, (min(soft, new_hard), new_hard))
        try:
            extracted = extract(Path(path), kind, max_chars=max_chars)
            message: tuple = ("ok", extracted.text, extracted.page_count, extracted.encrypted)
        except ExtractionError as error:
            code = error.code
            if code == "malformed_file" and _peak_memory_bytes() >= memory_bytes * _MEMORY_EXHAUSTED_SHARE:
                # The parsers catch MemoryError per page and call the file malformed; ours ran out of memory.
                code = "too_complex"
            message = ("error", code, None if code != error.code else error.message)
        except (MemoryError, RecursionError):
            message = ("error", "too_complex", None)
        except Exception:  # any other parser failure means we cannot read the file
            message = ("error", "malformed_file", None)
        conn.send(message)
    except MemoryError:
        pass  # not even the answer fits: the parent sees the pipe close and says too_complex
    finally:
        conn.close()


def extract_in_subprocess(
    path: Path | str,
    kind: str | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    limits: SandboxLimits | None = None,
) -> tuple[str, Extracted]:
    """Sniff ``path`` here (unless ``kind`` is given), extract its text in a limited child process.

    Returns ``(kind, Extracted)`` exactly like :func:`docmgr.documents.extraction.extract_file`, and raises
    the same :class:`ExtractionError` codes; a child that exceeds its time, memory or CPU limit, or dies
    for any other reason, gives ``too_complex``.
    """
    path = Path(path)
    limits = limits or SandboxLimits()
    if kind is None:
        kind = sniff(path)
    context = _forkserver_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child,
        args=(sender, str(path), kind, max_chars, limits.memory_bytes, limits.cpu_seconds),
        daemon=True,
        name="docmgr-extract",
    )
    message = None
    try:
        try:
            process.start()
        finally:
            sender.close()  # ours; the child holds its own copy, so EOF means the child is gone
        if receiver.poll(limits.timeout_seconds):
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                message = None  # killed (SIGXCPU, SIGKILL, out of memory) before it could answer
    finally:
        receiver.close()
        if process.pid is not None:  # started
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
    if message is None:
        raise ExtractionError("too_complex")
    if message[0] == "ok":
        _, text, page_count, encrypted = message
        return kind, Extracted(text=text, page_count=page_count, encrypted=encrypted)
    _, code, error_message = message
    raise ExtractionError(code, error_message)


def extract_limited(path: Path, kind: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> Extracted:
    """The upload service's entry point: in a child process when ``EXTRACTION_SUBPROCESS`` is on (the
    default), else in this process (a debugging aid; no limits then)."""
    from flask import current_app

    config = current_app.config
    if not config.get("EXTRACTION_SUBPROCESS", True):
        return extract(path, kind, max_chars=max_chars)
    return extract_in_subprocess(path, kind, max_chars=max_chars, limits=SandboxLimits.from_config(config))[1]
