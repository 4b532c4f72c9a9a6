"""`manage.py check --deploy --fail-level WARNING` passes with production settings.

Run in a fresh process with only production-like environment variables (the test
process has DEBUG=1 from the test settings; none of it is inherited): exactly
SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, an SMS provider and EMAIL_URL —
every other setting's default is fit for production.

With DEBUG off the runtime checks are errors, not deploy warnings: every command and
every server (gunicorn, hypercorn, the gRPC server) refuses to start when codes would be
logged, the cache is per process, or the Tokenizer is reached over plain http.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    from django.db import connection

    # Django's user-model check builds a User, whose id needs a Sonyflake machine lease
    # from PostgreSQL: point at a database that exists (the test database).
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    import os

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "auth.example.com",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "EMAIL_URL": "smtp+tls://mailer:mail-password@smtp.example.com:587",
        "SMS_SENDER": "otp.channels.HttpGatewaySmsSender",
        "SMS_GATEWAY_URL": "https://sms.example.com/v1/messages",
        "SMS_GATEWAY_KEY": secrets.token_urlsafe(24),
    }


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.django_db
def test_deploy_check_passes_with_production_settings(production_env):
    done = deploy_check(production_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "check_id"),
    [
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SECRET_KEY": "short-and-simple"}, "security.W009"),
        ({"SMS_SENDER": "otp.channels.ConsoleSmsSender"}, "otp.E004"),
        ({"SMS_SENDER": "otp.channels.OutboxSmsSender"}, "otp.W001"),
        ({"EMAIL_URL": "consolemail://"}, "otp.E005"),
        ({"EMAIL_URL": "filemail:///tmp/mail"}, "otp.E005"),
        ({"REDIS_URL": ""}, "authenticator.E101"),
        ({"TOKENIZER_URL": "http://tokenizer.internal:8080", "TOKENIZER_API_KEY": "k" * 40}, "authenticator.E102"),
        ({"CELERY_BROKER_URL": "amqp://guest@rabbit:5672//"}, "authenticator.E104"),
        ({"CELERY_BROKER_URL": "redis-host:6379"}, "authenticator.E104"),
    ],
)
def test_deploy_check_fails_when_a_production_setting_is_missing(production_env, change, check_id):
    done = deploy_check({**production_env, **change})
    assert done.returncode != 0
    assert check_id in done.stdout + done.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("change", [
    {"TOKENIZER_URL": "https://tokenizer.internal", "TOKENIZER_API_KEY": "k" * 40},
    {"TOKENIZER_URL": "http://127.0.0.1:8080", "TOKENIZER_API_KEY": "k" * 40},
    {"TOKENIZER_URL": "http://tokenizer.internal:8080", "TOKENIZER_API_KEY": "k" * 40, "TOKENIZER_ALLOW_PLAINTEXT": "1"},
    {"CELERY_BROKER_URL": "redis://:secret@redis.internal:6379/1"},
    {"CELERY_BROKER_URL": "rediss://redis.internal:6380/1"},
])
def test_a_tokenizer_over_tls_on_loopback_or_explicitly_allowed_passes(production_env, change):
    done = deploy_check({**production_env, **change})
    assert done.returncode == 0, done.stdout + done.stderr


UNSAFE = {"SMS_SENDER": "otp.channels.ConsoleSmsSender", "REDIS_URL": ""}
SERVERS = {
    "gunicorn": [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
    "hypercorn": [sys.executable, "-m", "hypercorn", "--config", "file:config/hypercorn.py", "config.asgi:application"],
    "grpcserver": [sys.executable, "manage.py", "grpcserver", "--bind", "127.0.0.1:0"],
    "manage.py signout": [sys.executable, "manage.py", "signout", "--user", "1"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("server", SERVERS)
def test_servers_and_commands_refuse_to_start_with_console_codes_or_a_per_process_cache(production_env, server):
    env = {**production_env, **UNSAFE, "HOST": "127.0.0.1", "PORT": "0", "H2_BIND": "127.0.0.1:0",
           "WEB_CONCURRENCY": "1", "H2_WORKERS": "1"}
    try:
        done = subprocess.run(SERVERS[server], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{server} started and served:\n{exc.stderr}") from None
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "otp.E004" in output and "authenticator.E101" in output, output[-3000:]
