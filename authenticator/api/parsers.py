"""The API's JSON parser: DRF's, with nesting bounded (authenticator.core.jsonsafe)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser

from authenticator.core import jsonsafe


class JSONParser(DrfJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        data = stream.read() if stream is not None else b""
        try:
            return jsonsafe.loads(data.decode(encoding))
        except jsonsafe.TooDeep:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
