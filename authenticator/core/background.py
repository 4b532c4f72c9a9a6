"""Work that must not hold up the answer: the enumeration-safe sign-up and sign-in code sends.

Two ways to run it. With ``CELERY_BROKER_URL`` set, a job marked ``@job("task.name")`` is
published to the broker (Redis) and a worker (``celery -A config worker``, the
``authenticator.worker`` tasks) runs it; a job without a task name, or a broker that
does not take the task, runs here as below. Without a broker (the embedded default),
every job runs in this process:

Two process-wide pools ("lanes") of LANE_WORKERS threads each (MAX_WORKERS in all),
recreated in a forked child (gunicorn workers): ``codes`` makes a code or a decoy (a
few statements, alike for every identifier), ``sends`` hands a message to the provider
(as slow as the provider is; known identifiers only). Apart, because on one pool a few
slow sends held every thread and the next request's decoy was written late only when the
number before it was an active account's: an outside review read that from the API (a
guess against the decoy answered ``too_many_attempts`` while it was not written yet) and
told active accounts from all others. A ``codes`` job never waits behind a send. A job runs outside Django's request cycle, so it closes its database
connections when done. The queue is capped: a provider that hangs on every send must
not let a flood of requests grow memory without bound — past MAX_PENDING, jobs are
dropped and logged (the user can ask for another code). Failures are logged, never
raised. ``wait_idle`` lets tests and shutdown wait for queued jobs.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

log = logging.getLogger(__name__)

LANES = ("codes", "sends")
LANE_WORKERS = 4
MAX_WORKERS = LANE_WORKERS * len(LANES)  # threads in all: each may hold a database connection
MAX_PENDING = 1000  # per lane


class _Pool:
    def __init__(self, lane: str = "codes") -> None:
        self.lane = lane
        self.lock = threading.Lock()
        self.executor: ThreadPoolExecutor | None = None
        self.pending: set[Future[None]] = set()

    def submit(self, fn: Callable[..., None], /, **kwargs: Any) -> Future[None] | None:
        with self.lock:
            if len(self.pending) >= MAX_PENDING:
                return None
            if self.executor is None:
                self.executor = ThreadPoolExecutor(max_workers=LANE_WORKERS, thread_name_prefix=f"authn-{self.lane}")
            future = self.executor.submit(fn, **kwargs)
            self.pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            self.pending.discard(future)

    def unfinished(self) -> list[Future[None]]:
        with self.lock:
            return [future for future in self.pending if not future.done()]


_pools = {lane: _Pool(lane) for lane in LANES}


def _after_fork_in_child() -> None:
    # The child inherits the executor objects but none of their threads, and maybe a lock
    # held mid-submit: start afresh.
    global _pools
    _pools = {lane: _Pool(lane) for lane in LANES}


os.register_at_fork(after_in_child=_after_fork_in_child)


def _run(job: Callable[..., None], name: str, kwargs: dict[str, Any]) -> None:
    close_old_connections()
    try:
        job(**kwargs)
    except Exception:  # noqa: BLE001 - a background failure is logged, never raised
        log.exception("background job %s failed", name)
    finally:
        connections.close_all()


# --- the broker -------------------------------------------------------------------------
def job(task_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function (keyword arguments that JSON carries) as a job a worker may run,
    under the Celery task name ``task_name`` (authenticator.worker registers it)."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.task_name = task_name  # type: ignore[attr-defined]
        return fn

    return mark


def broker_url() -> str:
    return str(getattr(settings, "CELERY_BROKER_URL", "") or "")


@functools.cache
def celery_app() -> Any:
    """The Celery app, configured from Django's ``CELERY_*`` settings (``config/celery.py``
    serves it to ``celery -A config``). Made on first use: a process without a broker
    never imports Celery."""
    from celery import Celery

    app = Celery("authenticator", set_as_current=True)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    return app


def enqueue(task_name: str, /, **kwargs: Any) -> None:
    """Publish ``task_name(**kwargs)`` to the broker; raises if the broker does not take it."""
    celery_app().send_task(task_name, kwargs=kwargs, retry=True)


def submit(job: Callable[..., None], /, *, name: str, lane: str = "codes", **kwargs: Any) -> bool:
    """Queue ``job(**kwargs)``: on the broker when there is one and the job has a task
    name, else on this process's pool for ``lane``; False (and a log line) when that is full."""
    task_name = getattr(job, "task_name", None)
    if task_name and broker_url():
        try:
            enqueue(task_name, **kwargs)
            return True
        except Exception:  # noqa: BLE001 - the broker is down: the job still runs, here
            log.warning("broker did not take %s; running it in this process", name, exc_info=True)
    if _pools[lane].submit(_run, job=job, name=name, kwargs=kwargs) is None:
        log.error("background queue full (%s pending); dropped %s", MAX_PENDING, name)
        return False
    return True


def wait_idle(timeout: float = 10.0) -> None:
    """Block until every queued job (including ones queued meanwhile) has finished.

    Raises TimeoutError if jobs are still running after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while (pending := [f for pool in _pools.values() for f in pool.unfinished()]) or _awaiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(pending) + len(_awaiting)} background jobs still pending after {timeout}s")
        if pending:
            wait_futures(pending, timeout=remaining)
        else:
            time.sleep(0.005)  # a call's answer is on its way; its jobs are queued right after


# --- after the answer -------------------------------------------------------------------
# A job queued during a request starts only once the response has been sent
# (request_finished): started at once, it would compete for the GIL with the rest of its
# own request, and a request that queued real work (a known identifier) would answer a
# few milliseconds later than one that queued none — a timing oracle for enumeration.
_held = threading.local()


def submit_after_response(job: Callable[..., None], /, *, name: str, **kwargs: Any) -> None:
    """Like ``submit``, but inside a request (HTTP, or a gRPC call in ``held``) the job is
    queued once the answer has been sent."""
    held = getattr(_held, "jobs", None)
    if held is None:  # not inside a request (commands, tests calling flows)
        submit(job, name=name, **kwargs)
    else:
        held.append((job, name, kwargs))


Held = list[tuple[Callable[..., None], str, dict[str, Any]]]


@contextmanager
def held() -> Iterator[Held]:
    """Jobs queued by ``submit_after_response`` in this block are kept in the list it
    yields, for the caller to ``release`` when its answer has gone (gRPC: from the
    call's termination callback, which runs after the status is sent)."""
    previous, _held.jobs = getattr(_held, "jobs", None), []
    try:
        yield _held.jobs
    finally:
        _held.jobs = previous


def release(jobs: Held) -> None:
    for job, name, kwargs in jobs:
        submit(job, name=name, **kwargs)


_awaiting: set[object] = set()  # held jobs whose release callback has not run yet
_awaiting_lock = threading.Lock()


def release_after(jobs: Held, add_callback: Callable[[Callable[[], None]], bool]) -> None:
    """Release ``jobs`` from a callback run once the answer has gone (gRPC's
    ``context.add_callback``; False: the call has ended already, release now).
    ``wait_idle`` waits for them too."""
    if not jobs:
        return
    token = object()
    with _awaiting_lock:
        _awaiting.add(token)

    def go() -> None:
        try:
            release(jobs)
        finally:
            with _awaiting_lock:
                _awaiting.discard(token)

    if not add_callback(go):
        go()


def _hold(**_: Any) -> None:
    _held.jobs = []


def _release(**_: Any) -> None:
    jobs, _held.jobs = getattr(_held, "jobs", None), None
    release(jobs or [])


def _connect_request_signals() -> None:
    from django.core.signals import request_finished, request_started

    request_started.connect(_hold, dispatch_uid="authenticator.core.background.hold")
    request_finished.connect(_release, dispatch_uid="authenticator.core.background.release")


_connect_request_signals()
