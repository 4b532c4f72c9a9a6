"""The GitHub Actions workflow: test -> build & push -> migrate -> deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.conftest import load_yaml_documents

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workflow() -> dict:
    (doc,) = load_yaml_documents(ROOT / ".github" / "workflows" / "ci.yml")
    return doc


def needs(job: dict) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def run_text(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_jobs_are_test_build_migrate_deploy_in_that_order(workflow):
    jobs = workflow["jobs"]
    assert list(jobs) == ["test", "build", "migrate", "deploy"]
    assert needs(jobs["test"]) == []
    assert needs(jobs["build"]) == ["test"]
    assert needs(jobs["migrate"]) == ["build"]
    assert set(needs(jobs["deploy"])) == {"build", "migrate"}


def test_triggers_on_pushes_and_pull_requests(workflow):
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" in triggers


def test_test_job_runs_make_test_against_postgres_and_redis(workflow):
    job = workflow["jobs"]["test"]
    assert set(job["services"]) == {"postgres", "redis"}
    assert job["env"]["DATABASE_URL"].startswith("postgres://")
    assert job["env"]["REDIS_URL"].startswith("redis://")
    assert "make test" in run_text(job)


def test_build_pushes_the_image_to_ghcr_and_hands_on_its_digest(workflow):
    job = workflow["jobs"]["build"]
    assert workflow["env"]["REGISTRY"] == "ghcr.io"
    assert job["permissions"]["packages"] == "write"
    (build,) = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["file"] == "Dockerfile"
    # Pull requests build but never push.
    assert build["with"]["push"] == "${{ github.event_name != 'pull_request' }}"
    assert "steps.push.outputs.digest" in run_text(job)
    assert job["outputs"]["image"] == "${{ steps.ref.outputs.image }}"


def test_migrate_runs_the_new_image_migration_job_before_deploy(workflow):
    job = workflow["jobs"]["migrate"]
    assert job["environment"] == "production"
    text = run_text(job)
    assert 'kustomize edit set image "authenticator=${{ needs.build.outputs.image }}"' in text
    assert "kubectl apply -k deploy/k8s/migrate" in text
    assert "delete job authenticator-migrate" in text
    assert (ROOT / "deploy/k8s/migrate/kustomization.yaml").is_file()
    # Only pushes to main reach production.
    assert "refs/heads/main" in job["if"]


def test_deploy_applies_the_kustomization_and_waits_for_every_rollout(workflow):
    job = workflow["jobs"]["deploy"]
    assert job["environment"] == "production"
    text = run_text(job)
    assert "kubectl apply -k deploy/k8s" in text
    for deployment in ("authenticator-web", "authenticator-h2", "authenticator-grpc"):
        assert deployment in text
    assert "rollout status" in text
    # Migrate and deploy never run at the same time as another deploy.
    assert job["concurrency"]["group"] == workflow["jobs"]["migrate"]["concurrency"]["group"]


def test_every_action_is_pinned_to_a_version(workflow):
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert "@" in step["uses"], (name, step["uses"])
