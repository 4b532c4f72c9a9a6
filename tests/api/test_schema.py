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


def _schema(client) -> dict:
    return client.get("/api/schema/?format=json").json()


def test_public_operations_require_nothing_and_the_others_a_bearer_token(client):
    schema = _schema(client)
    assert "security" not in schema  # no global requirement to inherit
    import re

    from django.urls import resolve

    public = {"/api/v1/auth/signup", "/api/v1/auth/signup/verify", "/api/v1/auth/otp", "/api/v1/auth/otp/verify",
              "/api/v1/auth/google", "/api/v1/auth/token/refresh"}
    seen_public = set()
    for path, item in schema["paths"].items():
        view = resolve(re.sub(r"\{[^}]+\}", "1", path)).func.view_class
        open_to_anyone = not view.authentication_classes  # PublicView; the others take a bearer token
        if open_to_anyone:
            seen_public.add(path)
        for method, operation in item.items():
            expected = [] if open_to_anyone else [{"bearerAuth": []}]
            assert operation["security"] == expected, f"{method.upper()} {path}"
    assert public <= seen_public
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_google_sign_in_answers_one_of_two_shapes(client):
    schema = _schema(client)
    ok = schema["paths"]["/api/v1/auth/google"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/GoogleSignInOut"}
    assert schema["components"]["schemas"]["GoogleSignInOut"] == {"oneOf": [
        {"$ref": "#/components/schemas/SignedInOut"}, {"$ref": "#/components/schemas/GoogleContinuationOut"}]}
    continuation = schema["components"]["schemas"]["GoogleContinuationOut"]
    assert {"status", "continuation", "expires_in", "email", "name"} == set(continuation["required"])


def test_field_errors_have_their_real_shape(client):
    components = _schema(client)["components"]["schemas"]
    errors = components["ErrorOut"]["properties"]["errors"]
    assert errors == {"type": "object", "additionalProperties": {
        "type": "array", "items": {"$ref": "#/components/schemas/FieldErrorOut"}}}
    assert components["FieldErrorOut"]["required"] == ["code", "message"]
    limited = _schema(client)["paths"]["/api/v1/auth/otp"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_every_component_is_described_by_its_own_data(client):
    from authenticator.edge.inputs import FlatSerializer, StrictSerializer

    inherited = {" ".join(cls.__doc__.split())[:40] for cls in (FlatSerializer, StrictSerializer)}
    for name, component in _schema(client)["components"]["schemas"].items():
        if name.endswith("Enum") or "oneOf" in component:
            continue
        description = " ".join(component.get("description", "").split())
        assert len(description) > 40, name
        assert description[:40] not in inherited, name


def test_the_schema_validates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
