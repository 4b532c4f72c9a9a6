"""The client's IP: the socket peer, or X-Forwarded-For only behind trusted proxies."""

from __future__ import annotations

import functools
import ipaddress

from authenticator.core.conf import app_settings


@functools.cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def _trusted(ip: str, networks) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)


def client_ip(peer: str | None, forwarded_for: str | None) -> str | None:
    """Walk X-Forwarded-For from the right while hops are trusted proxies.

    The first untrusted hop is the client. An untrusted peer's header is ignored, so a
    client can't pick its own address (and its own throttle bucket).
    """
    networks = _networks(tuple(app_settings.TRUSTED_PROXIES))
    if not peer or not networks or not _trusted(peer, networks) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return client


class ClientIpMiddleware:
    """Rewrites REMOTE_ADDR once, so throttles, logs and flows all see the same client."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        meta["REMOTE_ADDR"] = client_ip(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))
        return self.get_response(request)
