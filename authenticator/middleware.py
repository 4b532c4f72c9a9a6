"""The client's IP for every request (authenticator.edge.client.client_ip)."""

from __future__ import annotations

from .edge.client import client_ip


class ClientIpMiddleware:
    """Rewrites REMOTE_ADDR once, so throttles, logs and flows all see the same client."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        meta["REMOTE_ADDR"] = client_ip(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))
        return self.get_response(request)
