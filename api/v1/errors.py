"""Map domain errors to DRF responses, with the same X-Error-Code/X-Error-Message headers as the HF layer.

Every error body is the documented envelope `{"error": <message>, "code": <code>}`; a validation error adds
`"fields"` (DRF's per-field messages), so a client reads one shape whatever went wrong.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.wire import header_text
from registry.exceptions import HubError


def _flatten(data: Any, prefix: str = "") -> list[str]:
    """DRF's nested error detail as "field: message" lines."""
    if isinstance(data, dict):
        return [line for key, value in data.items() for line in _flatten(value, f"{prefix}{key}: ")]
    if isinstance(data, list):
        return [line for value in data for line in _flatten(value, prefix)]
    return [f"{prefix}{data}"]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
           fields: Any = None) -> Response:
    body: dict[str, Any] = {"error": message, "code": code}
    if fields is not None:
        body["fields"] = fields
    response = Response(body, status=status, headers=headers)
    response["X-Error-Code"] = code
    response["X-Error-Message"] = header_text(message)
    return response


def exception_handler(exc, context):  # noqa: ANN001, ANN201
    if isinstance(exc, HubError):
        return _error(exc.status, exc.code, exc.message)
    response = drf_exception_handler(exc, context)
    if response is None or response.status_code < 400:
        return response
    code = str(getattr(exc, "default_code", "error"))
    headers = {k: v for k, v in response.headers.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}
    if isinstance(exc, ValidationError):
        lines = _flatten(response.data)
        message = "; ".join(lines[:10]) or "invalid input"
        return _error(response.status_code, code, message, headers, fields=response.data)
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    return _error(response.status_code, code, str(detail or response.data), headers)
