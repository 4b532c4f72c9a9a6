"""Per-IP throttles on unauthenticated endpoints (Redis), keyed by the real client IP."""

from __future__ import annotations

import logging

from rest_framework.throttling import ScopedRateThrottle

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
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - a cache outage must not take sign-in down
            log.warning("ip throttle skipped: cache unavailable", exc_info=True)
            return True
