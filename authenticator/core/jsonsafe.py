"""JSON from outside, read with a bound on nesting.

Python's json module recurses once per level, so a few kilobytes of ``[`` reach the
interpreter's recursion limit and raise RecursionError — which no ``except ValueError``
around a parse catches. Nothing this service reads (request bodies, Tokenizer and
provider answers, token claims) nests more than a few levels, so anything deeper than
``MAX_DEPTH`` is refused as malformed before the parser sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

# A string (escapes included) or one bracket: brackets inside strings don't nest.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class TooDeep(ValueError):
    """Nested deeper than allowed; a ValueError, like every other malformed document."""


def depth_exceeds(data: bytes, max_depth: int = MAX_DEPTH) -> bool:
    # Most documents have fewer brackets than the limit at all: no scan needed.
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing documents nested deeper than ``max_depth`` (TooDeep)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if depth_exceeds(raw, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise TooDeep("JSON nested too deeply") from None
