"""GET /api/v1/openapi.json: an OpenAPI 3 description of the JSON API.

Paths are read from the app's URL map, so no endpoint can be missing from the description; the
shapes that clients rely on (API.md) are written out below and attached where they belong.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify

from docmgr.api import bp

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "invalid_field"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": ERROR,
    "File": {
        "type": "object",
        "properties": {
            name: {"type": kind}
            for name, kind in [
                ("id", "integer"), ("filename", "string"), ("language", "string"), ("sha256", "string"),
                ("size", "integer"), ("content_type", "string"), ("version", "integer"), ("created_at", "string"),
            ]
        },
    },
    "Document": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "title_it": {"type": "string"}, "title_ru": {"type": "string"},
            "kind": {"type": "string", "enum": ["proposal", "agreement", "annex", "other"]},
            "sectors": {"type": "array", "items": {"type": "string"}},
            "organization_id": {"type": "integer"}, "session_id": {"type": "integer", "nullable": True},
            "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}},
        },
    },
    "DocumentList": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Document"}},
            "total": {"type": "integer"}, "page": {"type": "integer"},
        },
    },
    "SearchResult": {
        "type": "object",
        "properties": {
            "total": {"type": "integer"},
            "hits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "document_id": {"type": "integer"}, "title_it": {"type": "string"},
                        "title_ru": {"type": "string"}, "kind": {"type": "string"}, "score": {"type": "number"},
                        "highlights": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "facets": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}},
        },
    },
    "Token": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "string"}}},
}

# (method, path) -> extra operation fields
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/auth/token"): {
        "security": [],
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "required": ["email", "password"],
            "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}}}},
        "responses": {"201": {"description": "a token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}}}},
    },
    ("post", "/api/v1/documents"): {
        "requestBody": {"content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "title_it": {"type": "string"}, "title_ru": {"type": "string"},
                "kind": {"type": "string", "enum": ["proposal", "agreement", "annex", "other"]},
                "sectors": {"type": "string", "description": "comma-separated: energy, construction, mechanics, nanotech, biotech, other"},
                "session_id": {"type": "integer"}, "organization_id": {"type": "integer"},
                "language": {"type": "string", "enum": ["it", "ru", "bi"]},
            }}}}},
        "responses": {"201": {"description": "the document", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}}}},
    },
    ("get", "/api/v1/documents"): {
        "responses": {"200": {"description": "documents you may see", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentList"}}}}},
    },
    ("get", "/api/v1/documents/{document_id}"): {
        "responses": {"200": {"description": "the document with its files", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}}}},
    },
    ("get", "/api/v1/search"): {
        "responses": {"200": {"description": "hits and facets you may see", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResult"}}}}},
    },
}

ERROR_RESPONSES = {
    code: {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for code, text in [
        ("400", "malformed request"), ("401", "not logged in"), ("403", "not allowed"),
        ("404", "not found (also for what exists but is not yours)"), ("409", "conflict"), ("413", "too large"),
        ("415", "unsupported file type"), ("422", "invalid field values"),
    ]
}


def build_spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(bp.url_prefix + "/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        doc = (view.__doc__ or "").strip()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": doc.splitlines()[0] if doc else rule.endpoint.rsplit(".", 1)[-1].replace("_", " "),
                "parameters": [
                    {"name": arg, "in": "path", "required": True, "schema": {"type": "integer" if f"<int:{arg}>" in rule.rule else "string"}}
                    for arg in sorted(rule.arguments)
                ],
                "responses": {"200": {"description": "success"}, **ERROR_RESPONSES},
            }
            extra = OPERATIONS.get((method.lower(), path), {})
            responses = {**operation["responses"], **extra.get("responses", {})}
            operation.update({k: v for k, v in extra.items() if k != "responses"})
            operation["responses"] = responses
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "docmgr API", "version": "1", "description": "Documents and agreements of the Italian–Russian task force."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
        },
        "security": [{"bearer": []}, {"session": []}],
    }


@bp.get("/openapi.json")
def openapi_json():
    """This description of the API."""
    return jsonify(build_spec())
