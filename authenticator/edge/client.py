"""Who is calling: the client's address, and the ``Requester`` a sign-in records."""

from __future__ import annotations

import functools
import ipaddress

from authenticator.core.conf import app_settings
from sessions_log.services import Requester

__all__ = ["Requester", "client_ip", "requester"]

MAX_USER_AGENT = 512


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
    """The client's address: the socket ``peer``, or X-Forwarded-For walked from the
    right while hops are trusted proxies (TRUSTED_PROXIES).

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


def requester(*, ip: str | None, user_agent: str | None, platform: str = "") -> Requester:
    """The caller as a sign-in records it; ``platform`` (the ``device`` input) is added by
    ``authenticator.edge.inputs``."""
    return Requester(platform=platform, ip=ip, user_agent=(user_agent or "")[:MAX_USER_AGENT])
