"""Running one computation in a child process under limits on wall-clock time, memory and CPU.

Used for work whose cost an outsider controls: text extraction from uploads
(:mod:`docmgr.documents.sandbox`) and rendering templates written by legal staff
(:mod:`docmgr.drafting.rendering`). The child sets ``RLIMIT_AS`` and ``RLIMIT_CPU`` on itself, the
parent waits for its answer for at most a wall-clock timeout, then kills it.

The children come from one ``forkserver`` that has imported the libraries they need once, so a task
costs a fork (a few milliseconds), not an interpreter start-up. The fork server is forked from a small
process, not from the (large) web worker, which is what makes an absolute ``RLIMIT_AS`` meaningful.
Work that needs heavy libraries the uploads do not (signature verification: pyHanko, gostcrypto) gets its
own :class:`WarmChildren`: a template process, itself a child of the fork server, that imports those libraries
once and then forks one child per task under the same limits. Uploads' children stay lean; a verification
costs a fork of a warm process instead of the imports.
No Flask here.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["ChildLimits", "WarmChildren", "forkserver_context", "peak_memory_bytes", "run_in_limited_child"]

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


def forkserver_context() -> Any:
    """The process's one ``forkserver`` multiprocessing context, with :data:`PRELOAD` (for pools of workers
    that are not limited children, e.g. the PostgreSQL search backend's parallel rebuild). Starting a fork
    server any other way would leave it without the preloads the limited children count on."""
    return _forkserver_context()


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


# --- warm children: a template process with its own preloaded libraries ---------------------------------


def _resolve(reference: str) -> Callable[[], Any]:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _template_main(control: Connection, preload: Sequence[str], warm: Sequence[str]) -> None:
    """The template process: imports ``preload``, calls the ``warm`` hooks ("module:function"), then forks
    one child per request ``(target, args, memory, cpu, timeout)`` plus the write end of the answer pipe
    (passed as a file descriptor), kills a child still running at its deadline, and reaps it. Ends when the
    parent closes ``control`` (the parent's process ended, or it stopped the template)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the parent's to handle
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # the parent ending (daemon): kill the children first
    for module in preload:
        importlib.import_module(module)
    for hook in warm:
        _resolve(hook)()
    children: dict[int, tuple[int, float]] = {}  # pidfd -> (pid, deadline)
    try:
        while True:
            now = time.monotonic()
            for pidfd, (pid, deadline) in list(children.items()):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    os.close(pidfd)
                    del children[pidfd]
                elif deadline <= now:
                    os.kill(pid, signal.SIGKILL)  # ours and not reaped yet, so the pid is still this child
            timeout = max(0.0, min(d for _, d in children.values()) - now) if children else None
            ready = wait([control, *children], timeout)
            if control not in ready:
                continue
            try:
                target, args, memory_bytes, cpu_seconds, timeout_seconds = control.recv()
                answer_fd = reduction.recv_handle(control)
            except (EOFError, OSError):
                return
            pid = os.fork()
            if pid == 0:  # the child: never returns into this loop
                code = 1
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    control.close()
                    for pidfd in children:
                        os.close(pidfd)
                    _child(Connection(answer_fd, readable=False), target, args, memory_bytes, cpu_seconds)
                    code = 0
                finally:
                    os._exit(code)
            os.close(answer_fd)
            children[os.pidfd_open(pid)] = (pid, time.monotonic() + timeout_seconds)
            control.send(pid)
    finally:
        for pidfd, (pid, _) in children.items():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(pidfd)


TEMPLATE_START_SECONDS = 120.0  # a template stuck longer while importing is replaced


class WarmChildren:
    """Limited children forked from a template process that imported ``preload`` (module names) and ran
    ``warm`` (``"module:function"`` hooks, e.g. building curve tables) once.

    :meth:`run` has the semantics of :func:`run_in_limited_child` (same limits, ``None`` when the child
    ran out of time, memory or CPU, raised, or died). The template is started on first use from the
    shared fork server (so it is small, not a copy of the web worker), once per process (a gunicorn
    worker starts its own); if it dies, the next task starts a new one."""

    def __init__(self, name: str, preload: Sequence[str], warm: Sequence[str] = ()) -> None:
        self.name = name
        self.preload = ["__main__", "docmgr.limits", *preload]
        self.warm = list(warm)
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._process: Any = None
        self._control: Connection | None = None

    def start(self) -> None:
        """Start the template now (else the first task does); returns once it has loaded everything."""
        with self._lock:
            self._ensure_running()

    def _ensure_running(self) -> Connection:
        if self._owner != os.getpid():  # first use, or we are a forked copy: the template is not ours
            self._owner, self._process, self._control = os.getpid(), None, None
        if self._process is not None and self._process.is_alive() and self._control is not None:
            return self._control
        self._stop()
        context = _forkserver_context()
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(target=_template_main, args=(theirs, self.preload, self.warm),
                                  daemon=True, name=f"{self.name}-template")
        process.start()
        theirs.close()
        self._process, self._control = process, ours
        return ours

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=10)
        self._process = self._control = None

    def close(self) -> None:
        """Stop the template (its running children are killed)."""
        with self._lock:
            if self._owner == os.getpid():
                self._stop()

    def _start_child(self, request: tuple, answer_fd: int) -> None:
        for attempt in (1, 2):  # a template that died since the last task is replaced once
            control = self._ensure_running()
            try:
                control.send(request)
                reduction.send_handle(control, answer_fd, self._process.pid)
                # The child's pid: it is running. A new template answers once it has loaded everything.
                if not control.poll(TEMPLATE_START_SECONDS):
                    raise TimeoutError("the template process did not answer")
                control.recv()
                return
            except (EOFError, OSError):
                self._stop()
                if attempt == 2:
                    raise

    def run(self, target: Callable[..., Any], args: tuple = (), limits: ChildLimits | None = None) -> Any | None:
        """``target(*args)`` in a warm child under ``limits``; see :func:`run_in_limited_child`."""
        limits = limits or ChildLimits()
        receiver_fd, sender_fd = os.pipe()
        receiver = Connection(receiver_fd, writable=False)
        try:
            try:
                with self._lock:
                    self._start_child(
                        (target, tuple(args), limits.memory_bytes, limits.cpu_seconds, limits.timeout_seconds), sender_fd)
            except (EOFError, OSError):
                return None
            finally:
                os.close(sender_fd)  # the child holds its own copy, so EOF means the child is gone
            if receiver.poll(limits.timeout_seconds):
                try:
                    return receiver.recv()
                except (EOFError, OSError):
                    return None  # killed (SIGXCPU, SIGKILL, out of memory) before it could answer
            return None  # the template kills the child at the same deadline
        finally:
            receiver.close()
