"""SQL statements per flow endpoint, counted (transaction statements included)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory

from .conftest import last_code_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


def count(fn) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result


def test_sign_in_request_budget(api):
    UserFactory(phone_number=PHONE)
    n, response = count(lambda: api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json"))
    assert response.status_code == 202
    assert n <= 1, n  # the user lookup; the code is made in the background


def test_sign_in_verify_budget(api):
    UserFactory(phone_number=PHONE)
    api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    code = last_code_to(PHONE)
    n, response = count(lambda: api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": code}, format="json"))
    assert response.status_code == 200
    # user, count+check the code, BEGIN, consume, login state, last_login, token session,
    # refresh token, COMMIT
    assert n <= 10, n


def test_authenticated_call_budget(api):
    UserFactory(phone_number=PHONE)
    api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    tokens = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json").json()["tokens"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    api.get("/api/v1/me", **auth)  # introspection now cached
    n, response = count(lambda: api.get("/api/v1/me", **auth))
    assert response.status_code == 200
    assert n <= 1, n
