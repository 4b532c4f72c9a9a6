"""The Kubernetes manifests are valid (offline, against the schemas kubernetes-validate
ships) and say what the service needs: probes, a migration Job, non-root read-only pods,
and no secret values in git."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
from packaging.version import Version

from tests.deploy.conftest import load_yaml_documents

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes minor we target, and the newest schema the package ships.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]
SECRET_NAME = "authenticator-secrets"
SECRET_ENV = {
    "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OTP_HMAC_KEY", "TOKENIZER_API_KEY",
    "TOKENIZER_URL", "SMS_GATEWAY_KEY", "SMS_GATEWAY_URL", "EMAIL_URL", "TOKENIZER_SIGNING_KEY",
    "TWILIO_AUTH_TOKEN", "CELERY_BROKER_URL",
}


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def resources() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in manifest_files() for doc in load_yaml_documents(path)]


def of_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in resources() if doc["kind"] == kind}


def pod_specs() -> dict[str, dict]:
    """Pod templates of every workload, by workload name."""
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    return {name: doc["spec"]["template"]["spec"] for name, doc in workloads.items()}


def test_kubernetes_validate_ships_offline_schemas_for_the_targeted_versions():
    versions = kubernetes_validate.utils.all_versions()
    assert "1.30.0" in versions
    assert Version(kubernetes_validate.utils.latest_version()) >= Version("1.37.0")


def test_every_manifest_belongs_to_a_kustomization_and_every_listed_file_exists():
    listed: set[Path] = set()
    for kustomization in kustomizations():
        (doc,) = load_yaml_documents(kustomization)
        assert doc["namespace"] == "authenticator"
        assert {"name": "authenticator", "newName": doc["images"][0]["newName"],
                "newTag": doc["images"][0]["newTag"]} == doc["images"][0]
        for entry in doc["resources"]:
            path = (kustomization.parent / entry).resolve()
            assert path.is_file(), f"{kustomization}: {entry} missing"
            listed.add(path)
    assert listed == {p.resolve() for p in manifest_files()}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_strictly_against_the_kubernetes_schema(path, version):
    documents = load_yaml_documents(path)
    assert documents
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)
        assert doc["metadata"].get("namespace", "authenticator") == "authenticator"


def test_the_validator_rejects_a_broken_deployment():
    # The same call as above does catch mistakes: a misspelt field and a wrong type.
    deployment = copy.deepcopy(of_kind("Deployment")["authenticator-web"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(of_kind("Deployment")["authenticator-web"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_three_servers_and_the_worker_are_deployments_with_their_roles():
    deployments = of_kind("Deployment")
    assert set(deployments) == {"authenticator-web", "authenticator-h2", "authenticator-grpc", "authenticator-worker"}
    roles = {name: spec["spec"]["template"]["spec"]["containers"][0]["args"] for name, spec in deployments.items()}
    assert roles == {"authenticator-web": ["web"], "authenticator-h2": ["h2"], "authenticator-grpc": ["grpc"],
                     "authenticator-worker": ["worker"]}
    for deployment in deployments.values():
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("name", ["authenticator-web", "authenticator-h2"])
def test_http_servers_probe_healthz_for_liveness_and_readyz_for_readiness(name):
    container = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    port_names = {p["name"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names


def test_grpc_server_uses_grpc_health_probes_on_its_port():
    container = of_kind("Deployment")["authenticator-grpc"]["spec"]["template"]["spec"]["containers"][0]
    (port,) = container["ports"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["grpc"]["port"] == port["containerPort"] == 50051
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GRPC_BIND"].endswith(":50051")


def test_worker_probes_its_heartbeat_and_has_time_to_drain():
    pod = of_kind("Deployment")["authenticator-worker"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["exec"]["command"] == ["python3", "/app/deploy/healthcheck.py"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # The heartbeat is written to the writable /tmp, where the health check reads it.
    assert env["WORKER_HEARTBEAT_FILE"].startswith("/tmp/")
    assert {p["containerPort"] for p in container["ports"]} == {int(env["WORKER_METRICS_PORT"])}
    # Warm shutdown: a running send takes at most 2 x SMS_TIMEOUT (5 s by default).
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert "authenticator-worker" not in of_kind("Service")


def test_migration_is_a_job_running_migrate_and_no_server_migrates():
    jobs = of_kind("Job")
    assert set(jobs) == {"authenticator-migrate"}
    job = jobs["authenticator-migrate"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["backoffLimit"] <= 3
    assert job["spec"]["parallelism"] == 1
    # The Job is applied on its own, before the servers (deploy/k8s/migrate).
    (migrate_kustomization,) = load_yaml_documents(K8S / "migrate" / "kustomization.yaml")
    assert migrate_kustomization["resources"] == ["job.yaml"]
    for spec in of_kind("Deployment").values():
        for container in spec["spec"]["template"]["spec"]["containers"]:
            assert "migrate" not in container.get("args", [])
            assert not spec["spec"]["template"]["spec"].get("initContainers")


def test_no_secret_value_is_committed():
    assert of_kind("Secret") == {}
    for key in of_kind("ConfigMap")["authenticator-config"]["data"]:
        assert key not in SECRET_ENV, f"{key} belongs in the Secret, not the ConfigMap"
    for name, pod in pod_specs().items():
        for container in pod["containers"]:
            for var in container.get("env", []):
                assert var["name"] not in SECRET_ENV, f"{name}: {var['name']} has a literal value"
                assert not re.search(r"KEY|SECRET|PASSWORD|TOKEN", var["name"]), (name, var["name"])


def test_every_pod_takes_settings_from_the_configmap_and_secrets_from_the_secret():
    for name, pod in pod_specs().items():
        for container in pod["containers"]:
            sources = container["envFrom"]
            assert {"configMapRef": {"name": "authenticator-config"}} in sources, name
            assert {"secretRef": {"name": SECRET_NAME}} in sources, name


def test_sonyflake_machine_id_is_left_to_the_per_process_lease():
    assert "SONYFLAKE_MACHINE_ID" not in of_kind("ConfigMap")["authenticator-config"]["data"]
    for pod in pod_specs().values():
        for container in pod["containers"]:
            assert "SONYFLAKE_MACHINE_ID" not in {e["name"] for e in container.get("env", [])}


def test_production_settings_turn_debug_off():
    assert of_kind("ConfigMap")["authenticator-config"]["data"]["DEBUG"] == "0"


@pytest.mark.parametrize("name", sorted(pod_specs()))
def test_pods_run_non_root_with_a_read_only_root_filesystem_and_bounded_resources(name):
    pod = pod_specs()[name]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["image"] == "authenticator"  # pinned by the kustomization
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)
        # A writable /tmp, since / is read-only.
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]


def test_services_and_disruption_budgets_select_existing_pods_and_ports():
    deployments = of_kind("Deployment")
    templates = [
        (d["spec"]["template"]["metadata"]["labels"], {p["name"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]})
        for d in deployments.values()
    ]
    services = of_kind("Service")
    assert {"authenticator-web", "authenticator-h2", "authenticator-grpc"} <= set(services)
    for name, service in services.items():
        selector = service["spec"]["selector"]
        matches = [ports for labels, ports in templates if selector.items() <= labels.items()]
        assert len(matches) == 1, name
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in matches[0], (name, port)
    budgets = of_kind("PodDisruptionBudget")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]


def test_secret_template_lists_the_secret_settings_without_values():
    lines = [
        line for line in (K8S / "secret.example.env").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = {line.split("=", 1)[0] for line in lines}
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OTP_HMAC_KEY", "TOKENIZER_API_KEY"} <= names
    assert all(line.split("=", 1)[1] in {""} or "PASSWORD" in line or "://" in line for line in lines)
