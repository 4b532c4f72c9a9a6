"""Throttling by scope and key, for every transport: one budget per (scope, key).

The key is the signed-in user (``user:<id>``) when there is one, else the client address
(``authenticator.edge.client``): so an account must not probe at machine speed, and
switching transport buys no extra tries — REST and gRPC count in the same Redis keys.
The rates are the scopes of ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``
(``THROTTLE_*``), where operators already set them, read per call so settings changes
apply. A cache outage lets calls through (logged) rather than taking sign-in down.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings

from authenticator.core.errors import RateLimited
from authenticator.core.throttling import requests_in_window

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def throttle_key(*, user=None, ip: str | None) -> str:
    """The signed-in ``user``'s key if there is one, else the client address's."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return ip or "unknown"


def rate(scope: str) -> tuple[int, int] | None:
    """(calls, seconds) allowed in ``scope``, or None when the scope is not limited."""
    spec = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES", {}).get(scope)
    if spec is None:
        return None
    calls, period = spec.split("/")
    return int(calls), PERIODS[period[0]]


def throttle(*, scope: str | None, key: str) -> None:
    """Count one call of ``key`` in ``scope``'s current window
    (``core.throttling.requests_in_window``); RateLimited past its rate."""
    try:
        limit = rate(scope) if scope else None
        if limit is None:
            return
        calls, duration = limit
        count, wait = requests_in_window(scope=scope, ident=key, duration=duration)
    except Exception:  # noqa: BLE001 - a cache outage must not take sign-in down
        log.warning("throttle skipped: cache unavailable", exc_info=True)
        return
    if count is not None and count > calls:  # None: the cache went away meanwhile
        raise RateLimited(retry_after=math.ceil(wait or 1))
