"""Per-IP throttles on unauthenticated endpoints (Redis), keyed by the real client IP."""

from __future__ import annotations

import logging

from rest_framework.throttling import ScopedRateThrottle

from authenticator.core.throttling import requests_in_window

log = logging.getLogger(__name__)


class ClientIpThrottle(ScopedRateThrottle):
    def get_ident(self, request) -> str:
        # REMOTE_ADDR was set by ClientIpMiddleware (trusted proxies only); DRF's own
        # get_ident would believe any X-Forwarded-For a client sends.
        return request.META.get("REMOTE_ADDR") or "unknown"

    def get_rate(self) -> str | None:
        # Read per request (DRF reads rates once at import), so settings changes apply.
        from rest_framework.settings import api_settings

        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        """On Redis: a fixed window counted by one atomic INCR (one round trip, O(1)
        memory); elsewhere DRF's sliding window. Either way a cache outage lets requests
        through (logged) rather than taking sign-in down."""
        self._wait = None
        try:
            self.scope = getattr(view, self.scope_attr, None)
            rate = self.get_rate() if self.scope else None
            if rate is None:
                return True
            limit, duration = self.parse_rate(rate)
            user = getattr(request, "user", None)
            ident = f"user:{user.pk}" if user is not None and getattr(user, "is_authenticated", False) else self.get_ident(request)
            counted = requests_in_window(scope=self.scope, ident=ident, duration=duration)
            if counted is None:
                return super().allow_request(request, view)
            count, self._wait = counted
            return count <= limit
        except Exception:  # noqa: BLE001 - a cache outage must not take sign-in down
            log.warning("ip throttle skipped: cache unavailable", exc_info=True)
            return True

    def wait(self) -> float | None:
        return self._wait if self._wait is not None else super().wait()
