"""The worker process: a heartbeat file for its health check, and its metrics port.

- ``WORKER_HEARTBEAT_FILE``: once the worker is consuming, its main process touches this
  file every HEARTBEAT_SECONDS while the broker answers; the health check
  (deploy/healthcheck.py, role ``worker``) fails when the file is older than a few
  beats. A file rather than ``celery inspect ping``: the ping starts a second Celery
  client and a broadcast round trip through the broker every probe; the file costs
  nothing and still says "alive and connected".
- ``WORKER_METRICS_PORT``: the main process serves Prometheus metrics there, the sum of
  its pool processes' (prometheus-client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR,
  which the image's ``worker`` role sets).
- Shutdown: SIGTERM is Celery's warm shutdown — the worker stops taking tasks, finishes
  the ones it is running, and gives back the ones it had only reserved (late
  acknowledgement), then exits; the heartbeat stops first so that nothing routes to it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from celery import signals

from authenticator.core import metrics
from authenticator.core.background import celery_app
from authenticator.core.conf import app_settings

log = logging.getLogger(__name__)

# This process (and its pool, forked from it) counts deliveries: served on its own port.
metrics.worker_metrics_on()

HEARTBEAT_SECONDS = 5.0
_stop = threading.Event()


def broker_answers() -> bool:
    try:
        with celery_app().connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not connected"
        return False


def _beat(path: Path) -> None:
    while not _stop.is_set():
        if broker_answers():
            path.touch()
        else:
            log.warning("worker heartbeat: the broker does not answer")
        _stop.wait(HEARTBEAT_SECONDS)


@signals.worker_ready.connect
def _on_ready(**_: Any) -> None:
    _stop.clear()
    heartbeat = str(app_settings.WORKER_HEARTBEAT_FILE or "")
    if heartbeat:
        threading.Thread(target=_beat, args=(Path(heartbeat),), name="authn-worker-heartbeat", daemon=True).start()
    port = int(app_settings.WORKER_METRICS_PORT or 0)
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, registry=metrics.worker_registry())
    log.info("worker ready", extra={"heartbeat_file": heartbeat, "metrics_port": port})


@signals.worker_shutting_down.connect
def _on_shutting_down(**_: Any) -> None:
    _stop.set()
    heartbeat = str(app_settings.WORKER_HEARTBEAT_FILE or "")
    if heartbeat:
        Path(heartbeat).unlink(missing_ok=True)


@signals.worker_process_shutdown.connect
def _on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
