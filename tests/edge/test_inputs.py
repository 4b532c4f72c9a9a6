"""The edge's inputs: one validation for every transport, into one flow call's arguments."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from authenticator.core.errors import InvalidInput
from authenticator.edge import inputs
from authenticator.edge.client import requester
from authenticator.flows.common import Identifier, Requester
from tests.cli.conftest import cli

pytestmark = pytest.mark.django_db

CALLER = requester(ip="81.2.69.160", user_agent="app/1 " + "x" * 600)


def field_errors(input_class, data) -> dict:
    with pytest.raises(InvalidInput) as refused:
        inputs.parse(input_class, data, requester=CALLER)
    assert refused.value.code == "invalid_request"
    return refused.value.extra["errors"]


def test_a_verify_input_becomes_the_flow_call_with_the_requester_and_its_device():
    kwargs = inputs.parse(inputs.OtpVerifyIn, {"phone_number": "07400 123456", "country_id": "gb", "otp": "012345",
                                                "device": " ios 18 ", "google_continuation": ""}, requester=CALLER)
    assert kwargs == {
        "identifier": Identifier("phone", "+447400123456"),
        "code": "012345",
        "requester": Requester(platform="ios 18", ip="81.2.69.160", user_agent=("app/1 " + "x" * 600)[:512]),
        "google_continuation": None,  # blank is None
    }


def test_blanks_become_none_once_for_every_flow():
    kwargs = inputs.parse(inputs.SignupIn, {"phone_number": "+447400123456", "country_id": "GB", "name": "Ann",
                                            "salutation": "", "email": ""}, requester=CALLER)
    assert kwargs == {"phone_number": "+447400123456", "country_id": "GB", "name": "Ann", "salutation": None,
                      "email": None, "google_continuation": None, "ip": "81.2.69.160", "challenge_token": None}
    assert inputs.parse(inputs.ProfileIn, {"salutation": ""}) == {"salutation": None}
    assert inputs.parse(inputs.ProfileIn, {}) == {}
    assert inputs.parse(inputs.SignOutIn, {}) == {"everywhere": False}


@pytest.mark.parametrize("code,expected", [
    ("12ab", ["min_length", "invalid"]),
    ("1234567", ["max_length", "invalid"]),
    ("١٢٣٤٥٦", ["invalid"]),  # Arabic-Indic digits are not the code's digits
    (123456, ["invalid"]),  # a number would lose its leading zeros
    ("", ["blank"]),
])
def test_a_malformed_code_is_refused_with_stable_codes(code, expected):
    errors = field_errors(inputs.VerifyEmailIn, {"otp": code})
    assert [item["code"] for item in errors["otp"]] == expected


def test_identifier_errors_come_from_the_flow_normalisation_with_their_field():
    assert field_errors(inputs.OtpRequestIn, {"phone_number": "+1 555"})["phone_number"][0]["code"] == "invalid_phone_number"
    assert field_errors(inputs.OtpRequestIn, {})["non_field_errors"][0]["code"] == "phone_or_email"
    assert field_errors(inputs.OtpRequestIn, {"email": "x@y.z", "extra": 1})["extra"][0]["code"] == "unknown_field"


def test_rest_and_the_cli_refuse_one_input_with_the_same_error_body():
    body = {"phone_number": "+447400123456", "otp": "12ab"}
    rest = APIClient(REMOTE_ADDR="81.2.69.160").post("/api/v1/auth/otp/verify", body, format="json")
    run = cli("signin", "--phone", body["phone_number"], "--otp", body["otp"], "--json")
    assert rest.status_code == 400 and run.status == 2
    assert json.loads(run.err) == rest.json() == {
        "code": "invalid_request", "detail": "The request is invalid.",
        "errors": {"otp": [{"code": "min_length", "message": "Ensure this field has at least 6 characters."},
                           {"code": "invalid", "message": "Enter the 6-digit code."}]},
    }
