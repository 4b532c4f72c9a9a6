from __future__ import annotations

import re

import pytest

from accounts.models import StatusHistory, User
from authenticator.core.background import wait_idle
from otp.models import Otp
from sessions_log.models import LoginState
from tests.factories import UserFactory

from .conftest import last_code_to, sent_to, sign_up

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


def test_sign_up_sends_code_then_verify_activates_and_signs_in(api):
    response = api.post("/api/v1/auth/signup", {"phone_number": "07400 123456", "country_id": "gb", "name": "Ann",
                                                 "salutation": "Ms", "email": "Ann@Example.com"}, format="json")
    assert response.status_code == 202
    assert response.json() == {"status": "otp_sent", "channel": "sms", "expires_in": 300, "resend_after": 60}
    wait_idle()  # the account is made after the answer
    user = User.objects.get(phone_number=PHONE)
    assert (user.status, user.country_id, user.email, user.type) == ("unverified", "GB", "Ann@example.com", "phone")
    stored = Otp.objects.get(user=user)
    code = last_code_to(PHONE)
    assert code not in stored.otp and len(stored.otp) == 64  # only a keyed hash is kept

    response = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code, "device": "ios 18 / iPhone 15"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["status"] == "active" and body["user"]["id"] == str(user.pk)
    assert body["tokens"]["token_type"] == "Bearer" and body["tokens"]["session_id"] == body["session"]["id"]
    state = LoginState.objects.get(user=user)
    assert (state.status, state.logged_in_on, state.logged_in_ip, state.logged_in_from) == ("active", "ios 18 / iPhone 15", "81.2.69.160", "GB")
    assert state.logged_out_at is None
    history = list(StatusHistory.objects.filter(user=user).order_by("updated_at").values_list("previous_status", "status"))
    assert history == [(None, "unverified"), ("unverified", "active")]

    me = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['tokens']['access_token']}")
    assert me.status_code == 200 and me.json()["phone_number"] == PHONE


def test_code_is_single_use(api):
    api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}, format="json")
    code = last_code_to(PHONE)
    first = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code}, format="json")
    again = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert first.status_code == 201
    assert again.status_code == 400 and again.json()["code"] == "invalid_otp"
    assert LoginState.objects.count() == 1


def test_existing_account_gets_same_answer_and_a_notice_not_a_code(api):
    from django.core.cache import cache

    sign_up(api)
    cache.clear()  # past the resend cooldown
    response = api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Eve"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "otp_sent"
    assert "already has" in sent_to(PHONE)[-1]
    assert User.objects.get(phone_number=PHONE).name == "Ann"


def test_resend_within_cooldown_is_rate_limited_with_retry_after(api):
    body = {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}
    assert api.post("/api/v1/auth/signup", body, format="json").status_code == 202
    response = api.post("/api/v1/auth/signup", body, format="json")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 61


@pytest.mark.parametrize(
    "body,field,code",
    [
        ({"phone_number": "+14155550123", "country_id": "GB", "name": "A"}, "phone_number", "country_mismatch"),
        ({"phone_number": "+447400123456", "country_id": "ZZ", "name": "A"}, "country_id", "invalid_country"),
        ({"phone_number": "+447400123456", "country_id": "GB"}, "name", "required"),
        ({"phone_number": "+447400123456", "country_id": "GB", "name": "A", "admin": True}, "admin", "unknown_field"),
        ({"phone_number": 447400123456, "country_id": "GB", "name": ["A"]}, "name", "invalid"),
        ({"phone_number": "+447400123456", "country_id": "GB", "name": "A", "email": "no-at-sign"}, "email", "invalid"),
    ],
)
def test_bad_sign_up_input_is_a_400_with_field_codes(api, body, field, code):
    response = api.post("/api/v1/auth/signup", body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "invalid_request"
    assert payload["errors"][field][0]["code"] == code
    assert not User.objects.exists()


def test_an_email_another_account_holds_is_a_claim_that_blocks_nobody(api):
    from django.utils import timezone

    from authenticator.flows.common import Identifier, user_for_identifier

    owner = UserFactory(phone_number="+447400123450", email="owner@example.com", email_verified_at=timezone.now())
    sign_up(api, email="claimed@example.com")  # a claim: typed, never verified
    for phone, email in (("+447400123457", "OWNER@example.com"), ("+447400123458", "claimed@EXAMPLE.com")):
        response = api.post("/api/v1/auth/signup", {"phone_number": phone, "country_id": "GB", "name": "B",
                                                     "email": email}, format="json")
        assert response.status_code == 202 and response.json()["status"] == "otp_sent"
        wait_idle()
        created = User.objects.get(phone_number=phone)
        assert (created.email.lower(), created.email_verified_at) == (email.lower(), None)
    # The verified owner still signs in by email; nobody else does.
    assert user_for_identifier(Identifier("email", "owner@example.com")) == owner
    assert user_for_identifier(Identifier("email", "claimed@example.com")) is None


def test_a_failed_sms_answers_alike_and_the_next_sign_up_sends_a_fresh_code(api, settings, caplog):
    """The answer has gone before the send: a failure can't be told; it is logged, the
    account stays pending (as if its code was never typed), and asking again works."""
    from django.core.cache import cache

    working = settings.AUTHENTICATOR
    settings.AUTHENTICATOR = {**working, "SMS_SENDER": "otp.channels.HttpGatewaySmsSender",
                              "SMS_GATEWAY_URL": "http://127.0.0.1:9/nothing-listens-here", "SMS_TIMEOUT": 1}
    body = {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}
    response = api.post("/api/v1/auth/signup", body, format="json")
    assert response.status_code == 202
    wait_idle()
    assert any("delivery to" in record.getMessage() and "failed" in record.getMessage() for record in caplog.records)
    from otp.models import Delivery

    assert Delivery.objects.get().status == "failed"  # the support admin's "latest deliveries" says so
    assert User.objects.get().status == "unverified" and not sent_to(PHONE)
    settings.AUTHENTICATOR = working
    cache.clear()  # past the resend cooldown
    assert api.post("/api/v1/auth/signup", body, format="json").status_code == 202
    verified = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    assert verified.status_code == 201


def test_signing_up_again_before_verifying_replaces_the_details(api):
    """Whoever verifies the phone owns the account, with the details they gave last."""
    from django.core.cache import cache

    api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Mallory",
                                      "email": "mallory@example.com"}, format="json")
    wait_idle()
    cache.clear()  # past the resend cooldown
    api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}, format="json")
    response = api.post("/api/v1/auth/signup/verify", {"phone_number": "07400 123456", "country_id": "GB",
                                                        "otp": last_code_to(PHONE)}, format="json")
    assert response.status_code == 201, response.content
    user = User.objects.get(phone_number=PHONE)
    assert (user.name, user.email) == ("Ann", None)


@pytest.mark.parametrize("made_by_staff", [
    pytest.param({"is_staff": True}, id="staff account"),
    pytest.param({"password": "a-long-passphrase-for-staff"}, id="admin password"),
    pytest.param({}, id="added by support, no password"),
])
def test_a_strangers_sign_up_does_not_rewrite_an_account_staff_made(api, made_by_staff):
    """A pending account made in the admin keeps the details staff gave it; its phone's
    owner can still verify it by signing up."""
    from accounts.models import StaffChange

    user = UserFactory(phone_number=PHONE, status="unverified", name="New Staff", email="staff@example.com",
                       email_verified_at=None, phone_verified_at=None, **made_by_staff)
    StaffChange.objects.create(user=user, field="name", new_value="New Staff", reason="created in the admin")
    response = api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Hacked",
                                                 "email": "evil@example.com"}, format="json")
    assert response.status_code == 202
    wait_idle()
    user.refresh_from_db()
    assert (user.name, user.email, user.status) == ("New Staff", "staff@example.com", "unverified")

    response = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    assert response.status_code == 201, response.content
    user.refresh_from_db()
    assert (user.name, user.email, user.status) == ("New Staff", "staff@example.com", "active")


def _state(phone: str, state: str) -> None:
    from django.utils import timezone

    if state == "unknown":
        return
    status = {"pending": "unverified"}.get(state, state)
    UserFactory(phone_number=phone, status=status, email=f"{state}@example.com",
                email_verified_at=None if state == "pending" else timezone.now())


STATES = ["unknown", "active", "blocked", "suspended", "pending", "deleted"]


def test_the_request_path_is_the_same_for_every_kind_of_number(api):
    """Same status, body, headers — and the same SQL, the deterministic half of "the same
    time": whatever differs (make the account, issue the code, send) runs after the answer."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seen = {}
    for i, state in enumerate(STATES):
        phone = f"+44740012350{i}"
        _state(phone, state)
        with CaptureQueriesContext(connection) as queries:
            response = api.post("/api/v1/auth/signup", {"phone_number": phone, "country_id": "GB", "name": "X",
                                                         "email": "active@example.com"}, format="json")
        headers = sorted(k for k in response.headers if k not in ("Date", "Content-Length", "X-Request-ID"))
        sql = [q["sql"].replace(phone, "?") for q in queries.captured_queries]
        seen[state] = (response.status_code, response.json(), headers, sql)
    assert all(answer == seen["unknown"] for answer in seen.values()), seen
    wait_idle()
    texts = {state: sent_to(f"+44740012350{i}") for i, state in enumerate(STATES)}
    assert all(len(t) == 1 for t in texts.values()), texts  # every number got one SMS: a code or a notice
    assert all(re.search(r"\b\d{6}\b", texts[state][0]) for state in ("unknown", "pending"))
    assert all("already has" in texts[state][0] for state in ("active", "blocked", "suspended", "deleted"))
