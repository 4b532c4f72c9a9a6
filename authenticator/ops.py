"""Operational endpoints: liveness (``/healthz``) and readiness (``/readyz``).

``/healthz`` answers 200 while the process can answer at all; it touches nothing else,
so a database outage never gets healthy processes restarted.

``/readyz`` checks what a request needs — PostgreSQL, Redis, the Tokenizer — and reports
each: 200 when all are ok, else 503, so a load balancer stops sending traffic here.
Reports name the failure's kind (the exception class), never its message: messages
can carry host names, user names or URLs with credentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import JsonResponse

log = logging.getLogger(__name__)

Check = dict[str, object]


def healthz(request):
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


def readyz(request):
    checks = {name: _run(check) for name, check in CHECKS.items()}
    ready = all(c["status"] in ("ok", "skipped") for c in checks.values())
    response = JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    return response


def _run(check: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", reported by kind
        log.warning("readiness check %s failed: %s", check.__name__, type(exc).__name__)
        result = {"status": "error", "error": type(exc).__name__}
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> Check:
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def check_redis() -> Check:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if "django_redis" not in backend:
        # The embedded default (no REDIS_URL): a local-memory cache has nothing to reach.
        return {"status": "skipped", "detail": "no Redis configured (local-memory cache)"}
    from django_redis import get_redis_connection

    # The raw client: the cache itself swallows Redis errors (DJANGO_REDIS_IGNORE_EXCEPTIONS).
    get_redis_connection("default").ping()
    return {"status": "ok"}


def check_tokenizer() -> Check:
    from authenticator.core.conf import app_settings

    from .tokenizer import tokenizer

    # The cheapest call of the contract; over HTTP it proves the service answers and
    # accepts our API key. (In-process, it proves the signer loads its settings.)
    tokenizer().jwks()
    return {"status": "ok", "mode": "http" if app_settings.TOKENIZER_URL else "embedded"}


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "redis": check_redis,
    "tokenizer": check_tokenizer,
}


PROBE_URL_NAMES = frozenset({"healthz", "readyz", "metrics"})
PROBE_URL_NAMES_SUFFIXES = tuple(PROBE_URL_NAMES)


class ProbeMiddleware:
    """Answers /healthz, /readyz and /metrics before anything checks the Host header.

    Kubernetes probes and Prometheus address a pod by its IP, so their Host header is
    an address no ALLOWED_HOSTS lists, and Django would refuse them (400) in
    CommonMiddleware. These three views read nothing from the request and build no URLs,
    so serving them whatever the Host is safe; every other path keeps the check.
    Place it right after ``RequestIdMiddleware`` (access log and metrics still see them).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.urls import Resolver404, resolve

        if not request.path_info.endswith(PROBE_URL_NAMES_SUFFIXES):  # the common case, no resolve()
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.url_name in PROBE_URL_NAMES and not match.namespace:
            request.resolver_match = match
            return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
