from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_every_path_and_error_status(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in ["/api/v1/auth/signup", "/api/v1/auth/signup/verify", "/api/v1/auth/otp", "/api/v1/auth/otp/verify",
                 "/api/v1/auth/token/refresh", "/api/v1/auth/signout", "/api/v1/me", "/api/v1/me/sessions",
                 "/api/v1/me/sessions/{session_id}"]:
        assert path in paths, path
    assert set(paths["/api/v1/auth/otp/verify"]["post"]["responses"]) >= {"200", "400", "403", "429", "503"}
    assert set(paths["/api/v1/auth/signup"]["post"]["responses"]) >= {"202", "400", "429", "503"}
    assert "409" not in paths["/api/v1/auth/signup"]["post"]["responses"]  # an email is a claim, never a conflict
    assert set(paths["/api/v1/me/sessions/{session_id}"]["delete"]["responses"]) >= {"204", "401", "404"}


def test_every_throttled_operation_documents_429(client):
    """Every view has a throttle (per IP, or per user once signed in): each operation of
    the API may answer 429, so each one must say so."""
    schema = client.get("/api/schema/?format=json").json()
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 14
    missing = [f"{method.upper()} {path}" for path, method, op in operations if "429" not in op["responses"]]
    assert missing == []


def test_docs_page_is_served(client):
    assert client.get("/api/docs/").status_code == 200
