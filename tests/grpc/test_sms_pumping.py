"""The SMS checks over gRPC: the same error table and field errors as REST
(tests/api/test_sms_pumping.py), and the challenge token in its proto field."""

from __future__ import annotations

import json

import grpc
import pytest

from authenticator.challenge import _verifier
from authenticator.grpc.v1 import authenticator_pb2 as pb
from scripts.prove.turnstile import TurnstileServer
from tests.factories import UserFactory

from .conftest import failure, sent_to

pytestmark = pytest.mark.django_db(transaction=True)


def setting(settings, **values) -> None:
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0, **values}


def test_a_number_of_another_country_is_invalid_request_with_the_field_error(stub, settings):
    setting(settings, SMS_ALLOWED_COUNTRIES=["GB"])
    UserFactory(phone_number="+12025550123", country_id="US")
    known = failure(stub.RequestOtp, pb.RequestOtpRequest(phone_number="+12025550123"))
    unknown = failure(stub.RequestOtp, pb.RequestOtpRequest(phone_number="+12025550188"))
    assert (known.status, known.code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert json.loads(known.metadata["errors"])["phone_number"][0]["code"] == "country_not_supported"
    assert (known.status, known.details, known.metadata) == (unknown.status, unknown.details, unknown.metadata)
    signup = failure(stub.SignUp, pb.SignUpRequest(phone_number="+12025550188", country_id="US", name="Ann"))
    assert json.loads(signup.metadata["errors"])["phone_number"][0]["code"] == "country_not_supported"


def test_past_a_budget_resource_exhausted_with_retry_after(stub, settings):
    setting(settings, SMS_BUDGET_PER_COUNTRY_HOUR=1)
    UserFactory(phone_number="+12025550123", country_id="US")  # its code is texted: it counts
    stub.RequestOtp(pb.RequestOtpRequest(phone_number="+12025550123"), timeout=20)
    over = failure(stub.RequestOtp, pb.RequestOtpRequest(phone_number="+12025550188"))
    assert (over.status, over.code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "sms_budget_exceeded")
    assert 1 <= int(over.metadata["retry-after"]) <= 3601


def test_the_challenge_token_field(stub, settings):
    server = TurnstileServer(secret="s3cret")
    setting(settings, CHALLENGE_VERIFIER="authenticator.challenge.TurnstileVerifier", TURNSTILE_SECRET="s3cret",
            TURNSTILE_VERIFY_URL=server.url, CHALLENGE_MODE="always")
    _verifier.cache_clear()
    try:
        missing = failure(stub.SignUp, pb.SignUpRequest(phone_number="+447400123456", country_id="GB", name="Ann"))
        assert (missing.status, missing.code) == (grpc.StatusCode.FAILED_PRECONDITION, "challenge_required")
        wrong = failure(stub.RequestOtp, pb.RequestOtpRequest(phone_number="+447400123456", challenge_token="0.nope"))
        assert (wrong.status, wrong.code) == (grpc.StatusCode.FAILED_PRECONDITION, "challenge_failed")
        stub.SignUp(pb.SignUpRequest(phone_number="+447400123456", country_id="GB", name="Ann",
                                     challenge_token=server.issue("signup")), timeout=20)
        assert sent_to("+447400123456")
        stub.RequestOtp(pb.RequestOtpRequest(email="ann@example.com", challenge_token=server.issue("sign_in")), timeout=20)
        server.stop()
        down = failure(stub.RequestOtp, pb.RequestOtpRequest(email="ann@example.com", challenge_token="0.x"))
        assert (down.status, down.code) == (grpc.StatusCode.UNAVAILABLE, "challenge_unavailable")
    finally:
        _verifier.cache_clear()
