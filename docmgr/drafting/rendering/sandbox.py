"""The template sandbox: compiling a body once, rendering it in a limited child process.

A body is Jinja run in an immutable sandbox with autoescaping and ``StrictUndefined``, with bounds on
``*`` and ``**`` so one expression cannot spend gigabytes or minutes; the render itself runs in a child
of the fork server (:mod:`docmgr.limits`) under a wall-clock, CPU and memory limit.
"""

from __future__ import annotations

import marshal
import math
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from docmgr.drafting.rendering.errors import N_, TemplateError
from docmgr.drafting.rendering.formatting import format_amount, format_date, format_number
from docmgr.limits import ChildLimits, run_in_limited_child

MAX_REPEAT = 100_000  # the longest string or list a template may build with "*" (Jinja's own MAX_RANGE)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Security (tests/security/test_templates_fetches.py): ``{{ 'x' * 10**9 }}`` or ``{{ 9**9**9 }}`` in a
    body would spend gigabytes or minutes of one worker before any other check runs."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        from jinja2.exceptions import SecurityError

        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                    if len(sequence) * max(count, 0) > MAX_REPEAT:
                        raise SecurityError(f"a repeated text or list longer than {MAX_REPEAT} items")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("an exponent above 100")
        return super().call_binop(context, operator, left, right)


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False
    )
    env.filters["date"] = format_date
    env.filters["number"] = format_number
    env.filters["amount"] = format_amount
    return env


_ENV = _make_environment()
_MEMORY = N_("The template needed more memory than allowed to render; check its loops.")


@lru_cache(maxsize=64)
def compile_body(body: str):
    """Compile once per distinct body (template versions never change, so the cache never lies)."""
    try:
        return _ENV.from_string(body)
    except TemplateSyntaxError as error:
        raise TemplateError(N_("Syntax error: %(detail)s"), error.lineno, detail=error.message) from None


@lru_cache(maxsize=64)
def _marshalled_body(body: str) -> bytes:
    """The compiled body as marshalled code (what Jinja's bytecode cache stores), for the render child:
    it rebuilds the template from it in well under a millisecond instead of compiling it again."""
    compile_body(body)  # syntax errors as TemplateError, with their line
    return marshal.dumps(_ENV.compile(body))


def _template_line(error: BaseException) -> int | None:
    """The template line an exception was raised from: Jinja rewrites tracebacks so that frames of
    template code carry the template's own line numbers under the file name ``<template>``."""
    line = getattr(error, "lineno", None)
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line


def _run_template(template: Any, context: dict[str, Any]) -> str:
    try:
        return template.render(context)
    except TemplateError:
        raise
    except TemplateSyntaxError as error:
        raise TemplateError(N_("Syntax error: %(detail)s"), error.lineno, detail=error.message) from None
    except Exception as error:  # any failure of template code is the author's to fix, with its line
        kind = type(error).__name__
        if kind == "SecurityError":
            msgid, params = N_("Not allowed in templates: %(detail)s"), {"detail": str(error)}
        elif isinstance(error, MemoryError):
            msgid, params = _MEMORY, {}
        elif kind == "UndefinedError":
            msgid, params = N_("Undefined value: %(detail)s"), {"detail": str(error)}
        else:
            msgid, params = "%(kind)s: %(detail)s", {"kind": kind, "detail": str(error)}
        raise TemplateError(msgid, _template_line(error), **params) from None


# A body is a few pages of agreement: 100 times that is not a contract but a loop gone wrong, and the
# parent would spend seconds parsing it into clauses.
MAX_RENDERED_CHARS = 5_000_000


@dataclass(frozen=True)
class RenderLimits(ChildLimits):
    """What rendering one template body may spend, in a child process (see :mod:`docmgr.limits`).

    ``memory_bytes`` is the child's whole address space; it starts from the small fork server, not from
    the web worker, so 1 GiB leaves several hundred megabytes for the template itself.
    """

    timeout_seconds: float = 10.0
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 10

    @classmethod
    def for_timeout(cls, timeout_seconds: float) -> RenderLimits:
        """A wall-clock limit, with a CPU limit to match (RLIMIT_CPU counts whole seconds)."""
        return cls(timeout_seconds=float(timeout_seconds), cpu_seconds=max(1, math.ceil(timeout_seconds)))


DEFAULT_RENDER_LIMITS = RenderLimits()


def _render_child(code: bytes, context: dict[str, Any], max_chars: int) -> tuple:
    """Runs in the limited child: ("ok", text) or ("error", msgid, line, params) (a TemplateError as data;
    exceptions do not survive the trip back with their attributes)."""
    try:
        template = _ENV.template_class.from_code(_ENV, marshal.loads(code), _ENV.make_globals(None), None)
        text = _run_template(template, context)
    except TemplateError as error:
        return ("error", error.msgid, error.line, error.params)
    except MemoryError:  # raised outside the template's own code (Jinja's output join, marshal)
        return ("error", _MEMORY, None, {})
    if len(text) > max_chars:
        return ("error", N_("The template produced more than %(num)s characters; check its loops."), None,
                {"num": max_chars})
    return ("ok", text)


def _seconds(value: float) -> str:
    return f"{value:g}"


def render_body(body: str, context: dict[str, Any], limits: RenderLimits | None = DEFAULT_RENDER_LIMITS) -> str:
    """Render a body with its context (plain, picklable data: see :func:`build_context`).

    Under ``limits`` (the default) the template code runs in a child process with a wall-clock, CPU and
    memory limit: a body such as two nested ``range(100000)`` loops would otherwise hold the worker
    for hours. A child that runs out of time or dies gives a :class:`TemplateError`. ``limits=None``
    renders in this process, without limits (trusted bodies only).
    """
    if limits is None:
        return _run_template(compile_body(body), context)
    code = _marshalled_body(body)
    started = time.monotonic()
    message = run_in_limited_child(_render_child, (code, context, MAX_RENDERED_CHARS), limits, name="docmgr-render")
    if message is None:
        if time.monotonic() - started < limits.timeout_seconds * 0.9:
            raise TemplateError(N_("The template used more memory or processor time than allowed to render; check its loops."))
        raise TemplateError(
            N_("The template took longer than %(num)s seconds to render; check its loops."),
            num=_seconds(limits.timeout_seconds),
        )
    if message[0] == "ok":
        return message[1]
    _, msgid, line, params = message
    raise TemplateError(msgid, line, **params)
