"""Template bodies render in a limited child process: a runaway loop costs the configured seconds, not
hours of a worker, answers 422 template_error and stores nothing; the next render works."""

from __future__ import annotations

import time

import pytest

from docmgr.drafting import rendering
from tests.conftest import stored_blob_count, table_counts
from tests.drafting.test_api import GOOD_BODY, GOOD_FIELDS, render

TIMEOUT = 2
TIMEOUT_MESSAGE = f"The template took longer than {TIMEOUT} seconds to render; check its loops."
NESTED_LOOPS = (
    '<section>\n<div lang="it"><p>{{ it.when }}</p>\n'
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}</div>\n"
    '<div lang="ru"><p>{{ ru.when }}</p></div>\n</section>\n'
)
LONG_STRINGS = (
    '<section>\n<div lang="it"><p>{{ it.when }}</p>\n'
    "{% for c in 'x' * 100000 %}{% for d in 'y' * 100000 %}{% endfor %}{% endfor %}</div>\n"
    '<div lang="ru"><p>{{ ru.when }}</p></div>\n</section>\n'
)


def limits(timeout: float = TIMEOUT) -> rendering.RenderLimits:
    return rendering.RenderLimits.for_timeout(timeout)


# --- the pure layer --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [NESTED_LOOPS, LONG_STRINGS])
def test_a_runaway_loop_is_stopped_at_the_time_limit(body):
    specs = rendering.parse_field_declarations(GOOD_FIELDS)
    started = time.monotonic()
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.validate_template(body, specs, limits())
    assert str(caught.value) == TIMEOUT_MESSAGE
    assert time.monotonic() - started < TIMEOUT + 3
    rendering.validate_template(GOOD_BODY, specs, limits())  # the next render works


def test_errors_keep_their_line_across_the_child():
    specs = rendering.parse_field_declarations(GOOD_FIELDS)
    body = '<section>\n<div lang="it">x</div>\n<div lang="ru">\n{{ 1 // 0 }}</div>\n</section>\n'
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.validate_template(body, specs, limits())
    assert caught.value.line == 4 and "ZeroDivisionError" in caught.value.message
    assert str(caught.value).startswith("Line 4: ")
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.validate_template(
            '<section>\n<div lang="it">{{ \'\'.__class__.__mro__ }}</div><div lang="ru">x</div></section>', specs,
            limits(),
        )
    assert caught.value.line == 2 and caught.value.message.startswith("Not allowed in templates")


def test_the_child_renders_what_the_process_renders():
    specs = rendering.parse_field_declarations(GOOD_FIELDS)
    data = rendering.sample_snapshot(specs)
    in_child = rendering.render_agreement(GOOD_BODY, specs, data, limits=limits())
    in_process = rendering.render_agreement(GOOD_BODY, specs, data, limits=None)
    assert in_child.summaries() == in_process.summaries()


def test_a_template_that_exhausts_memory_is_a_template_error():
    specs = rendering.parse_field_declarations(GOOD_FIELDS)
    body = ('<section>\n<div lang="it">{% set ns = namespace(s="x" * 100000) %}\n'
            "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}</div>"
            '<div lang="ru">x</div></section>')
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.validate_template(body, specs, limits(20))
    assert "memory" in caught.value.message


def test_an_enormous_output_is_refused():
    specs = rendering.parse_field_declarations(GOOD_FIELDS)
    body = ('<section>\n<div lang="it">{% for i in range(100) %}{{ "x" * 100000 }}{% endfor %}</div>'
            '<div lang="ru">x</div></section>')
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.validate_template(body, specs, limits(10))
    assert "characters" in caught.value.message


# --- through the API --------------------------------------------------------------------------------


@pytest.mark.app_config(TEMPLATE_RENDER_TIMEOUT_SECONDS=TIMEOUT)
@pytest.mark.parametrize("body", [NESTED_LOOPS, LONG_STRINGS])
def test_a_new_template_version_with_a_runaway_loop_is_refused_in_time(app, client, token_for, world, body):
    headers = token_for(world.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    for url, payload in (
        ("/api/v1/templates", {"key": "loops", "name": "Loops", "fields": GOOD_FIELDS, "body": body}),
        ("/api/v1/templates/mou/versions", {"body": body, "fields": GOOD_FIELDS}),
    ):
        started = time.monotonic()
        response = client.post(url, json=payload, headers=headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 422, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "template_error" and error["field"] == "body"
        assert error["message"] == TIMEOUT_MESSAGE
        assert elapsed < TIMEOUT + 3
    assert table_counts() == before and stored_blob_count(app) == blobs

    good = client.post("/api/v1/templates/mou/versions", json={"body": GOOD_BODY, "fields": GOOD_FIELDS},
                       headers=headers)
    assert good.status_code == 201, good.get_json()


@pytest.mark.app_config(TEMPLATE_RENDER_TIMEOUT_SECONDS=TIMEOUT)
def test_a_draft_of_an_agreement_whose_template_loops_on_its_data_is_refused_in_time(
    app, client, token_for, world, create_mou
):
    """Validation renders with sample values; a body that only loops on real data passes it. The draft
    render then stops at the limit, answers template_error and stores nothing."""
    headers = token_for(world.legal)
    body = (
        '<section>\n<div lang="it"><p>{{ it.when }}</p>\n'
        "{% if fields.n == 7 %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
        "{% endfor %}{% endif %}</div>\n"
        '<div lang="ru"><p>{{ ru.when }}</p></div>\n</section>\n'
    )
    fields = [*GOOD_FIELDS, {"name": "n", "label_it": "N", "label_ru": "N", "type": "number", "required": True}]
    created = client.post("/api/v1/templates", json={"key": "trap", "name": "Trap", "fields": fields, "body": body},
                          headers=headers)
    assert created.status_code == 201, created.get_json()
    agreement = client.post("/api/v1/agreements", json={
        "template": "trap", "organization_ids": [world.org_it.id, world.org_ru.id],
        "fields": {"when": "2026-01-01", "n": 7},
        "signatories": [{"name": "Marco Bianchi", "organization_id": world.org_it.id}],
    }, headers=headers).get_json()

    before, blobs = table_counts(), stored_blob_count(app)
    started = time.monotonic()
    response = client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "template_error"
    assert error["message"] == f"Template trap v1: {TIMEOUT_MESSAGE}"
    assert elapsed < TIMEOUT + 3
    assert table_counts() == before and stored_blob_count(app) == blobs

    # the worker is free and the next normal render works
    fixed = client.patch(f"/api/v1/agreements/{agreement['id']}", json={"fields": {"n": 3}}, headers=headers)
    assert fixed.status_code == 200, fixed.get_json()
    assert render(client, headers, agreement["id"])["version"] == 1
    assert render(client, headers, create_mou()["id"])["version"] == 1
