"""Text extraction in a child process, under limits on time, memory and CPU.

pypdf, python-docx and pdfium are hardened, but a crafted file can still be expensive within their
limits: a few kilobytes of PDF whose pages all point at one content stream of two million operators
cost seconds and hundreds of megabytes *per page*. In the web worker that would stall the worker (and
with several such uploads, exhaust the machine's memory). Here the parsing happens in a forked child
with ``RLIMIT_AS`` and ``RLIMIT_CPU`` set, and the parent waits for at most a wall-clock timeout; a
child that runs out of time or memory, or dies, is reported as ``too_complex``.

Sniffing stays in the calling process: it reads at most the first 64 KiB and a zip's central
directory, both bounded.

The child process, its limits and the fork server (which has imported the extraction libraries once,
so a task costs a fork, not an interpreter start-up) are :func:`docmgr.limits.run_in_limited_child`'s;
this module says what the child computes. No Flask here, except in :func:`extract_limited`, which
reads the app's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docmgr.documents.extraction import Extracted, ExtractionError, extract, sniff
from docmgr.limits import ChildLimits, peak_memory_bytes, run_in_limited_child

__all__ = ["SandboxLimits", "extract_in_subprocess", "extract_limited"]

DEFAULT_MAX_CHARS = 5_000_000


@dataclass(frozen=True)
class SandboxLimits(ChildLimits):
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


# A child whose resident memory came this close to its address-space limit ran out of memory, whatever
# the parsers made of the MemoryError (a damaged file needs a few megabytes, not hundreds).
_MEMORY_EXHAUSTED_SHARE = 0.6


def _extract_child(path: str, kind: str, max_chars: int, memory_bytes: int) -> tuple:
    """Runs in the limited child. Returns ("ok", text, page_count, encrypted) or ("error", code, message)."""
    try:
        extracted = extract(Path(path), kind, max_chars=max_chars)
        return ("ok", extracted.text, extracted.page_count, extracted.encrypted)
    except ExtractionError as error:
        code = error.code
        if code == "malformed_file" and peak_memory_bytes() >= memory_bytes * _MEMORY_EXHAUSTED_SHARE:
            # The parsers catch MemoryError per page and call the file malformed; ours ran out of memory.
            code = "too_complex"
        return ("error", code, None if code != error.code else error.message)
    except (MemoryError, RecursionError):
        return ("error", "too_complex", None)
    except Exception:  # any other parser failure means we cannot read the file
        return ("error", "malformed_file", None)


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
    message = run_in_limited_child(
        _extract_child, (str(path), kind, max_chars, limits.memory_bytes), limits, name="docmgr-extract"
    )
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
