"""docker-compose.yml: the development stack's services, their order and health."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.conftest import load_yaml_documents

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    (doc,) = load_yaml_documents(ROOT / "docker-compose.yml")
    return doc


def test_compose_has_the_expected_services(compose):
    assert set(compose["services"]) == {"postgres", "redis", "firebase", "migrate", "web", "h2", "grpc", "worker", "manage"}


@pytest.mark.parametrize(("service", "role"), [("migrate", "migrate"), ("web", "web"), ("h2", "h2"), ("grpc", "grpc"),
                                             ("worker", "worker")])
def test_app_services_run_one_role_of_the_one_image(compose, service, role):
    spec = compose["services"][service]
    assert spec["image"] == "authenticator:dev"
    assert spec["build"]["context"] == "."
    assert spec["command"] == [role]


@pytest.mark.parametrize("service", ["web", "h2", "grpc"])
def test_servers_start_after_a_successful_migration_and_healthy_backends(compose, service):
    depends = compose["services"][service]["depends_on"]
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["redis"] == {"condition": "service_healthy"}
    assert depends["firebase"] == {"condition": "service_healthy"}


def test_the_worker_and_the_servers_share_one_broker_and_the_worker_drains(compose):
    worker = compose["services"]["worker"]
    depends = worker["depends_on"]
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert depends["redis"] == {"condition": "service_healthy"}
    broker = worker["environment"]["CELERY_BROKER_URL"]
    assert broker.startswith("redis://redis:6379/")
    assert broker != worker["environment"]["REDIS_URL"]  # its own Redis database, not the cache's
    for service in ("web", "h2", "grpc"):
        assert compose["services"][service]["environment"]["CELERY_BROKER_URL"] == broker
    assert worker["stop_grace_period"] == "60s"


def test_migration_waits_for_postgres_and_runs_once(compose):
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("service", ["postgres", "redis", "firebase"])
def test_backing_services_have_healthchecks(compose, service):
    assert compose["services"][service]["healthcheck"]["test"]


def test_app_environment_points_at_the_compose_services(compose):
    env = compose["services"]["web"]["environment"]
    user = compose["services"]["postgres"]["environment"]["POSTGRES_USER"]
    database = compose["services"]["postgres"]["environment"]["POSTGRES_DB"]
    assert env["DATABASE_URL"].startswith(f"postgres://{user}:")
    assert env["DATABASE_URL"].endswith(f"@postgres:5432/{database}")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["FIREBASE_AUTH_EMULATOR_HOST"] == "firebase:9099"
    assert "SONYFLAKE_MACHINE_ID" not in env
    for service in ("migrate", "h2", "grpc"):
        assert compose["services"][service]["environment"]["DATABASE_URL"] == env["DATABASE_URL"]


def test_firebase_emulator_config_listens_where_the_apps_look(compose):
    firebase = compose["services"]["firebase"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in firebase["volumes"] if v.startswith("./")}
    config = json.loads((ROOT / "deploy/compose/firebase.json").read_text())
    assert mounted["./deploy/compose/firebase.json"] == "/emulator/firebase.json"
    assert config["emulators"]["auth"] == {"host": "0.0.0.0", "port": 9099}
    assert "--only auth" in firebase["command"][-1]
    assert (ROOT / "package.json").is_file()


def test_published_ports_bind_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
