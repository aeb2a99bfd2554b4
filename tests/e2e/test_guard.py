"""The page guard itself: it must notice a request leaving 127.0.0.1, a CSP violation and a console error,
or the checks of every other browser test would prove nothing."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_guard_notices_foreign_requests_csp_violations_and_console_errors(open_browser):
    session = open_browser()
    page = session.page
    session.goto("/login")
    session.guard.assert_clean()

    # An inline script is refused by the service's Content-Security-Policy (and so never runs).
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.appendChild(s); }"
    )
    for _ in range(50):  # the violation report is delivered asynchronously
        if session.guard.csp_violations:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => window.__ran === undefined")
    assert any("script-src" in report for report in session.guard.csp_violations), session.guard.csp_violations

    page.evaluate("() => console.error('provoked by the test')")
    assert any("provoked by the test" in e for e in session.guard.unexpected_console_errors())

    # A navigation elsewhere is recorded and aborted by the safety net (TEST-NET address, never contacted).
    with pytest.raises(Exception):  # noqa: B017 - Playwright raises its own Error for the aborted navigation
        page.goto("http://192.0.2.1/somewhere")
    assert session.guard.foreign_requests() == ["http://192.0.2.1/somewhere"]
    with pytest.raises(AssertionError):
        session.guard.assert_clean()

    # All provoked on purpose: clear them so that the fixture's final check passes.
    session.guard.requests.clear()
    session.guard.csp_violations.clear()
    session.guard.console_errors.clear()
