"""The operators' docs (docs/operators/) cover every section and every setting operators
must provide."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def deploy_docs() -> str:
    pages = ("deploy.md", "configuration.md")
    return "\n".join((ROOT / "docs" / "operators" / page).read_text() for page in pages)


@pytest.mark.parametrize(
    "heading",
    [
        "Build the Docker image",
        "Run it as a container",
        "Develop with Docker Compose",
        "Provision the environment",
        "Run migrations",
        "Deploy with automation",
        "Provision infrastructure",
        "Run the DB migration in Kubernetes",
    ],
)
def test_docs_have_the_section(heading):
    assert f"## {heading}\n" in deploy_docs()


@pytest.mark.parametrize(
    "variable",
    [
        "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "TOKENIZER_URL",
        "TOKENIZER_API_KEY", "OTP_HMAC_KEY", "SMS_SENDER", "SMS_GATEWAY_URL", "SMS_GATEWAY_KEY",
        "EMAIL_URL", "FIREBASE_PROJECT_ID", "GOOGLE_APPLICATION_CREDENTIALS", "TRUSTED_PROXIES",
        "SONYFLAKE_MACHINE_ID", "STATIC_ROOT", "PORT", "WEB_CONCURRENCY", "GRPC_BIND",
    ],
)
def test_docs_describe_the_setting(variable):
    assert f"| `{variable}`" in deploy_docs()


@pytest.mark.parametrize(
    "command",
    [
        "docker build -t authenticator .",
        "docker compose up --build",
        "kubectl apply -k deploy/k8s/migrate",
        "kubectl apply -k deploy/k8s",
        "scripts/build-image-offline.sh",
    ],
)
def test_docs_commands_refer_to_files_that_exist(command):
    assert command in deploy_docs()
    for word in command.split():
        if "/" in word and not word.startswith(("http", "/")):
            assert (ROOT / word).exists(), word
