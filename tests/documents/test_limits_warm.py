"""docmgr.limits.WarmChildren: limited children forked from a template that preloaded its libraries once."""

from __future__ import annotations

import os
import sys
import time

import pytest

from docmgr.limits import ChildLimits, WarmChildren, run_in_limited_child

pytestmark = pytest.mark.backend_independent  # processes and limits only: no database, index nor queue

WARMED: list[str] = []


def warm_hook() -> None:
    WARMED.append(f"warmed in {os.getpid()}")


def describe(module: str) -> dict:
    """Runs in the child: what it inherited from the template."""
    return {"pid": os.getpid(), "template": os.getppid(), "preloaded": module in sys.modules, "warmed": list(WARMED)}


def sleep_forever(pid_file: str) -> None:
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(60)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def fail() -> None:
    raise RuntimeError("boom")


@pytest.fixture
def warm():
    children = WarmChildren("docmgr-test", preload=["tabnanny"], warm=[f"{__name__}:warm_hook"])
    yield children
    children.close()


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_children_inherit_the_preloaded_modules_and_warm_hooks_of_one_template(warm):
    first = warm.run(describe, ("tabnanny",))
    second = warm.run(describe, ("tabnanny",))
    assert first["preloaded"] and second["preloaded"]
    template = first["template"]
    assert first["warmed"] == [f"warmed in {template}"]  # run once, in the template, before forking
    assert second["template"] == template and first["pid"] != second["pid"] != template
    assert template != os.getpid()
    assert WARMED == []  # never in the web worker
    lean = run_in_limited_child(describe, ("tabnanny",))  # the uploads' children do not carry them
    assert lean is not None and not lean["preloaded"] and lean["warmed"] == []


def test_a_child_past_its_wall_clock_is_killed_and_answers_none(warm, tmp_path):
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    assert warm.run(sleep_forever, (str(pid_file),), ChildLimits(timeout_seconds=1.0)) is None
    assert time.monotonic() - start < 10
    assert _gone(int(pid_file.read_text()))
    assert warm.run(describe, ("json",))["template"]  # the template still serves


def test_memory_limit_and_errors_answer_none(warm):
    assert warm.run(allocate, (1,), ChildLimits(memory_bytes=1024 * 1024 * 1024)) == 1024 * 1024
    assert warm.run(allocate, (2048,), ChildLimits(memory_bytes=768 * 1024 * 1024)) is None
    assert warm.run(fail) is None


def test_a_dead_template_is_replaced_on_the_next_task(warm):
    template = warm.run(describe, ("json",))["template"]
    os.kill(template, 9)
    assert _gone(template)
    answer = warm.run(describe, ("tabnanny",))
    assert answer["preloaded"] and answer["template"] != template


def test_closing_stops_the_template(warm):
    template = warm.run(describe, ("json",))["template"]
    warm.close()
    assert _gone(template)
