"""Map domain errors to DRF responses, with the same X-Error-Code/X-Error-Message headers as the HF layer."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.wire import header_text
from registry.exceptions import HubError


def exception_handler(exc, context):  # noqa: ANN001, ANN201
    if isinstance(exc, HubError):
        response = Response({"error": exc.message, "code": exc.code}, status=exc.status)
        response["X-Error-Code"] = exc.code
        response["X-Error-Message"] = header_text(exc.message)
        return response
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code >= 400:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        message = str(detail or response.data)
        response["X-Error-Message"] = header_text(message)
        response["X-Error-Code"] = getattr(exc, "default_code", "error").__str__()
    return response
