"""Hostile JSON: bodies, bearer tokens and ID tokens nested past any sane depth are a 4xx.

Python's json module recurses once per nesting level, so a few kilobytes of ``[`` reach
the interpreter's recursion limit; that RecursionError must never become a 500.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.urls import get_resolver

pytestmark = pytest.mark.django_db(transaction=True)  # sign-up writes from a background job

# Every route of the REST API with a body, and the methods that take one.
BODY_ENDPOINTS = [
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/signup/verify"),
    ("post", "/api/v1/auth/otp"),
    ("post", "/api/v1/auth/otp/verify"),
    ("post", "/api/v1/auth/google"),
    ("post", "/api/v1/auth/token/refresh"),
    ("post", "/api/v1/auth/signout"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/me/email/verify"),
]
# Routes whose body is a form, not JSON (a provider's callback).
FORM_ENDPOINTS = [("post", "/api/v1/delivery/twilio/status")]


def deep(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def test_the_list_covers_every_api_route():
    from authenticator.api import urls

    routes = {f"/api/v1/{p.pattern}" for p in urls.urlpatterns}
    bodyless = {"/api/v1/me/identities", "/api/v1/me/identities/<str:identity_id>", "/api/v1/me/sessions",
                "/api/v1/me/sessions/<str:session_id>"}
    assert routes - bodyless == {path for _method, path in BODY_ENDPOINTS + FORM_ENDPOINTS}
    assert get_resolver()  # the project's urls load with the API included


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize(("method", "path"), FORM_ENDPOINTS)
def test_a_form_endpoint_refuses_deep_json_and_junk_cleanly(api, method, path, kind):
    response = getattr(api, method)(path, deep(5000, kind), content_type="application/json")
    assert response.status_code == 415, response.content  # it reads forms only
    assert response.json()["code"] == "unsupported_media_type"
    junk = "&".join(f"{'a' * 50}{i}={'[' * 40}" for i in range(150))
    response = getattr(api, method)(path, junk, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 403  # no valid signature: nothing read further
    assert response.json()["code"] == "invalid_signature"


@pytest.fixture
def signed_in(api):
    from tests.api.conftest import sign_up

    tokens = sign_up(api)["tokens"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return api


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", [100, 900, 5000])
@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_deeply_nested_body_is_a_clean_400(signed_in, method, path, depth, kind):
    response = getattr(signed_in, method)(path, deep(depth, kind), content_type="application/json")
    assert response.status_code == 400, (path, depth, response.content[:200])
    assert response.json()["code"] == "malformed_request"


@pytest.mark.parametrize("depth", [3, 30])
def test_nesting_a_client_might_send_is_still_read(api, depth):
    # Shallow structures are parsed as before: a field of the wrong type is a field error.
    body = {"phone_number": json.loads(deep(depth, "array")), "country_id": "GB", "name": "Ann"}
    response = api.post("/api/v1/auth/signup", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "phone_number" in response.json()["errors"]


def _jwt_shaped(payload: str) -> str:
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}))
    return f"{header}.{part(payload)}.c2ln"


@pytest.mark.parametrize("depth", [900, 1200])
def test_bearer_token_with_a_deeply_nested_payload_is_401(api, depth):
    token = _jwt_shaped(deep(depth, "array"))
    assert len(token) < 4096  # the size the introspection cache still looks into
    response = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401, response.content[:200]
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize("depth", [900, 1500])
def test_google_id_token_with_a_deeply_nested_payload_is_401(api, settings, monkeypatch, depth):
    # firebase-admin decodes the claims before any key or network is needed: no emulator.
    from authenticator import firebase

    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, "127.0.0.1:9")
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": "demo-hostile"}
    firebase.reset_clients()
    token = _jwt_shaped(deep(depth, "array"))
    try:
        response = api.post("/api/v1/auth/google", {"id_token": token}, format="json")
    finally:
        firebase.reset_clients()
    assert response.status_code == 401, response.content[:200]
    assert response.json()["code"] == "invalid_id_token"
