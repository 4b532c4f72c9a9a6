"""What a gRPC call tells about its caller: client IP, device, bearer token, IP throttle.

Each reuses the REST implementation, so both transports apply one rule: the client IP
via ``client_ip`` (x-forwarded-for believed only from trusted proxies), the token via
``BearerTokenAuthentication`` (introspected, cached), and the per-IP limits via the
same DRF throttle class, rates and Redis keys — a client's budget is shared by REST and
gRPC, so switching transport buys no extra tries.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from types import SimpleNamespace

import grpc

from accounts.models import User
from authenticator.core.errors import NotAuthenticated, RateLimited
from sessions_log.services import Device

from ..api.authentication import BearerTokenAuthentication
from ..api.throttles import ClientIpThrottle
from ..middleware import client_ip
from ..tokenizer import Introspection


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


def device_of(context: grpc.ServicerContext, platform: str = "") -> Device:
    return Device(platform=platform or "", ip=caller_ip(context),
                  user_agent=(metadata_value(context, "user-agent") or "")[:512])


def throttle(context: grpc.ServicerContext, scope: str, user: User | None = None) -> None:
    """Count this call against the caller IP's ``scope`` budget — or, given the signed-in
    ``user``, against that user's (the key REST's THROTTLE_USER counts too); RateLimited
    past it."""
    limiter = ClientIpThrottle()
    request = SimpleNamespace(META={"REMOTE_ADDR": caller_ip(context)}, user=user)
    if not limiter.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        raise RateLimited(retry_after=math.ceil(limiter.wait() or 1))


@dataclass(frozen=True)
class Caller:
    user: User
    token: Introspection

    @property
    def session_id(self) -> str:
        return str(self.token.sid)


def authenticate(context: grpc.ServicerContext) -> Caller:
    """The user of the bearer token in ``authorization`` metadata; NotAuthenticated /
    InvalidToken (UNAUTHENTICATED) otherwise."""
    header = metadata_value(context, "authorization")
    found = {"authorization": header} if header else {}
    request = SimpleNamespace(headers=found, META={"HTTP_" + k.upper(): v for k, v in found.items()})
    result = BearerTokenAuthentication().authenticate(request)
    if result is None:
        raise NotAuthenticated()
    user, info = result
    return Caller(user=user, token=info)
