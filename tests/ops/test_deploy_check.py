"""`manage.py check --deploy --fail-level WARNING` passes with production settings.

Run in a fresh process with only production-like environment variables (the test
process has DEBUG=1 from the test settings; none of it is inherited). The variables are
the ones README.md lists (Operations).
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
        "CSRF_TRUSTED_ORIGINS": "https://auth.example.com",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "SECURE_SSL_REDIRECT": "1",
        "BEHIND_TLS_PROXY": "1",
        "EMAIL_URL": "smtp+tls://mailer:mail-password@smtp.example.com:587",
        "SMS_SENDER": "otp.channels.HttpGatewaySmsSender",
        "SMS_GATEWAY_URL": "https://sms.example.com/v1/messages",
        "SMS_GATEWAY_KEY": secrets.token_urlsafe(24),
        "TOKENIZER_URL": "https://tokenizer.internal.example.com",
        "TOKENIZER_API_KEY": secrets.token_urlsafe(32),
        "OTP_HMAC_KEY": secrets.token_urlsafe(32),
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
        ({"SMS_SENDER": "otp.channels.ConsoleSmsSender"}, "otp.W001"),
    ],
)
def test_deploy_check_fails_when_a_production_setting_is_missing(production_env, change, check_id):
    done = deploy_check({**production_env, **change})
    assert done.returncode != 0
    assert check_id in done.stdout + done.stderr
