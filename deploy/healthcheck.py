"""Container health check: exit 0 when the server in this container answers, 1 when not.

Which server is in the container follows from the role the entrypoint was started with
(PID 1's command line): `grpc` asks the gRPC health service, `worker` (the Celery
worker) reads the age of its heartbeat file, every other role asks GET /healthz over
HTTP. No curl in the image: the standard library (and grpcio, which
the image has anyway) do it.

Environment:
  HEALTHCHECK_URL   full URL to GET (default http://127.0.0.1:$PORT/healthz, PORT 8000)
  GRPC_BIND         the gRPC server's bind address; its port is probed on 127.0.0.1
  HEALTHCHECK_ROLE  overrides the role read from PID 1 (for tests and odd entrypoints)
  WORKER_HEARTBEAT_FILE     the file the worker touches while connected to its broker
  WORKER_HEARTBEAT_MAX_AGE  seconds it may be old (default 30: several missed beats)
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0


def container_role() -> str:
    if os.environ.get("HEALTHCHECK_ROLE"):
        return os.environ["HEALTHCHECK_ROLE"]
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            argv = [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return "web"
    # argv is e.g. ["/bin/sh", "/app/deploy/entrypoint.sh", "grpc"] before the exec, and
    # ["python", "manage.py", "grpcserver", ...] after it.
    if "grpc" in argv or "grpcserver" in argv:
        return "grpc"
    if "worker" in argv:  # ["/bin/sh", ".../entrypoint.sh", "worker"], then ["celery", "-A", "config", "worker", ...]
        return "worker"
    return "web"


def check_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def check_grpc(bind: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = bind.rsplit(":", 1)[-1]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def check_heartbeat(path: str, max_age: float) -> bool:
    """The worker touches the file every few seconds while its broker answers
    (authenticator/worker/process.py); a missing or stale file is an unhealthy worker."""
    try:
        return time.time() - os.stat(path).st_mtime <= max_age
    except OSError:
        return False


def main() -> int:
    role = container_role()
    if role == "worker":
        healthy = check_heartbeat(os.environ.get("WORKER_HEARTBEAT_FILE", "/tmp/authn-worker-heartbeat"),  # nosec B108 - the worker's own tmpfs
                                  float(os.environ.get("WORKER_HEARTBEAT_MAX_AGE", "30")))
    elif role == "grpc":
        healthy = check_grpc(os.environ.get("GRPC_BIND", "0.0.0.0:50051"))
    else:
        port = os.environ.get("PORT", "8000")
        healthy = check_http(os.environ.get("HEALTHCHECK_URL", f"http://127.0.0.1:{port}/healthz"))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
