"""The image's run-time pieces, run for real outside a container: the gunicorn config,
the entrypoint's roles and the HEALTHCHECK script."""

from __future__ import annotations

import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import django
import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Its own SQLite file and local-memory cache: nothing shared with other test runs.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
    }
    env.update(extra)
    return env


def gunicorn_config(**env: str) -> dict:
    saved = dict(os.environ)
    try:
        for key in list(os.environ):
            if key.startswith(("GUNICORN_", "WEB_CONCURRENCY")) or key in {"PORT", "HOST"}:
                del os.environ[key]
        os.environ.update(env)
        return runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_gunicorn_defaults_suit_a_container():
    config = gunicorn_config()
    assert config["bind"] == ["0.0.0.0:8000"]
    assert config["preload_app"] is False
    assert config["accesslog"] is None  # the application logs each request itself (JSON, request id)
    assert config["errorlog"] == "-"
    assert config["max_requests"] > 0 and 0 < config["max_requests_jitter"] < config["max_requests"]
    assert config["graceful_timeout"] < 40  # the pods' terminationGracePeriodSeconds
    assert config["timeout"] > 5  # above the Tokenizer read timeout
    assert config["workers"] == config["default_workers"](os.cpu_count() or 1)
    assert config["worker_class"] == "gthread" and config["threads"] == 4
    assert config["control_socket_disable"] is True
    assert config["reload"] is False


def test_gunicorn_takes_port_workers_and_threads_from_the_environment():
    config = gunicorn_config(PORT="9001", HOST="127.0.0.1", WEB_CONCURRENCY="3", GUNICORN_THREADS="1")
    assert config["bind"] == ["127.0.0.1:9001"]
    assert config["workers"] == 3
    assert config["worker_class"] == "sync"
    assert gunicorn_config(GUNICORN_BIND="unix:/run/app.sock")["bind"] == ["unix:/run/app.sock"]


def test_default_worker_count_is_two_per_core_plus_one_capped():
    default_workers = gunicorn_config()["default_workers"]
    assert [default_workers(n) for n in (1, 2, 4)] == [3, 5, 9]
    assert default_workers(64) == 12
    assert default_workers(64, cap=20) == 20


@pytest.fixture()
def web_server(tmp_path) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`entrypoint.sh web` on 127.0.0.1 with a kernel-chosen port, read back from its log."""
    log = tmp_path / "web.log"
    env = server_env(tmp_path, HOST="127.0.0.1", PORT="0", WEB_CONCURRENCY="1")
    with log.open("wb") as out:
        process = subprocess.Popen([str(ENTRYPOINT), "web"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and url is None:
            assert process.poll() is None, log.read_text()
            match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
            url = match.group(1) if match else None
            time.sleep(0.1)
        assert url, log.read_text()
        # The master listens before its worker has imported the app: wait for an answer.
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        yield url, process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def run_healthcheck(**env: str) -> int:
    base = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env={**base, **env}, timeout=30, check=False).returncode


def test_web_role_serves_healthz_logs_access_to_stdout_and_stops_cleanly_on_sigterm(web_server):
    url, process, log = web_server
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
    time.sleep(0.3)
    # One access line per request, the application's (JSON with its request id); gunicorn's
    # own access log is off by default, so there is no second, poorer line.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "authenticator.access" and line.get("path") == "/healthz"]
    assert access and all(line["status"] == 200 and line["request_id"] for line in access), log.read_text()
    assert not re.search(r'"GET /healthz HTTP/1\.1" 200 ', log.read_text()), log.read_text()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "Shutting down: Master" in log.read_text()


def test_healthcheck_passes_against_a_live_server_and_fails_once_it_is_gone(web_server):
    url, process, _ = web_server
    port = url.rsplit(":", 1)[1]
    assert run_healthcheck(HEALTHCHECK_ROLE="web", PORT=port) == 0
    assert run_healthcheck(HEALTHCHECK_ROLE="web", HEALTHCHECK_URL=f"{url}/healthz") == 0
    # A path that isn't 200 is unhealthy too.
    assert run_healthcheck(HEALTHCHECK_ROLE="web", HEALTHCHECK_URL=f"{url}/no-such-path") == 1
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert run_healthcheck(HEALTHCHECK_ROLE="web", PORT=port) == 1


def test_healthcheck_follows_the_grpc_health_service():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        bind = f"0.0.0.0:{port}"
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert run_healthcheck(HEALTHCHECK_ROLE="grpc", GRPC_BIND=bind) == 0
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert run_healthcheck(HEALTHCHECK_ROLE="grpc", GRPC_BIND=bind) == 1
    finally:
        server.stop(grace=None)
    assert run_healthcheck(HEALTHCHECK_ROLE="grpc", GRPC_BIND=bind) == 1


def test_entrypoint_manage_role_runs_manage_py(tmp_path):
    result = subprocess.run(
        [str(ENTRYPOINT), "manage", "version"], env=server_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == django.get_version()


def test_entrypoint_runs_any_other_command_as_given(tmp_path):
    result = subprocess.run(
        [str(ENTRYPOINT), "sh", "-c", "pwd; echo $0-$1", "a", "b"],
        env=server_env(tmp_path), capture_output=True, text=True, timeout=30, check=False,
    )
    # It runs from the project root (/app in the image).
    assert result.stdout.splitlines() == [str(ROOT), "a-b"]


@pytest.fixture()
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database beside this run's own (named after it)."""
    import environ
    import psycopg

    db = environ.Env().db("DATABASE_URL")
    name = f"{db['NAME']}_migrate"
    admin = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"],
             "password": db["PASSWORD"] or None, "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        yield f"postgres://{db['USER']}{password}@{admin['host']}:{admin['port']}/{name}"
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_entrypoint_migrate_role_applies_every_migration_to_an_empty_postgres(tmp_path, fresh_postgres_url):
    env = server_env(tmp_path, DATABASE_URL=fresh_postgres_url)
    result = subprocess.run([str(ENTRYPOINT), "migrate"], env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    check = subprocess.run(
        [str(ENTRYPOINT), "manage", "migrate", "--check"], env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("shell", "script"),
    [("sh", "deploy/entrypoint.sh"), ("bash", "scripts/build-image-offline.sh")],
)
def test_shell_scripts_parse_and_are_executable(shell, script):
    path = ROOT / script
    assert os.access(path, os.X_OK)
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def _manage_without_production_env(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_schema_commands_run_without_a_secret_key_and_other_commands_still_refuse():
    checked = _manage_without_production_env("makemigrations", "--check", "--dry-run")
    assert (checked.returncode, checked.stdout.strip()) == (0, "No changes detected"), checked.stderr
    refused = _manage_without_production_env("check")
    assert refused.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in refused.stderr


def test_healthcheck_reads_the_worker_heartbeat_file(tmp_path):
    beat = tmp_path / "heartbeat"
    env = {"HEALTHCHECK_ROLE": "worker", "WORKER_HEARTBEAT_FILE": str(beat), "WORKER_HEARTBEAT_MAX_AGE": "30"}
    assert run_healthcheck(**env) == 1  # no file yet: the worker never connected
    beat.touch()
    assert run_healthcheck(**env) == 0
    stale = time.time() - 31
    os.utime(beat, (stale, stale))
    assert run_healthcheck(**env) == 1  # the worker stopped beating (stuck, or the broker is gone)
