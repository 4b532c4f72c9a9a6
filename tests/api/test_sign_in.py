from __future__ import annotations

import threading

import pytest
from django.db import connections

from accounts.models import UserStatus
from otp.models import Otp
from sessions_log.models import LoginState
from tests.factories import UserFactory

from .conftest import last_code_to, sent_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


def wrong_code(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def request_code(api, **identifier):
    response = api.post("/api/v1/auth/otp", identifier, format="json")
    assert response.status_code == 202, response.content
    return response


def verify(api, code, **identifier):
    return api.post("/api/v1/auth/otp/verify", {**identifier, "otp": code, "device": "android 15"}, format="json")


def test_sign_in_by_phone_in_local_format_with_country_hint(api):
    user = UserFactory(phone_number=PHONE)
    request_code(api, phone_number="07400 123456", country_id="GB")
    response = verify(api, last_code_to(PHONE), phone_number=PHONE)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)
    state = LoginState.objects.get(user=user)
    assert (state.method, state.logged_in_on) == ("otp_sms", "android 15")


def test_sign_in_by_email_sends_code_by_email(api):
    from django.core import mail

    user = UserFactory(email="ann@example.com")
    request_code(api, email="ANN@example.com")
    code = last_code_to("ann@example.com")
    assert mail.outbox[-1].to == ["ann@example.com"]
    response = verify(api, code, email="ann@example.com")
    assert response.status_code == 200
    assert LoginState.objects.get(user=user).method == "otp_email"


def test_unknown_and_known_identifiers_get_identical_answers(api):
    UserFactory(phone_number=PHONE, email="ann@example.com")
    known_phone = request_code(api, phone_number=PHONE)
    unknown_phone = request_code(api, phone_number="+447400999999")
    known_email = request_code(api, email="ann@example.com")
    unknown_email = request_code(api, email="nobody@example.com")
    assert known_phone.json() == unknown_phone.json()
    assert known_email.json() == unknown_email.json()
    assert dict(known_phone.items()).keys() == dict(unknown_phone.items()).keys()
    assert sent_to("+447400999999") == [] and sent_to("nobody@example.com") == []
    assert len(sent_to(PHONE)) == 1


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.SUSPENDED, UserStatus.DELETED, UserStatus.UNVERIFIED])
def test_inactive_accounts_get_the_same_answer_and_no_code(api, status):
    UserFactory(phone_number=PHONE, status=status)
    response = request_code(api, phone_number=PHONE)
    assert response.json()["status"] == "otp_sent"
    assert sent_to(PHONE) == []
    assert not Otp.objects.exists()


def test_blocked_after_code_was_sent_gets_no_tokens(api):
    from authenticator.flows.account_status import account_set_status

    user = UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    code = last_code_to(PHONE)
    account_set_status(user=user, status=UserStatus.BLOCKED, reason="fraud")
    response = verify(api, code, phone_number=PHONE)
    # Refused like any code for an identifier that gets none (a 403 would tell a guesser
    # which numbers are blocked accounts): tries go to the identifier's decoy.
    assert response.status_code == 400 and response.json()["code"] == "invalid_otp"
    assert not LoginState.objects.exists()


def test_five_wrong_codes_lock_the_code_even_the_right_one(api):
    UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    code = last_code_to(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    answers = [verify(api, wrong, phone_number=PHONE).json()["code"] for _ in range(5)]
    assert answers == ["invalid_otp"] * 5
    locked = verify(api, code, phone_number=PHONE)
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    # Like every 429: when a new code may be asked for (the resend cooldown, 60 s).
    assert 1 <= int(locked["Retry-After"]) <= 60
    assert locked.json()["retry_after"] == int(locked["Retry-After"])
    assert Otp.objects.get().attempts == 5


def test_a_resend_starts_with_no_tries_so_guessers_cannot_lock_the_owner_out(api, settings):
    # The old rule carried a locked code's tries into its resend: five wrong guesses by
    # anyone kept the owner out. A fresh code starts at 0; the account ceiling bounds guessers.
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 1}
    UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    first = last_code_to(PHONE)
    wrong = "000000" if first != "000000" else "111111"
    assert [verify(api, wrong, phone_number=PHONE).json()["code"] for _ in range(6)] == ["invalid_otp"] * 5 + ["too_many_attempts"]
    import time

    time.sleep(1.1)
    request_code(api, phone_number=PHONE)
    second = last_code_to(PHONE)
    assert Otp.objects.order_by("-created_at").first().attempts == 0
    assert verify(api, first, phone_number=PHONE).status_code == 400  # the old code is dead (and a try of the new one)
    assert verify(api, second, phone_number=PHONE).status_code == 200


def test_two_concurrent_verifications_of_one_code_give_exactly_one_success(api):
    from rest_framework.test import APIClient

    UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    code = last_code_to(PHONE)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def redeem():
        client = APIClient(REMOTE_ADDR="81.2.69.160")
        barrier.wait()
        try:
            statuses.append(verify(client, code, phone_number=PHONE).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count(200) == 1, statuses
    assert all(code in (200, 400) for code in statuses), statuses
    assert LoginState.objects.count() == 1


def test_wrong_tries_are_counted_in_parallel_bursts(api):
    from rest_framework.test import APIClient

    UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    code = last_code_to(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    barrier = threading.Barrier(10)
    answers: list[str] = []

    def guess():
        client = APIClient(REMOTE_ADDR="81.2.69.160")
        barrier.wait()
        try:
            answers.append(verify(client, wrong, phone_number=PHONE).json()["code"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count("invalid_otp") == 5
    assert answers.count("too_many_attempts") == 5
    assert Otp.objects.get().attempts == 5


def test_a_code_for_one_identifier_does_not_work_for_another(api):
    UserFactory(phone_number=PHONE, email="ann@example.com")
    request_code(api, phone_number=PHONE)
    response = verify(api, last_code_to(PHONE), email="ann@example.com")
    assert response.status_code == 400 and response.json()["code"] == "invalid_otp"


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": PHONE, "otp": "١٢٣٤٥٦"},  # Arabic-Indic digits
        {"phone_number": PHONE, "otp": "１２３４５６"},  # full-width digits
        {"phone_number": PHONE, "otp": "12345"},
        {"phone_number": PHONE, "otp": 123456},
        {"phone_number": PHONE, "email": "a@example.com", "otp": "123456"},
        {"otp": "123456"},
        {"phone_number": PHONE, "otp": "123456", "junk": 1},
    ],
)
def test_malformed_verify_input_is_a_400(api, body):
    response = api.post("/api/v1/auth/otp/verify", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_request"


def test_expired_code_is_refused(api):
    from django.utils import timezone

    UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    code = last_code_to(PHONE)
    Otp.objects.update(expired_at=timezone.now())
    response = verify(api, code, phone_number=PHONE)
    assert response.status_code == 400 and response.json()["code"] == "otp_expired"


def test_an_unverified_email_is_no_way_in(api):
    """Anyone can type any address at sign-up: until verified, it signs nobody in."""
    UserFactory(phone_number=PHONE, email="victim-typo@example.com", email_verified_at=None)
    response = request_code(api, email="victim-typo@example.com")
    assert response.json()["status"] == "otp_sent"  # the same answer as for anyone
    assert sent_to("victim-typo@example.com") == []
    assert verify(api, "123456", email="victim-typo@example.com").json()["code"] == "invalid_otp"


def test_email_spellings_differing_in_case_share_one_send_limit(api):
    UserFactory(email="ann@example.com")
    request_code(api, email="ann@example.com")
    response = api.post("/api/v1/auth/otp", {"email": "ANN@example.com"}, format="json")
    assert response.status_code == 429


def test_someone_asking_for_codes_from_another_address_does_not_keep_the_owner_from_one(api, settings):
    from rest_framework.test import APIClient

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0}
    UserFactory(phone_number=PHONE)
    attacker = APIClient(REMOTE_ADDR="203.0.113.66")
    answers = [attacker.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json").status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]
    assert request_code(api, phone_number=PHONE).status_code == 202
    assert verify(api, last_code_to(PHONE), phone_number=PHONE).status_code == 200


def test_a_guesser_racing_the_owner_for_their_fresh_code_cannot_make_it_fail(api):
    # Before, five wrong guesses from anywhere locked the owner's live code. Now the last
    # try is kept for the address that asked for it: a guesser elsewhere gets four.
    from rest_framework.test import APIClient

    UserFactory(phone_number=PHONE)
    request_code(api, phone_number=PHONE)
    code = last_code_to(PHONE)
    attacker = APIClient(REMOTE_ADDR="203.0.113.66")
    answers = [verify(attacker, wrong_code(code), phone_number=PHONE).json()["code"] for _ in range(8)]
    assert answers == ["invalid_otp"] * 4 + ["too_many_attempts"] * 4
    assert verify(api, code, phone_number=PHONE).status_code == 200
    assert Otp.objects.get().attempts == 5  # still at most five tries for the code
