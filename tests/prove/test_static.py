"""Static checks: Django's deploy checks with production settings, bandit, ruff.

pip-audit needs the network to read the advisory database; it is not run here and not
claimed clean (see docs/security/proofs.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOURCES = ["accounts", "authenticator", "config", "otp", "sessions_log", "scripts", "manage.py"]

pytestmark = pytest.mark.slow

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-for-deploy-checks-0123456789",
    "ALLOWED_HOSTS": "auth.example.com",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/authenticator"),
    "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    "SMS_SENDER": "otp.channels.HttpGatewaySmsSender",
    "SMS_GATEWAY_URL": "https://sms.example.com/send",
    "EMAIL_URL": "smtp+tls://user:pass@smtp.example.com:587",
    "TOKENIZER_URL": "https://tokenizer.example.com",
    "TOKENIZER_API_KEY": "k" * 32,
    "BEHIND_TLS_PROXY": "1",
    "SECURE_SSL_REDIRECT": "1",
    "CSRF_TRUSTED_ORIGINS": "https://auth.example.com",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    return subprocess.run(argv, check=False, cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=300)


def test_deploy_checks_pass_at_warning_level_with_production_settings():
    done = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bandit_finds_no_medium_or_high_issue():
    done = run([str(BIN / "bandit"), "-r", "-q", "-f", "json", *SOURCES, "-x", "*/migrations/*,*/tests/*"])
    report = json.loads(done.stdout)
    serious = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']} {r['issue_text']}"
               for r in report["results"] if r["issue_severity"] in ("MEDIUM", "HIGH")]
    print(f"\nbandit: {len(report['results'])} findings, {len(serious)} medium/high")
    assert serious == []


GENERATED = "*_pb2.py,*_pb2_grpc.py,*_pb2.pyi"  # protoc output, checked against the proto elsewhere


def test_ruff_finds_no_error_or_undefined_or_unused_name():
    # The repository has no ruff configuration of its own: this holds every file to
    # ruff's classic core set (syntax, statements, imports, pyflakes).
    done = run([str(BIN / "ruff"), "check", ".", "--select", "E4,E7,E9,F", "--extend-exclude", GENERATED])
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_default_rules_pass_on_the_proofs_and_benchmark():
    done = run([str(BIN / "ruff"), "check", "tests/prove", "scripts/prove", "scripts/bench"])
    assert done.returncode == 0, done.stdout + done.stderr
