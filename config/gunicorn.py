"""gunicorn settings for the HTTP/1.1 server: `gunicorn -c config/gunicorn.py config.wsgi:application`.

Every value comes from the environment so one image fits every host size. No preload_app:
each worker imports the app and opens its own PostgreSQL pool (and leases its own
Sonyflake machine id) after the fork, so no connection or id is shared between workers.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def default_workers(cores: int, cap: int = 12) -> int:
    """The classic 2 x cores + 1, capped: a big host shouldn't open hundreds of DB pools."""
    return max(1, min(2 * cores + 1, cap))


# --- where to listen --------------------------------------------------------------------
# GUNICORN_BIND wins (e.g. "unix:/run/app.sock"); otherwise HOST:PORT. In a container
# HOST defaults to every interface; PORT=0 asks the kernel for a free port.
bind = [os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '0.0.0.0')}:{_int('PORT', 8000)}"]  # nosec B104 - a container listens on all its interfaces
backlog = _int("GUNICORN_BACKLOG", 2048)

# --- processes --------------------------------------------------------------------------
workers = _int("WEB_CONCURRENCY", default_workers(multiprocessing.cpu_count(), _int("WEB_CONCURRENCY_CAP", 12)))
# Threads make gunicorn use the gthread worker: requests that wait on the Tokenizer or
# PostgreSQL don't hold a whole process.
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
preload_app = False

# Recycle workers now and then (bounded memory growth); jitter so they don't all restart
# at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)

# --- time -------------------------------------------------------------------------------
# A request stuck longer than this (the Tokenizer's read timeout is 5 s) kills its worker.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (a rolling deploy) in-flight requests get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Longer than a load balancer's idle timeout, so the balancer closes first.
keepalive = _int("GUNICORN_KEEPALIVE", 75)

# --- behind a proxy ---------------------------------------------------------------------
# Which peers may set X-Forwarded-Proto/-For for gunicorn itself; the app decides the
# client IP from TRUSTED_PROXIES on its own.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# --- limits -----------------------------------------------------------------------------
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)

# --- logs: stdout/stderr, for the container runtime to collect --------------------------
# The application writes its own access line per request (JSON, with the request id:
# authenticator.core.logging.RequestIdMiddleware); gunicorn's would be a second, poorer line
# and costs a formatted log record per request, so it is off unless asked for.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Tmp files for worker heartbeats in memory: a read-only root filesystem has no /tmp
# writes to spare and a disk-backed /tmp can stall heartbeats.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)  # nosec B108 - heartbeat files only, see above

proc_name = "authenticator-web"

# gunicorn's runtime control socket (gunicornc) is off unless a path is given: its default
# lives under $HOME, which is read-only in the container, and two servers on one host
# would fight over it.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket

# Development only (docker-compose.yml): restart workers when the code changes.
reload = os.environ.get("GUNICORN_RELOAD", "").lower() in {"1", "true", "yes", "on"}


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """With PROMETHEUS_MULTIPROC_DIR set, forget a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
