"""Prometheus metrics, served at ``GET /metrics`` in the text exposition format.

What is counted, and where:

- HTTP requests by method, URL *pattern* and status, with their duration
  (``authenticator.core.logging.RequestIdMiddleware``);
- OTP requests answered and OTP checks by the answer given (verified / failed /
  locked), by channel and purpose (the flows);
- sign-ins by method (``otp_sms``, ``otp_email``, ``google``) (``sign_in_complete``);
- Tokenizer calls: latency by call, errors by call and kind (``InstrumentedTokenizer``,
  around the real client, so cached introspections are not counted as calls);
- SMS budgets: requests counted per destination country, refusals and trips per budget
  (``authenticator.core.budgets``), challenge tokens checked by answer.
- in a delivery worker only, served by it on WORKER_METRICS_PORT and never here:
  deliveries (``otp.delivery``) — provider calls by outcome and their time, the lag from
  record to provider, retries, deliveries that ended unsent, duplicates skipped — and
  the worker's tasks by outcome (``authenticator.worker``).

Several processes (gunicorn workers) share nothing, so each would answer only its own
numbers. Set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory writable by every worker
(wiped at each start) and prometheus-client keeps the values in files there; this view
then adds up all processes. Gunicorn should call ``mark_process_dead(worker.pid)`` in
its ``child_exit`` hook (see docs/operators/runbook.md, "Metrics").
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

from .conf import app_settings
from .errors import (
    InvalidOtp,
    InvalidToken,
    OtpExpired,
    TokenizerUnavailable,
    TooManyAttempts,
)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter("authn_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "authn_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# No metric may tell a known identifier from an unknown one: /metrics would become the
# oracle the answers are careful not to be. So the OTP counters count the *answers*
# (identical for every identifier), never what happened behind them: how many codes
# really went out, or whether an account was there to check a code against, is not a
# metric (the SMS provider's bill and the logs have the first).
OTP_REQUESTED = Counter("authn_otp_requests_total", "Code requests answered otp_sent (whatever the identifier)",
                        ["channel", "purpose"])
OTP_VERIFIED = Counter("authn_otp_verified_total", "Code checks answered: right", ["channel", "purpose"])
OTP_FAILED = Counter("authn_otp_failed_total", "Code checks answered invalid_otp or otp_expired",
                     ["channel", "purpose", "reason"])
OTP_LOCKED = Counter("authn_otp_locked_total", "Code checks answered too_many_attempts", ["channel", "purpose"])
SIGN_INS = Counter("authn_sign_ins_total", "Successful sign-ins (tokens issued)", ["method"])
TOKENIZER_DURATION = Histogram(
    "authn_tokenizer_request_duration_seconds", "Tokenizer call latency (retries included)", ["call"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TOKENIZER_ERRORS = Counter("authn_tokenizer_errors_total", "Tokenizer calls that failed", ["call", "error"])
# SMS budgets (authenticator.core.budgets): counted at request time for every number alike,
# so, like the OTP counters, they say nothing about any one account.
SMS_BUDGETED = Counter("authn_sms_budgeted_total", "Code requests by SMS the budgets let through, by destination country "
                       "(challenged: let through past a budget or a risk signal by a solved challenge)", ["country", "challenged"])
SMS_BUDGET_REFUSED = Counter("authn_sms_budget_refused_total", "Code requests by SMS past a budget (refused or sent to "
                             "a challenge)", ["budget", "country"])
SMS_BUDGET_TRIPS = Counter("authn_sms_budget_trips_total", "Budgets that tripped (first refusal of a budget in its "
                           "window, per process): alert on any increase", ["budget", "country"])
CHALLENGES = Counter("authn_challenges_total", "Challenge tokens checked, by the answer", ["action", "result"])
# Deliveries: counted only in a worker (``worker_metrics_on``, called by
# authenticator.worker), in a registry of their own that only the worker serves (on
# WORKER_METRICS_PORT), never GET /metrics. Sends happen for known identifiers only, so
# a count of them in the process that answered — or on the API's /metrics — would be
# the oracle the answers are careful not to be; without a broker they are not counted.
# By channel only: as on the provider's bill, no label names a user, a number or a request.
WORKER_REGISTRY = CollectorRegistry(auto_describe=True)
DELIVERY_SENDS = Counter("authn_delivery_sends_total", "Calls to a provider, by outcome (sent / error)",
                         ["channel", "outcome"], registry=WORKER_REGISTRY)
DELIVERY_SEND_SECONDS = Histogram(
    "authn_delivery_send_duration_seconds", "Time a provider took to take a message", ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=WORKER_REGISTRY,
)
DELIVERY_LAG = Histogram(
    "authn_delivery_lag_seconds", "From the delivery's record to the provider taking it (queueing and retries)",
    ["channel"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=WORKER_REGISTRY,
)
DELIVERY_RETRIES = Counter("authn_delivery_retries_total", "Failed sends put back for a retry", ["channel"],
                           registry=WORKER_REGISTRY)
DELIVERY_FINAL = Counter("authn_delivery_final_total", "Deliveries that ended without the provider taking them",
                         ["channel", "status"], registry=WORKER_REGISTRY)
DELIVERY_SKIPPED = Counter("authn_delivery_duplicates_skipped_total",
                           "Copies of a delivery task that found it already done (not sent again)", ["channel"],
                           registry=WORKER_REGISTRY)
WORKER_TASKS = Counter("authn_worker_tasks_total", "Background tasks run by a worker, by how they ended",
                       ["task", "outcome"], registry=WORKER_REGISTRY)
_worker_metrics = False


def worker_metrics_on() -> None:
    """This process is a delivery worker: count deliveries (see WORKER_REGISTRY)."""
    global _worker_metrics
    _worker_metrics = True


# -- recording -------------------------------------------------------------------------------


def request_observed(*, method: str, route: str, status: int, duration: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_DURATION.labels(method=method, route=route).observe(duration)


def otp_requested(*, channel: str, purpose: str) -> None:
    """A code request answered ``otp_sent``: counted on the request path, for every identifier."""
    OTP_REQUESTED.labels(channel=str(channel), purpose=str(purpose)).inc()


@contextmanager
def otp_answer_counted(*, channel: str, purpose: str) -> Iterator[None]:
    """Count the answer the code check inside this block gives: ``too_many_attempts``,
    ``otp_expired``, ``invalid_otp``, or (no error) right.

    A verify flow puts its check, and the consumption that may still find the code used,
    in the block; an unknown identifier's (decoy's) refusal counts exactly like a known
    one's. Other errors (a blocked account after a right code, the Tokenizer down) say
    nothing about the code and are not counted.
    """
    labels = {"channel": str(channel), "purpose": str(purpose)}
    try:
        yield
    except TooManyAttempts:
        OTP_LOCKED.labels(**labels).inc()
        raise
    except OtpExpired:
        OTP_FAILED.labels(**labels, reason="expired").inc()
        raise
    except InvalidOtp:
        OTP_FAILED.labels(**labels, reason="invalid").inc()
        raise
    OTP_VERIFIED.labels(**labels).inc()


def sms_budgeted(*, country: str, challenged: bool) -> None:
    SMS_BUDGETED.labels(country=country, challenged="yes" if challenged else "no").inc()


def sms_budget_refused(*, budget: str, country: str) -> None:
    SMS_BUDGET_REFUSED.labels(budget=budget, country=country).inc()


def sms_budget_tripped(*, budget: str, country: str) -> None:
    SMS_BUDGET_TRIPS.labels(budget=budget, country=country).inc()


def challenge_checked(*, action: str, result: str) -> None:
    """``result``: passed, failed, missing, unavailable."""
    CHALLENGES.labels(action=action, result=result).inc()


def sign_in(*, method: str) -> None:
    SIGN_INS.labels(method=str(method)).inc()


def delivery_sent(*, channel: str, outcome: str, seconds: float, lag: float | None = None) -> None:
    if not _worker_metrics:
        return
    DELIVERY_SENDS.labels(channel=str(channel), outcome=outcome).inc()
    DELIVERY_SEND_SECONDS.labels(channel=str(channel)).observe(seconds)
    if lag is not None:
        DELIVERY_LAG.labels(channel=str(channel)).observe(max(0.0, lag))


def delivery_retried(*, channel: str) -> None:
    if not _worker_metrics:
        return
    DELIVERY_RETRIES.labels(channel=str(channel)).inc()


def delivery_final(*, channel: str, status: str) -> None:
    if not _worker_metrics:
        return
    DELIVERY_FINAL.labels(channel=str(channel), status=str(status)).inc()


def delivery_skipped(*, channel: str) -> None:
    if not _worker_metrics:
        return
    DELIVERY_SKIPPED.labels(channel=str(channel)).inc()


def worker_task(*, task: str, outcome: str) -> None:
    if not _worker_metrics:
        return
    WORKER_TASKS.labels(task=task, outcome=outcome).inc()


class InstrumentedTokenizer:
    """Wraps a Tokenizer implementation: each contract call is timed, failures counted."""

    CALLS = ("issue", "refresh", "revoke_token", "revoke_sessions", "introspect", "jwks")

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _timed(self, call: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return getattr(self.inner, call)(*args, **kwargs)
        except TokenizerUnavailable:
            TOKENIZER_ERRORS.labels(call=call, error="unavailable").inc()
            raise
        except InvalidToken:
            TOKENIZER_ERRORS.labels(call=call, error="invalid_token").inc()
            raise
        except Exception:
            TOKENIZER_ERRORS.labels(call=call, error="other").inc()
            raise
        finally:
            TOKENIZER_DURATION.labels(call=call).observe(time.perf_counter() - started)

    def issue(self, **kwargs: Any):
        return self._timed("issue", **kwargs)

    def refresh(self, **kwargs: Any):
        return self._timed("refresh", **kwargs)

    def revoke_token(self, **kwargs: Any):
        return self._timed("revoke_token", **kwargs)

    def revoke_sessions(self, **kwargs: Any):
        return self._timed("revoke_sessions", **kwargs)

    def introspect(self, **kwargs: Any):
        return self._timed("introspect", **kwargs)

    def jwks(self):
        return self._timed("jwks")

    def __getattr__(self, name: str) -> Any:
        # close(), purge() and anything else an implementation offers pass through.
        return getattr(self.inner, name)


# -- the endpoint ----------------------------------------------------------------------------


def worker_registry() -> CollectorRegistry:
    """What a worker serves: every process of its pool added up (multiprocess mode), or
    this process's own delivery and task metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return registry()
    return WORKER_REGISTRY


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return DEFAULT_REGISTRY


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = app_settings.METRICS_TOKEN
    if not token and not settings.DEBUG:
        # Closed by default in production: without a token to ask for, /metrics is not
        # there at all (a 401 would invite a token that does not exist).
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    # The format the scraper asks for (Accept): Prometheus text 0.0.4 by default,
    # OpenMetrics when asked.
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    response = HttpResponse(encoder(registry()), content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
