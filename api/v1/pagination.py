"""Cursor pagination for the native API's lists, over the registry's keyset pages (registry.selectors.keyset).

Every list answers `{"next": <URL or null>, "previous": <URL or null>, "results": [...]}`; `next` and `previous`
are absolute URLs carrying the request's query with an opaque `cursor`. A page costs the same wherever it is.
"""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from registry.exceptions import InvalidInput
from registry.selectors.keyset import KeysetPage


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    limit_query_param = "limit"
    page_size = 50
    max_page_size = 100

    def page_size_for(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw in (None, ""):
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidInput(f"limit must be a whole number from 1 to {self.max_page_size}")
        return int(raw)

    def cursor(self, request: Request) -> str | None:
        return request.query_params.get(self.cursor_query_param) or None

    def response(self, request: Request, page: KeysetPage, data: Any) -> Response:
        url = request.build_absolute_uri()
        return Response({
            "next": replace_query_param(url, self.cursor_query_param, page.next) if page.next else None,
            "previous": (replace_query_param(url, self.cursor_query_param, page.previous) if page.previous
                         else None),
            "results": data,
        })

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The following page (absent on the last page)",
                         "example": "https://hub.example/api/v1/models?cursor=WyJkb3dubG9hZHMiLCJuIixbNSw0Ml1d"},
                "previous": {**link, "description": "The page before (absent on the first page)"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "Opaque position from a previous page's `next` or `previous` link",
             "schema": {"type": "string"}},
            {"name": self.limit_query_param, "required": False, "in": "query",
             "description": f"Results per page (default {self.page_size}, at most {self.max_page_size})",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]


