"""The server around the service: health, reflection, failures, database recovery, the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from django.db import connection
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from authenticator.grpc.v1 import authenticator_pb2 as pb
from tests.factories import UserFactory

from .conftest import bearer, failure, sign_in

ROOT = Path(__file__).resolve().parents[2]


def test_health_check_answers_serving_for_the_server_and_the_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "authenticator.v1.Authenticator"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    failed = failure(health.Check, health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert failed.status == grpc.StatusCode.NOT_FOUND


def test_health_turns_not_serving_when_the_server_stops(grpc_server, channel):
    health = health_pb2_grpc.HealthStub(channel)
    grpc_server.health.enter_graceful_shutdown()
    answer = health.Check(health_pb2.HealthCheckRequest(service="authenticator.v1.Authenticator"), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING


def _reflect(channel, request: reflection_pb2.ServerReflectionRequest) -> reflection_pb2.ServerReflectionResponse:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    return next(iter(stub.ServerReflectionInfo(iter([request]), timeout=10)))


def test_reflection_lists_the_service_and_serves_its_descriptor(channel):
    from google.protobuf import descriptor_pb2

    listed = _reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in listed.list_services_response.service}
    assert {"authenticator.v1.Authenticator", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
            "grpc.reflection.v1.ServerReflection"} <= names

    found = _reflect(channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol="authenticator.v1.Authenticator"))
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in found.file_descriptor_response.file_descriptor_proto]
    ours = next(f for f in files if f.package == "authenticator.v1")
    assert ours.name == "authenticator/v1/authenticator.proto"
    assert "VerifyOtp" in {method.name for method in ours.service[0].method}


@pytest.mark.django_db(transaction=True)
def test_a_handler_recovers_after_the_database_drops_its_connections(stub):
    """What a PostgreSQL restart does to the server's pooled connections."""
    UserFactory(phone_number="+447400123456")
    token = bearer(sign_in(stub, "+447400123456").tokens.access_token)
    assert stub.GetProfile(pb.GetProfileRequest(), metadata=token, timeout=10).user.phone_number == "+447400123456"
    for _round in range(2):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1  # the server's pooled connection(s) really went
        for _call in range(3):
            answer = stub.GetProfile(pb.GetProfileRequest(), metadata=token, timeout=10)
            assert answer.user.phone_number == "+447400123456"


def command_env() -> dict[str, str]:
    """The environment for a ``manage.py`` child: test settings and the test database,
    which exists while the suite runs (the configured one may not, as in CI)."""
    from urllib.parse import quote

    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
    return {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }


@pytest.mark.django_db
def test_the_server_command_serves_health_and_exits_zero_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "manage.py", "grpcserver", "--bind", "127.0.0.1:0", "--workers", "2", "--grace", "2"],
        cwd=ROOT, env=command_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("gRPC server listening on 127.0.0.1:"), (line, process.poll())
        port = int(line.split("127.0.0.1:", 1)[1].split()[0])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert time.monotonic() - started < 10
        assert "SIGTERM: stopping" in out and "gRPC server stopped" in out
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=1)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.django_db
@pytest.mark.parametrize("processes", [1, 2])
def test_the_server_command_refuses_a_taken_port(processes):
    from authenticator.grpc.server import build_server

    taken = build_server(bind="127.0.0.1:0", workers=1)
    try:
        process = subprocess.run(
            [sys.executable, "manage.py", "grpcserver", "--bind", f"127.0.0.1:{taken.port}", "--workers", "1",
             "--processes", str(processes)],
            cwd=ROOT, env=command_env(),
            capture_output=True, text=True, timeout=60, check=False,
        )
    finally:
        taken.stop(0)
    assert process.returncode == 1
    assert "CommandError" in process.stderr and str(taken.port) in process.stderr
    assert "Traceback" not in process.stderr


@pytest.mark.django_db
def test_the_database_pool_is_sized_for_the_workers():
    from django.db import connections

    from authenticator.core.background import MAX_WORKERS
    from authenticator.grpc.server import size_db_pool

    wrapper = connections["default"]
    wrapper.ensure_connection()  # the pool exists already: it must grow in place
    pool = type(wrapper)._connection_pools[wrapper.alias]
    options = wrapper.settings_dict["OPTIONS"]["pool"]
    before = (pool.min_size, pool.max_size, options.get("max_size"))
    try:
        assert size_db_pool(40) == 40 + MAX_WORKERS
        assert pool.max_size == options["max_size"] == 40 + MAX_WORKERS
        assert size_db_pool(1) == 40 + MAX_WORKERS  # never shrinks under running threads
    finally:
        pool.resize(min_size=before[0], max_size=before[1])
        options["max_size"] = before[2]
