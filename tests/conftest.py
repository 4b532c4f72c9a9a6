from __future__ import annotations

import os

import pytest


def _reachable() -> list[str]:
    """The real PostgreSQL and Redis must be up; say so at once if they are not."""
    import environ
    import psycopg
    import redis

    problems = []
    env = environ.Env()
    db = env.db("DATABASE_URL")
    try:
        psycopg.connect(
            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
            password=db["PASSWORD"] or None, dbname="postgres", connect_timeout=3,
        ).close()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"PostgreSQL at {db['HOST']}:{db['PORT'] or 5432} is not reachable ({exc}).")
    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {os.environ['REDIS_URL']} is not reachable ({exc}).")
    return problems


def pytest_sessionstart(session):
    from django.conf import settings

    settings.DATABASES  # noqa: B018 - loads config.settings_test, which sets the defaults
    problems = _reachable()
    if problems:
        pytest.exit(
            "The test suite needs the real services:\n  " + "\n  ".join(problems)
            + "\nStart them (see README, 'Tests') or point DATABASE_URL / REDIS_URL at them.",
            returncode=3,
        )


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    """Each test sees only its own SMS; no background send outlives the test that queued it."""
    from otp import channels
    from otp.delivery import wait_for_deliveries

    channels.outbox.clear()
    yield
    wait_for_deliveries(timeout=30)
    channels.outbox.clear()
