"""hypercorn settings for the HTTP/2 server — the same Django app, over ASGI:

    hypercorn --config file:config/hypercorn.py config.asgi:application

(run from the project directory; ``python -m hypercorn --config python:config.hypercorn ...``
is the same — the ``hypercorn`` script alone can't import ``config`` by module name unless
the project is on PYTHONPATH).

One port speaks both protocols.
- Cleartext (no certificate given): HTTP/2 with prior knowledge (h2c), HTTP/1.1, and
  HTTP/1.1 requests without a body that ask ``Upgrade: h2c``.
- TLS (``H2_CERTFILE`` and ``H2_KEYFILE``): ALPN offers ``h2`` then ``http/1.1``.

Environment (all optional):
- ``H2_BIND`` wins: where to listen, comma-separated ``host:port`` / ``unix:path`` /
  ``fd://n``; otherwise ``HOST:PORT`` as for gunicorn — ``HOST`` defaults to every
  interface (``0.0.0.0``, for a container), ``PORT`` to 8443 (the image sets PORT=8000 for
  the web role: the h2 role is run with ``PORT=8443``). Port 0 picks a free one.
- ``H2_CERTFILE``, ``H2_KEYFILE`` (PEM) and ``H2_KEYFILE_PASSWORD``: serve TLS on H2_BIND;
  ``H2_INSECURE_BIND``: extra cleartext listeners beside them (e.g. for a health probe).
- ``H2_WORKERS`` (or ``WEB_CONCURRENCY``) processes (default: CPU cores, at most 8). Each worker is one asyncio
  loop; Django runs every sync view (all of DRF) in a thread of its own, which takes a
  PostgreSQL connection from the worker's psycopg pool for the request and gives it back
  at the end (CONN_MAX_AGE=0). Size ``DB_POOL_MAX_SIZE`` for the requests one worker
  serves at once; the rest wait up to ``DB_POOL_TIMEOUT``.
- ``H2_MAX_CONCURRENT_STREAMS`` (100), ``H2_KEEPALIVE`` seconds (75), ``H2_GRACEFUL_TIMEOUT``
  seconds (25), ``H2_BACKLOG`` (2048), ``H2_ACCESSLOG`` (``-`` = stdout; empty = off),
  ``H2_LOGLEVEL`` (INFO).

Workers are spawned, not forked: each imports the app and leases its own Sonyflake
machine id and database pool.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


bind = _env_list("H2_BIND") or [f"{os.environ.get('HOST') or '0.0.0.0'}:{_env_int('PORT', 8443)}"]  # nosec B104 - a container listens on all its interfaces

# --- TLS ----------------------------------------------------------------------------------
certfile = os.environ.get("H2_CERTFILE") or None
keyfile = os.environ.get("H2_KEYFILE") or None
keyfile_password = os.environ.get("H2_KEYFILE_PASSWORD") or None
if bool(certfile) != bool(keyfile):
    # hypercorn would quietly serve cleartext with only one of them.
    raise RuntimeError("Set both H2_CERTFILE and H2_KEYFILE for TLS, or neither for cleartext.")
insecure_bind = _env_list("H2_INSECURE_BIND") if certfile else []
alpn_protocols = ["h2", "http/1.1"]

# --- processes and connections -------------------------------------------------------------
workers = _env_int("H2_WORKERS", _env_int("WEB_CONCURRENCY", max(1, min(os.cpu_count() or 1, 8))))
worker_class = "asyncio"
backlog = _env_int("H2_BACKLOG", 2048)
h2_max_concurrent_streams = _env_int("H2_MAX_CONCURRENT_STREAMS", 100)
# Longer than a load balancer's idle timeout, so the balancer closes first.
keep_alive_timeout = _env_int("H2_KEEPALIVE", 75)
# On SIGTERM (a rolling deploy) in-flight requests get this long to finish.
graceful_timeout = _env_int("H2_GRACEFUL_TIMEOUT", 25)

# --- logs: stdout/stderr, for the container runtime to collect ---------------------------
# Off unless asked for, as gunicorn's: the application logs one JSON line per request
# with its request id (authenticator.core.logging.RequestIdMiddleware).
accesslog = os.environ.get("H2_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("H2_LOGLEVEL", "INFO").upper()
access_log_format = '%(h)s "%(m)s %(U)s HTTP/%(H)s" %(s)s %(b)s %(L)ss "%(a)s"'  # the path without its query
# hypercorn's error logger has its own handler; once Django configures logging, records
# would also reach the root handler and print twice. (incremental: keep that handler.)
logconfig_dict = {"version": 1, "incremental": True, "loggers": {"hypercorn.error": {"propagate": False}}}



def _refuse_to_start_on_check_errors() -> None:
    """Django's system checks, here in the parent: a worker that refuses to start (in
    config/asgi.py) stops hypercorn, but hypercorn then exits 0, which a supervisor reads
    as a clean stop."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management.base import SystemCheckError

    django.setup()
    from config.startup import refuse_to_start_on_check_errors

    try:
        refuse_to_start_on_check_errors()
    except SystemCheckError as exc:
        raise SystemExit(str(exc)) from None


_refuse_to_start_on_check_errors()

# hypercorn copies every public module attribute into its Config: keep only settings.
del _env_int, _env_list, _refuse_to_start_on_check_errors
