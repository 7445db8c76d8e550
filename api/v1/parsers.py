"""Request parsers of the native API."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from api.wire import parse_json
from registry.exceptions import InvalidInput


class StrictJSONParser(JSONParser):
    """JSON bodies as the HF routes read them (api.wire.parse_json): too deep, NUL characters, lone surrogates or
    duplicate keys are a 400 with the reason, never a RecursionError or a database error."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return parse_json(stream.read() if stream is not None else b"")
        except InvalidInput as exc:
            raise ParseError(exc.message) from exc
