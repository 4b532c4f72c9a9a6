"""DRF's adapter of the edge's throttling (authenticator.edge.throttle)."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from authenticator.core.errors import RateLimited

from ..edge.throttle import throttle, throttle_key


class CallerThrottle(BaseThrottle):
    """Counts the request against the view's ``throttle_scope`` for the caller: the
    signed-in user, else the client address (REMOTE_ADDR, as ClientIpMiddleware set it —
    DRF's own get_ident would believe any X-Forwarded-For a client sends)."""

    def allow_request(self, request, view) -> bool:
        self._wait: float | None = None
        key = throttle_key(user=getattr(request, "user", None), ip=request.META.get("REMOTE_ADDR"))
        try:
            throttle(scope=getattr(view, "throttle_scope", None), key=key)
        except RateLimited as limited:
            self._wait = limited.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
