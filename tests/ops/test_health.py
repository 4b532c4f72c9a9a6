"""/healthz and /readyz against the real PostgreSQL, Redis and Tokenizer (or none)."""

from __future__ import annotations

import pytest

from .conftest import TOKENIZER_API_KEY, authenticator_settings

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_ok_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_reports_each_dependency_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "tokenizer"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["vendor"] == "postgresql"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["tokenizer"]["status"] == "ok"
    assert body["checks"]["tokenizer"]["mode"] == "embedded"
    assert all(isinstance(c["duration_ms"], float) for c in body["checks"].values())
    assert response["Cache-Control"] == "no-store"


def test_readyz_checks_the_tokenizer_over_http(client, http_tokenizer):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["tokenizer"]["status"] == "ok"
    assert response.json()["checks"]["tokenizer"]["mode"] == "http"


def test_readyz_is_503_when_the_tokenizer_is_unreachable_and_names_no_secret(client, settings, refused_url):
    authenticator_settings(settings, TOKENIZER_URL=refused_url, TOKENIZER_API_KEY=TOKENIZER_API_KEY, TOKENIZER_RETRIES=0)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["tokenizer"]["status"] == "error"
    assert body["checks"]["tokenizer"]["error"] == "TokenizerUnavailable"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    text = response.content.decode()
    assert TOKENIZER_API_KEY not in text
    assert refused_url.rsplit(":", 1)[1] not in text  # not even the port


def test_readyz_is_503_when_redis_is_unreachable(client, settings, refused_url):
    port = refused_url.rsplit(":", 1)[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"] == {"status": "error", "error": "ConnectionError", "duration_ms": body["checks"]["redis"]["duration_ms"]}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["tokenizer"]["status"] == "ok"
    assert port not in response.content.decode()


def test_readyz_without_redis_configured_skips_that_check(client, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"]["status"] == "skipped"


def test_readyz_is_503_when_postgresql_is_unreachable(refused_url, tmp_path):
    """A separate process whose DATABASE_URL points at a closed port: the real failure."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    port = refused_url.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"postgres://nobody:s3cret-db-password@127.0.0.1:{port}/nothing",
        "DB_POOL": "0",
        "ALLOWED_HOSTS": "testserver",
        "SONYFLAKE_MACHINE_ID": "7",
    }
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.content.decode()}))"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    body = json.loads(answer["body"])
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert "s3cret-db-password" not in answer["body"] and port not in answer["body"]
    assert "s3cret-db-password" not in done.stderr  # nor in the log lines


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_answer_whatever_the_host_header_says(client, settings, path):
    # Kubernetes probes and Prometheus use the pod's IP as Host, which ALLOWED_HOSTS lacks.
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "METRICS_TOKEN": "scrape"}
    response = client.get(path, HTTP_HOST="10.42.7.19:8000", HTTP_AUTHORIZATION="Bearer scrape")
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"]


def test_other_paths_still_refuse_an_unknown_host(client):
    assert client.get("/api/v1/me", HTTP_HOST="10.42.7.19:8000").status_code == 400
    assert client.get("/admin/login/", HTTP_HOST="10.42.7.19:8000").status_code == 400
