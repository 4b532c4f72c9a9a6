"""Real Celery workers for the delivery proofs: ``deploy/entrypoint.sh worker`` (the image's
role) in a subprocess, on the real Redis as broker (its own database, emptied around each
test), against the test database and a real local SMS gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from authenticator.core import background
from tests.cli.conftest import subprocess_env
from tests.worker.gateway import IdempotentGateway

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
# The broker: a Redis database of its own, apart from the cache's (REDIS_URL).
BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/4")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def broker(settings) -> Iterator[redis.Redis]:
    """This process publishes to the real broker (as a web process with CELERY_BROKER_URL)."""
    client = redis.Redis.from_url(BROKER_URL)
    client.flushdb()
    settings.CELERY_BROKER_URL = BROKER_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = "authn-test"
    background.celery_app.cache_clear()  # a new app reads the overridden settings
    try:
        yield client
    finally:
        background.celery_app.cache_clear()
        client.flushdb()
        client.close()


@pytest.fixture
def gateway() -> Iterator[IdempotentGateway]:
    gateway = IdempotentGateway()
    try:
        yield gateway
    finally:
        gateway.close()


@dataclass
class Worker:
    process: subprocess.Popen
    heartbeat: Path
    metrics_port: int
    log: Path

    def pool_pids(self) -> list[int]:
        """The pool processes (children of the worker's main process) that run the tasks."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True,
                             check=False).stdout
        return [int(pid) for pid in out.split()]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as a lost node."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def start_worker(broker, gateway, tmp_path, transactional_db) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(concurrency: int = 2, **extra: str) -> Worker:
        n = len(workers)
        heartbeat = tmp_path / f"heartbeat-{n}"
        log = tmp_path / f"worker-{n}.log"
        metrics_port = free_port()
        env = subprocess_env(**{
            **gateway.env(),
            "CELERY_BROKER_URL": BROKER_URL, "CELERY_QUEUE": "authn-test",
            "WORKER_CONCURRENCY": str(concurrency), "WORKER_LOGLEVEL": "WARNING",
            "WORKER_HEARTBEAT_FILE": str(heartbeat), "WORKER_METRICS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{n}"),
            # CI-sized: a refused or silent provider is noticed within a second, tried again within one.
            "SMS_TIMEOUT": "1", "DELIVERY_RETRY_BASE": "0.5", "DELIVERY_RETRY_MAX": "1",
            "LOG_LEVEL": "WARNING", **extra,
        })
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"  # celery, as in the image
        with log.open("wb") as out:
            process = subprocess.Popen([str(ENTRYPOINT), "worker"], cwd=ROOT, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(process=process, heartbeat=heartbeat, metrics_port=metrics_port, log=log)
        workers.append(worker)
        deadline = time.monotonic() + 60
        while not heartbeat.exists():  # the first beat: consuming, and the broker answers
            assert process.poll() is None, worker.log_text()
            assert time.monotonic() < deadline, "the worker did not start:\n" + worker.log_text()
            time.sleep(0.1)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
