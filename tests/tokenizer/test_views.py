"""The Tokenizer's HTTP server: gatekeeping and error shapes (the contract itself is
covered through the client in test_contract.py)."""

from __future__ import annotations

import json

import pytest
from django.urls import resolve

from authenticator.tokenizer import views

from .conftest import API_KEY, authenticator_settings, new_session_id

pytestmark = pytest.mark.django_db

AUTH = {"HTTP_AUTHORIZATION": f"Bearer {API_KEY}"}


@pytest.fixture
def served(settings) -> None:
    settings.ROOT_URLCONF = "tests.tokenizer.urls"
    authenticator_settings(settings, TOKENIZER_SERVE=True, TOKENIZER_API_KEY=API_KEY)


def post(client, path: str, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(f"/tokenizer/v1/{path}", data=data, content_type="application/json", **headers)


def issue_body() -> dict:
    return {"subject": "1001", "session_id": new_session_id(), "amr": ["otp_sms"], "level": 1, "ip": None, "user_agent": "t"}


def test_the_project_mounts_the_server_under_tokenizer():
    assert resolve("/tokenizer/v1/tokens").func is views.issue
    assert resolve("/tokenizer/v1/tokens/refresh").func is views.refresh
    assert resolve("/tokenizer/v1/tokens/revoke").func is views.revoke_token
    assert resolve("/tokenizer/v1/tokens/introspect").func is views.introspect
    assert resolve("/tokenizer/v1/sessions/revoke").func is views.revoke_sessions
    assert resolve("/tokenizer/v1/jwks").func is views.jwks


def test_every_endpoint_is_404_unless_serving_is_on(client, settings):
    settings.ROOT_URLCONF = "tests.tokenizer.urls"
    authenticator_settings(settings, TOKENIZER_SERVE=False, TOKENIZER_API_KEY=API_KEY)

    for path in ("tokens", "tokens/refresh", "tokens/revoke", "tokens/introspect", "sessions/revoke"):
        response = post(client, path, {}, **AUTH)
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "error_description": "Not found."}
    assert client.get("/tokenizer/v1/jwks", **AUTH).status_code == 404


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", f"Basic {API_KEY}", "Bearer", f"Bearer {API_KEY}x"])
def test_a_caller_without_the_api_key_is_refused(client, served, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = post(client, "tokens/introspect", {"token": "x"}, **headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized_client"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_with_no_api_key_configured_nobody_gets_in(client, settings):
    settings.ROOT_URLCONF = "tests.tokenizer.urls"
    authenticator_settings(settings, TOKENIZER_SERVE=True, TOKENIZER_API_KEY="")

    response = post(client, "tokens/introspect", {"token": "x"}, HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 401


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe", b"[" * 30000 + b"]" * 30000])
def test_a_body_that_is_not_a_json_object_is_invalid_request(client, served, raw):
    response = post(client, "tokens/introspect", raw, **AUTH)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "The body must be a JSON object."}


def test_a_body_over_the_upload_limit_is_413(client, served, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = post(client, "tokens/introspect", {"token": "x" * 2000}, **AUTH)

    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("tokens/refresh", {}),
        ("tokens/refresh", {"refresh_token": 5}),
        ("tokens/revoke", {}),
        ("tokens/introspect", {"token": None}),
        ("sessions/revoke", {"session_id": "1"}),
        ("sessions/revoke", {"subject": "1001", "except_session_id": 7}),
        ("tokens", {**issue_body(), "level": "1"}),
        ("tokens", {**issue_body(), "amr": "otp_sms"}),
        ("tokens", {**issue_body(), "ip": 17}),
        ("tokens", {**issue_body(), "user_agent": ["x"]}),
        ("tokens", {key: value for key, value in issue_body().items() if key != "subject"}),
    ],
)
def test_missing_or_mistyped_fields_are_invalid_request(client, served, path, body):
    headers = {**AUTH, "HTTP_IDEMPOTENCY_KEY": "k"}

    response = post(client, path, body, **headers)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"]


def test_issue_without_an_idempotency_key_is_invalid_request(client, served):
    response = post(client, "tokens", issue_body(), **AUTH)

    assert response.status_code == 400
    assert response.json()["error_description"] == "The Idempotency-Key header is required."


def test_issue_answers_201_with_a_pair_that_no_cache_may_keep(client, served):
    body = issue_body()

    response = post(client, "tokens", body, **AUTH, HTTP_IDEMPOTENCY_KEY="login-state-1")

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    assert response.json()["session_id"] == body["session_id"]
    assert response.json()["token_type"] == "Bearer"


def test_refresh_with_an_unknown_token_is_401_invalid_token(client, served):
    response = post(client, "tokens/refresh", {"refresh_token": "unknown"}, **AUTH)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": "The token is invalid, expired or revoked."}


def test_revoke_answers_200_for_an_unknown_token(client, served):
    response = post(client, "tokens/revoke", {"token": "unknown", "token_type_hint": "refresh_token"}, **AUTH)

    assert response.status_code == 200


def test_a_wrong_method_is_405(client, served):
    assert client.get("/tokenizer/v1/tokens", **AUTH).status_code == 405
    response = post(client, "jwks", {}, **AUTH)
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_a_database_failure_is_503_not_a_stack_trace(client, served, monkeypatch):
    from django.db import OperationalError

    def broken(**kwargs):
        raise OperationalError("database is down")

    monkeypatch.setattr(views._local, "introspect", broken)

    response = post(client, "tokens/introspect", {"token": "x"}, **AUTH)

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "database is down" not in response.content.decode()
