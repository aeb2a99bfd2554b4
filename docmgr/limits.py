"""Running one computation in a child process under limits on wall-clock time, memory and CPU.

Used for work whose cost an outsider controls: text extraction from uploads
(:mod:`docmgr.documents.sandbox`) and rendering templates written by legal staff
(:mod:`docmgr.drafting.rendering`). The child sets ``RLIMIT_AS`` and ``RLIMIT_CPU`` on itself, the
parent waits for its answer for at most a wall-clock timeout, then kills it.

The children come from one ``forkserver`` that has imported the libraries they need once, so a task
costs a fork (a few milliseconds), not an interpreter start-up. The fork server is forked from a small
process, not from the (large) web worker, which is what makes an absolute ``RLIMIT_AS`` meaningful.
No Flask here.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["ChildLimits", "peak_memory_bytes", "run_in_limited_child"]

# Imported once by the fork server, so each child starts with them loaded. The fork server is shared by
# every use in the process (multiprocessing has one), so this list covers all of them. '__main__' first:
# without it every child would re-run the parent's main script (gunicorn, flask, pytest) on start-up.
PRELOAD = [
    "__main__",
    "docmgr.limits",
    # text extraction
    "docmgr.documents.extraction",
    "pypdf",
    "pypdfium2",
    "docx",
    "defusedxml.ElementTree",
    "charset_normalizer",
    # template rendering (jinja2, markupsafe, babel)
    "docmgr.drafting.rendering",
    # Not the signature libraries (pyHanko, gostcrypto): preloaded here they made every upload's child
    # slower (bench/upload_bench.py, 5-page PDF median 211 -> 323-462 ms); a verification child imports
    # them itself (about 0.44 s), and signed copies are rare beside uploads.
    # page images of PDFs and scans (previews, thumbnails, OCR)
    "docmgr.documents.previews",
    "PIL.Image",
]


@dataclass(frozen=True)
class ChildLimits:
    """What one child may spend. The wall clock also covers a child stuck waiting (e.g. on I/O).

    ``memory_bytes`` is the child's whole address space (``RLIMIT_AS``), not an increment: a child
    of the fork server starts with the preloaded libraries mapped (a few hundred megabytes of address
    space, much of it reserved rather than used), so values below ~512 MiB leave it no room to work.
    """

    timeout_seconds: float = 60.0
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 30


_context_lock = threading.Lock()
_context: Any = None


def _forkserver_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _context = context
        return _context


def _lower_limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    new_hard = value if hard == resource.RLIM_INFINITY else min(hard, value)
    resource.setrlimit(which, (min(value, new_hard), new_hard))


def peak_memory_bytes() -> int:
    """The peak resident memory of this process (in a child: of the task so far)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _apply_limits(memory_bytes: int, cpu_seconds: int) -> None:
    _lower_limit(resource.RLIMIT_CORE, 0)  # a child killed by SIGXCPU must not dump core
    _lower_limit(resource.RLIMIT_AS, memory_bytes)
    # Soft limit: SIGXCPU (which terminates); the hard limit a little later: SIGKILL.
    soft = max(1, cpu_seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = soft + 2 if hard == resource.RLIM_INFINITY else min(hard, soft + 2)
    resource.setrlimit(resource.RLIMIT_CPU, (min(soft, new_hard), new_hard))


def _child(conn: Connection, target: Callable[..., Any], args: tuple, memory_bytes: int, cpu_seconds: int) -> None:
    """Runs in the forked child: limits first, then ``target(*args)``, whose result is the answer."""
    try:
        _apply_limits(memory_bytes, cpu_seconds)
        conn.send(target(*args))
    except MemoryError:
        pass  # not even the answer fits: the parent sees the pipe close and reports no answer
    finally:
        conn.close()


def run_in_limited_child(
    target: Callable[..., Any], args: tuple = (), limits: ChildLimits | None = None, *, name: str = "docmgr-limited"
) -> Any | None:
    """``target(*args)`` in a fork-server child under ``limits``; its (picklable) return value, or
    ``None`` when the child ran out of time, memory or CPU, raised, or died before answering.

    ``target`` must be a module-level function (it is pickled by reference) and should catch its own
    expected errors and return them as data: exceptions do not cross the process boundary.
    """
    limits = limits or ChildLimits()
    context = _forkserver_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child,
        args=(sender, target, tuple(args), limits.memory_bytes, limits.cpu_seconds),
        daemon=True,
        name=name,
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
    return message
