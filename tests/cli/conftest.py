from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command

from tests.cli.gateway import SmsGateway

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    status: int
    out: str
    err: str


def cli(*args: str) -> Run:
    """Run a management command in this process, as ``manage.py`` would, capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    return Run(status, out.getvalue(), err.getvalue())


def database_url() -> str:
    """The test database (pytest-django's test_<name>) as a DATABASE_URL for subprocesses."""
    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DEBUG="1",
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def outbox_code(to: str) -> str:
    """The code in the latest SMS the test process "sent" (OutboxSmsSender) to ``to``."""
    from authenticator.core.background import wait_idle
    from otp import channels

    wait_idle()
    texts = [m.message for m in channels.outbox if m.to == to]
    assert texts, f"nothing was sent to {to}"
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, f"no code in {texts[-1]!r}"
    return match.group(1)


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()
    yield gateway
    gateway.close()
