"""Dependencies failing, hostile input, throttles: clean answers, nothing half-written."""

from __future__ import annotations

import pytest

from accounts.models import User
from authenticator.core.background import wait_idle
from otp.models import Otp
from sessions_log.models import LoginState
from tests.factories import UserFactory

from .conftest import last_code_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


@pytest.fixture
def dead_tokenizer(settings):
    from authenticator.tokenizer import reset_tokenizer

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TOKENIZER_URL": "http://127.0.0.1:9", "TOKENIZER_API_KEY": "k",
                              "TOKENIZER_RETRIES": 0, "TOKENIZER_CONNECT_TIMEOUT": 0.5}
    reset_tokenizer()
    yield
    reset_tokenizer()


def test_dead_tokenizer_on_sign_up_verify_is_503_and_leaves_nothing_half_done(api, settings):
    api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}, format="json")
    code = last_code_to(PHONE)
    from authenticator.tokenizer import reset_tokenizer

    original = settings.AUTHENTICATOR
    settings.AUTHENTICATOR = {**original, "TOKENIZER_URL": "http://127.0.0.1:9", "TOKENIZER_API_KEY": "k", "TOKENIZER_RETRIES": 0}
    reset_tokenizer()
    response = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "tokenizer_unavailable"
    assert int(response["Retry-After"]) > 0
    assert User.objects.get().status == "unverified"
    assert not LoginState.objects.exists()
    assert Otp.objects.get().consumed_at is None
    settings.AUTHENTICATOR = original
    reset_tokenizer()
    retry = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert retry.status_code == 201  # the same code works once the Tokenizer is back


def test_dead_tokenizer_on_sign_in_is_503_with_no_active_login_state(api, dead_tokenizer):
    UserFactory(phone_number=PHONE)
    api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    response = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    assert response.status_code == 503 and response.json()["code"] == "tokenizer_unavailable"
    assert not LoginState.objects.exists()


def test_dead_tokenizer_on_authenticated_call_is_503(api, dead_tokenizer):
    response = api.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer some.jwt.token")
    assert response.status_code == 503


@pytest.mark.parametrize(
    "raw,content_type",
    [
        (b"{not json", "application/json"),
        (b"[1,2,3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"null", "application/json"),
        (b'{"phone_number": "+447400\\u0000123456", "country_id": "GB", "name": "A"}', "application/json"),
        (b'{"phone_number": ["x"], "country_id": {"a": 1}, "name": 5}', "application/json"),
        (b'{"phone_number": "\' OR 1=1 --", "country_id": "GB", "name": "Robert\'); DROP TABLE users;--"}', "application/json"),
        (b"phone_number=1", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00garbage", "application/json"),
    ],
)
def test_hostile_bodies_get_4xx_never_500(api, raw, content_type):
    response = api.generic("POST", "/api/v1/auth/signup", raw, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert "code" in response.json()
    assert User.objects.count() == 0 or User.objects.filter(phone_number="+447400123456").exists()


def test_right_to_left_mark_in_a_phone_number_is_dropped(api):
    body = {"phone_number": "\u202e+447400123456\u200f", "country_id": "GB", "name": "A"}
    response = api.post("/api/v1/auth/signup", body, format="json")
    assert response.status_code == 202
    wait_idle()  # the account is made after the answer
    assert User.objects.get().phone_number == "+447400123456"


def test_body_over_the_limit_is_413(api):
    body = b'{"name": "' + b"a" * 200_000 + b'"}'
    response = api.generic("POST", "/api/v1/auth/signup", body, content_type="application/json")
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def test_array_of_ten_thousand_items_is_400(api):
    import json

    body = json.dumps({"phone_number": list(range(10_000)), "country_id": "GB", "name": "A"}).encode()
    response = api.generic("POST", "/api/v1/auth/signup", body, content_type="application/json")
    assert response.status_code in (400, 413)


def test_unknown_url_and_wrong_method_are_json(api):
    missing = api.get("/api/v1/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = api.get("/api/v1/auth/signup")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_per_ip_throttle_on_otp_requests_ignores_spoofed_forwarded_for(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "otp_ip": "3/min"}}

    try:
        codes = []
        for n in range(5):
            response = api.post("/api/v1/auth/otp", {"phone_number": f"+44740012345{n}"}, format="json",
                                HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
            codes.append(response.status_code)
        assert codes == [202, 202, 202, 429, 429]
        assert int(response["Retry-After"]) > 0
    finally:
        pass


def test_forwarded_for_is_believed_only_from_trusted_proxies(settings):
    from authenticator.edge.client import client_ip

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TRUSTED_PROXIES": ["10.0.0.0/8"]}
    assert client_ip("10.1.2.3", "198.51.100.7, 10.0.0.5") == "198.51.100.7"
    assert client_ip("10.1.2.3", "spoofed, 198.51.100.7") == "198.51.100.7"
    assert client_ip("198.51.100.9", "1.2.3.4") == "198.51.100.9"
    assert client_ip("10.1.2.3", None) == "10.1.2.3"


def test_equivalent_phone_spellings_share_one_rate_limit_key(api):
    UserFactory(phone_number=PHONE)
    assert api.post("/api/v1/auth/otp", {"phone_number": "+44 7400 123456"}, format="json").status_code == 202
    for spelling in ["+447400123456", "+٤٤٧٤٠٠١٢٣٤٥٦", "＋４４７４００１２３４５６", "07400123456"]:
        response = api.post("/api/v1/auth/otp", {"phone_number": spelling, "country_id": "GB"}, format="json")
        assert response.status_code == 429, spelling


@pytest.mark.parametrize("exc_name", ["OperationalError", "InterfaceError"])
def test_a_database_outage_is_a_503_not_a_500(exc_name):
    from django.db import utils

    from authenticator.api.errors import exception_handler

    response = exception_handler(getattr(utils, exc_name)("server closed the connection unexpectedly"), {})
    assert response.status_code == 503
    assert response.data["code"] == "database_unavailable"
    assert int(response["Retry-After"]) > 0
