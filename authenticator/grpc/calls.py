"""What a gRPC call tells about its caller — its address, its bearer token — adapted to
the edge (authenticator.edge), so both transports apply one rule: the client IP via
``client_ip`` (x-forwarded-for believed only from trusted proxies), the token via
``bearer_caller`` (introspected, cached), and the limits via ``throttle`` with the same
scopes, rates and Redis keys — a client's budget is shared by REST and gRPC, so
switching transport buys no extra tries.
"""

from __future__ import annotations

import ipaddress

import grpc

from accounts.models import User
from authenticator.core.errors import NotAuthenticated

from ..edge.auth import Caller, bearer_caller
from ..edge.client import Requester, client_ip, requester
from ..edge.throttle import throttle, throttle_key

__all__ = ["Caller", "authenticate", "caller_ip", "metadata_value", "peer_ip", "requester_of", "throttled"]


def metadata_value(context: grpc.ServicerContext, key: str) -> str | None:
    """The last value of an ASCII metadata ``key`` (lower-case), or None."""
    value = None
    for item in context.invocation_metadata() or ():
        if item.key == key and isinstance(item.value, str):
            value = item.value
    return value


def peer_ip(peer: str | None) -> str | None:
    """The address in a gRPC peer string: ``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``."""
    if not peer:
        return None
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6":
        host = rest.rpartition(":")[0].strip("[]")
        host = host.split("%", 1)[0]  # zone index
    else:
        return None  # unix sockets and the like: no network address
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def caller_ip(context: grpc.ServicerContext) -> str | None:
    return client_ip(peer_ip(context.peer()), metadata_value(context, "x-forwarded-for"))


def requester_of(context: grpc.ServicerContext) -> Requester:
    return requester(ip=caller_ip(context), user_agent=metadata_value(context, "user-agent"))


def throttled(context: grpc.ServicerContext, scope: str, user: User | None = None) -> None:
    """Count this call against ``scope``'s budget for the signed-in ``user``, else for the
    caller's address; RateLimited past it."""
    throttle(scope=scope, key=throttle_key(user=user, ip=caller_ip(context)))


def authenticate(context: grpc.ServicerContext) -> Caller:
    """The caller of the bearer token in ``authorization`` metadata; NotAuthenticated /
    InvalidToken (UNAUTHENTICATED) otherwise."""
    caller = bearer_caller(authorization=metadata_value(context, "authorization"))
    if caller is None:
        raise NotAuthenticated()
    return caller
