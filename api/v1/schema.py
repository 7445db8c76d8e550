"""The error contract in the OpenAPI schema: every operation may answer with the error envelope of api/v1/errors.py.

Any request can be malformed (400: a NUL in the URL, JSON too deep, a field of the wrong type), any operation on
`/models/{namespace}/{name}/…` can name a repo that isn't there or is private (404), and a write needs a caller with
the right to make it (401/403); a body must come in a media type the API parses (415). Operations document their
own errors where they say more; this hook fills in the rest, so a client (and the schemathesis test) can rely on
every status the API sends being documented.
"""

from __future__ import annotations

from typing import Any

ENVELOPE = "ErrorEnvelope"
_DEFAULTS = {
    "400": "Malformed request: bad JSON, a NUL in the URL, a field of the wrong type",
    "401": "Anonymous caller (send Authorization: Bearer <API key>)",
    "403": "Not allowed: the key's scope or the caller's role",
    "404": "No such model, revision or release, or private to the caller",
    "415": "The body is not JSON, form data or multipart",
}


def document_error_contract(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ENVELOPE] = {
        "type": "object",
        "required": ["error", "code"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a person"},
            "code": {"type": "string", "description": "Stable machine-readable code (also in X-Error-Code)"},
            "fields": {"type": "object", "additionalProperties": True,
                       "description": "Per-field messages of a validation error"},
        },
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            wanted = ["400"]
            if "{" in path:
                wanted.append("404")
            if method in ("post", "put", "patch", "delete"):
                wanted += ["401", "403"]
            if "requestBody" in operation:
                wanted.append("415")
            for status in wanted:
                operation["responses"].setdefault(status, {
                    "description": _DEFAULTS[status],
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ENVELOPE}"}}},
                })
    return result
