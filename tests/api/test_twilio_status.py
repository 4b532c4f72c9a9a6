"""Twilio's status callbacks: a message sent through Twilio (a real local server speaking
its Messages API) records Twilio's sid, and the signed callback moves its record on; a
wrongly signed one is 403 invalid_signature and changes nothing."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from rest_framework.test import APIClient

from authenticator.core.background import wait_idle
from authenticator.flows.common import Identifier
from authenticator.flows.sign_in_otp import sign_in_otp_request
from otp.channels import twilio_signature
from otp.models import Delivery
from tests.factories import UserFactory
from tests.otp import test_channels

http_server = test_channels.http_server
authn_settings = test_channels.authn_settings

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "twilio-auth-token"
CALLBACK = "https://auth.example.com/api/v1/delivery/twilio/status"
PATH = "/api/v1/delivery/twilio/status"


@pytest.fixture
def twilio(http_server, authn_settings):
    authn_settings(SMS_SENDER="otp.channels.TwilioSmsSender", TWILIO_ACCOUNT_SID="AC0123456789abcdef",
                   TWILIO_AUTH_TOKEN=TOKEN, TWILIO_FROM="+15005550006", TWILIO_API_URL=http_server.url,
                   TWILIO_STATUS_CALLBACK_URL=CALLBACK, SMS_TIMEOUT=2.0)
    http_server.status = 201
    http_server.response_body = json.dumps({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}).encode()
    return http_server


@pytest.fixture
def sent(twilio) -> Delivery:
    user = UserFactory(phone_number="+447400777888")
    sign_in_otp_request(identifier=Identifier("phone", user.phone_number), ip="81.2.69.160")
    wait_idle()
    return Delivery.objects.get(user=user)


def post_form(params: dict[str, str], signature: str):
    from urllib.parse import urlencode

    return APIClient(REMOTE_ADDR="54.172.60.1").generic(
        "POST", PATH, urlencode(params), content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature)


def signed(params: dict[str, str], token: str = TOKEN) -> str:
    return twilio_signature(auth_token=token, url=CALLBACK, params=list(params.items()))


def twilio_callback(delivery: Delivery, status: str, **extra: str) -> dict[str, str]:
    # The fields Twilio posts for an SMS status change (its "Outbound message status callback").
    return {"SmsSid": delivery.provider_message_id, "SmsStatus": status, "MessageStatus": status,
            "To": "+447400777888", "MessageSid": delivery.provider_message_id, "AccountSid": "AC0123456789abcdef",
            "From": "+15005550006", "ApiVersion": "2010-04-01", **extra}


def test_twilio_is_asked_for_callbacks_and_its_sid_is_recorded(sent, twilio):
    [request] = twilio.requests
    form = parse_qs(request.body.decode())
    assert form["StatusCallback"] == [CALLBACK]
    assert (sent.provider, sent.provider_message_id, sent.status) == ("twilio", "SM0123456789abcdef0123456789abcdef", "sent")


def test_a_correctly_signed_delivered_callback_marks_the_record_delivered(sent):
    params = twilio_callback(sent, "delivered")

    response = post_form(params, signed(params))

    assert response.status_code == 204, response.content
    sent.refresh_from_db()
    assert sent.status == "delivered"


def test_a_wrongly_signed_callback_is_403_and_changes_nothing(sent):
    params = twilio_callback(sent, "undelivered", ErrorCode="30003")
    for signature in (signed(params, token="another-token"), "", signed({**params, "MessageStatus": "delivered"})):
        response = post_form(params, signature)
        assert response.status_code == 403
        assert response.json() == {"code": "invalid_signature", "detail": "The request signature is not valid."}
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_without_an_auth_token_every_callback_is_refused(sent, authn_settings):
    authn_settings(TWILIO_AUTH_TOKEN="")
    params = twilio_callback(sent, "delivered")
    assert post_form(params, signed(params, token="")).status_code == 403


def test_undelivered_records_twilios_error_and_a_late_status_changes_nothing(sent):
    params = twilio_callback(sent, "undelivered", ErrorCode="30003")
    assert post_form(params, signed(params)).status_code == 204
    sent.refresh_from_db()
    assert (sent.status, sent.last_error) == ("undeliverable", "Twilio error 30003")

    for later in ("delivered", "sent", "failed"):
        params = twilio_callback(sent, later)
        assert post_form(params, signed(params)).status_code == 204
    sent.refresh_from_db()
    assert sent.status == "undeliverable"


def test_a_callback_for_a_sid_we_never_sent_changes_nothing(sent):
    params = {**twilio_callback(sent, "failed"), "MessageSid": "SMnot-ours", "SmsSid": "SMnot-ours"}
    assert post_form(params, signed(params)).status_code == 204
    sent.refresh_from_db()
    assert sent.status == "sent"


@pytest.mark.parametrize(("caller", "expected"), [
    ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="),
])
def test_the_signature_is_twilios_documented_one(caller, expected):
    # The worked example of Twilio's webhook security page (and of its SDKs' tests).
    params = [("To", "+18005551212"), ("From", caller), ("Digits", "1234"), ("CallSid", "CA1234567890ABCDE"),
              ("Caller", caller)]
    assert twilio_signature(auth_token="12345", url="https://mycompany.com/myapp.php?foo=1&bar=2", params=params) == expected


def test_without_a_configured_url_the_request_url_is_the_signed_one(sent, authn_settings):
    authn_settings(TWILIO_STATUS_CALLBACK_URL="")
    params = twilio_callback(sent, "delivered")
    url = f"http://testserver{PATH}"
    good = twilio_signature(auth_token=TOKEN, url=url, params=list(params.items()))
    assert post_form(params, signed(params)).status_code == 403  # signed for another URL
    assert post_form(params, good).status_code == 204
    sent.refresh_from_db()
    assert sent.status == "delivered"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_an_empty_body_is_answered_cleanly(sent, content_type):
    # Found by the schema fuzzer: no body at all is an empty dict, not a form (it was a 500).
    client = APIClient(REMOTE_ADDR="54.172.60.1")
    kwargs = {"content_type": content_type} if content_type else {}
    unsigned = client.generic("POST", PATH, "", HTTP_X_TWILIO_SIGNATURE="", **kwargs)
    assert (unsigned.status_code, unsigned.json()["code"]) == (403, "invalid_signature")
    signed_empty = client.generic("POST", PATH, "", HTTP_X_TWILIO_SIGNATURE=signed({}), **kwargs)
    assert signed_empty.status_code == 204  # Twilio's signature of nothing: says nothing of any message
    sent.refresh_from_db()
    assert sent.status == "sent"
