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
            + "\nStart them (see docs/contributors/tests.md) or point DATABASE_URL / REDIS_URL at them.",
            returncode=3,
        )


@pytest.fixture(scope="session", autouse=True)
def _release_sonyflake_lease(django_db_setup):
    """The id lease's heartbeat connects to the test database: stop it, and free the id,
    before the drop."""
    yield
    from authenticator.core.ids import generator

    generator.release()


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    from authenticator.core import budgets

    cache.clear()
    budgets._trips_seen.clear()  # the trips this process wrote down: the database's are gone
    yield


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    """Each test sees only its own SMS; background jobs a test queued (sign-in codes)
    finish before the next test and before its database is flushed."""
    from authenticator.core.background import wait_idle
    from otp import channels

    channels.outbox.clear()
    yield
    wait_idle(timeout=30)
    channels.outbox.clear()


@pytest.fixture(scope="session")
def firebase_emulator():
    """The real Firebase Auth Emulator for this session: yields its "host:port".

    Reuses one already answering at FIREBASE_AUTH_EMULATOR_HOST, else starts one on free
    ports (tests/firebase/emulator.py) and stops it at the end. FIREBASE_AUTH_EMULATOR_HOST
    is set for the test process while the session lasts; its project is
    ``tests.firebase.emulator.PROJECT_ID``.
    """
    from tests.firebase import emulator

    try:
        running = emulator.start_or_reuse()
    except emulator.EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)
    previous = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = running.host
    try:
        yield running.host
    finally:
        if previous is None:
            os.environ.pop("FIREBASE_AUTH_EMULATOR_HOST", None)
        else:
            os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = previous
        running.stop()


@pytest.fixture(autouse=True)
def _force_login_verifies_staff(monkeypatch):
    """The admin lets in only sessions verified by an OTP device (django-otp's OTPAdminSite).

    A test that signs a staff member in (anywhere in the suite) with ``force_login`` means "fully signed in", so
    the session also gets what a sign-in with password and TOTP code leaves in it: the
    id of a confirmed device. Signing in for real is proved in test_staff_sign_in.py.
    """
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from tests.admin.conftest import totp_device

    force_login = Client.force_login

    def force_login_verified(self, user, backend=None):
        force_login(self, user, backend)
        if user.is_staff:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login_verified)
