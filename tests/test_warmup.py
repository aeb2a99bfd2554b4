"""Warming a fresh process (docmgr.warmup): every step runs for real and leaves its part ready."""

from __future__ import annotations

from docmgr.signatures.checking import VERIFIER
from docmgr.warmup import warm_up


def test_warm_up_starts_the_sandbox_the_language_model_the_renderer_and_the_signature_template(app):
    try:
        timings = warm_up(app)
        assert set(timings) == {"sandbox", "language", "pdf", "signatures"}
        assert all(seconds >= 0 for seconds in timings.values())
        assert VERIFIER._process is not None and VERIFIER._process.is_alive()
    finally:
        VERIFIER.close()


def test_the_queue_worker_warms_without_the_renderer(app):
    timings = warm_up(app, pdf=False)
    assert set(timings) == {"sandbox", "language"}
