"""Build and run the gRPC server: the Authenticator service, health checking, reflection.

``build_server`` is what both the management command and the tests use (tests bind
127.0.0.1:0 and read the port back). Handlers run on a pool of ``workers`` threads, each
of which may hold one database connection, so the PostgreSQL connection pool is grown
to fit them plus the background jobs before the first connection is made.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from django.db import connections
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from authenticator.core import background
from authenticator.core.conf import app_settings
from authenticator.core.ids import lease_before_serving

from .errors import ErrorInterceptor
from .reflection import enable_server_reflection
from .servicer import SERVICE_NAME, AuthenticatorServicer
from .v1 import authenticator_pb2_grpc

log = logging.getLogger(__name__)

# Past this many calls waiting or running, new ones get RESOURCE_EXHAUSTED at once rather
# than queueing without bound behind a slow dependency.
QUEUE_FACTOR = 8


@dataclass
class GrpcServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer

    def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, refuse new calls, let running ones finish within ``grace``."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()


def size_db_pool(workers: int) -> int:
    """Make the connection pool hold one connection per worker thread (plus background).

    Returns the pool's max size (0 when the database is not pooled)."""
    needed = workers + background.MAX_WORKERS
    for alias in connections:
        wrapper = connections[alias]
        options = wrapper.settings_dict.get("OPTIONS", {}).get("pool")
        if not options:
            continue
        if options is True:
            options = wrapper.settings_dict["OPTIONS"]["pool"] = {}
        if int(options.get("max_size") or 0) < needed:
            options["max_size"] = needed
        pool = type(wrapper)._connection_pools.get(alias)
        if pool is not None and pool.max_size < needed:  # already open: grow it in place
            pool.resize(min_size=pool.min_size, max_size=needed)
        return int(options["max_size"])
    return 0


def build_server(*, bind: str | None = None, workers: int | None = None, reuse_port: bool = False) -> GrpcServer:
    """A started server on ``bind`` (host:port; port 0 picks a free one).

    ``reuse_port`` lets it share the port with other processes that set ``SO_REUSEPORT``
    (``grpcserver --processes N``: the kernel spreads connections over them); without it
    a taken port fails."""
    bind = bind or str(app_settings.GRPC_BIND)
    workers = int(workers or app_settings.GRPC_WORKERS)
    if workers < 1:
        raise ValueError("workers must be at least 1")
    size_db_pool(workers)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="authn-grpc"),
        interceptors=[ErrorInterceptor()],
        maximum_concurrent_rpcs=workers * QUEUE_FACTOR,
        options=[("grpc.so_reuseport", int(reuse_port))],
    )
    authenticator_pb2_grpc.add_AuthenticatorServicer_to_server(AuthenticatorServicer(), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_server_reflection((SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name), server)
    port = server.add_insecure_port(bind)
    if port == 0:
        raise RuntimeError(f"cannot bind gRPC server to {bind}")
    lease_before_serving()
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    log.info("gRPC server on %s (port %s, %s workers)", bind, port, workers)
    return GrpcServer(server=server, port=port, health=health_servicer)
