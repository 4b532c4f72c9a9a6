"""What an outside review of the trust work found, each replayed as the reviewer did it.

- a wrong-try limit shared by sign-in and sign-up decoys told blocked, suspended and
  deleted accounts from the others;
- ~60 requests from 10 addresses locked a phone-only owner out of SMS sign-in for 30 days;
- a second sign-up of a pending number rewrote its details and killed the owner's code;
- a signed-in user could make the service mail any number of addresses.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User, UserStatus
from authenticator.core.background import wait_idle
from sessions_log.models import LoginState
from tests.factories import LoginStateFactory, UserFactory

from .conftest import last_code_to, sent_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"
CEILING = 10  # per channel: OTP_ACCOUNT_MAX_FAILURES 20, half per channel


@pytest.fixture(autouse=True)
def small_ceiling(settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_ACCOUNT_MAX_FAILURES": 2 * CEILING}


def client(n: int) -> APIClient:
    return APIClient(REMOTE_ADDR=f"198.51.100.{n}", HTTP_USER_AGENT="review/1.0")


def guess_sign_in_to_the_ceiling(phone: str, first_address: int = 10) -> list[str]:
    """The reviewer's step: from a fresh address each round, ask for a code, guess 5 times."""
    codes = []
    for round_ in range(CEILING // 5):
        attacker = client(first_address + round_)
        assert attacker.post("/api/v1/auth/otp", {"phone_number": phone}, format="json").status_code == 202
        wait_idle()
        for _ in range(5):
            codes.append(attacker.post("/api/v1/auth/otp/verify", {"phone_number": phone, "otp": "000000"},
                                       format="json").json()["code"])
    return codes


@pytest.mark.parametrize("state", ["unknown", "active", "pending", "blocked", "suspended", "deleted"])
def test_sign_in_guesses_do_not_lock_sign_up_verify_for_any_state(state):
    if state == "pending":
        UserFactory(phone_number=PHONE, status=UserStatus.UNVERIFIED, phone_verified_at=None)
    elif state != "unknown":
        UserFactory(phone_number=PHONE, status=state)
    assert set(guess_sign_in_to_the_ceiling(PHONE)) == {"invalid_otp"}
    other = client(99)
    assert other.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "x"},
                      format="json").status_code == 202
    wait_idle()
    answer = other.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": "000000"}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_otp")


def test_past_the_ceiling_the_owner_signs_in_from_an_address_they_signed_in_from_before():
    owner = UserFactory(phone_number=PHONE, email=None, email_verified_at=None)  # phone only: no other way
    LoginStateFactory(user=owner, logged_in_ip="198.51.100.7")
    guess_sign_in_to_the_ceiling(PHONE)

    # An attacker's fresh code at the ceiling is born locked.
    attacker = client(50)
    attacker.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    wait_idle()
    refused = attacker.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    assert refused.json()["code"] == "too_many_attempts"

    # The owner, from their usual address: one try, theirs alone; a guesser elsewhere gets none.
    home = client(7)
    home.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    wait_idle()
    code = last_code_to(PHONE)
    stolen = attacker.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert stolen.json()["code"] == "too_many_attempts"
    signed_in = home.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert signed_in.status_code == 200, signed_in.content
    assert LoginState.objects.filter(user=owner).count() == 2


def test_a_second_sign_up_of_a_pending_number_from_elsewhere_never_keeps_the_owner_from_finishing():
    """Another address's sign-up of a pending number sends the owner a fresh code (to the
    owner's phone), which finishes the sign-up; holding it back instead (tried after the
    first review) let an attacker who asked first keep the owner out (second review)."""
    victim, mallory = client(1), client(2)
    mallory.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Mallory"}, format="json")
    wait_idle()
    for _ in range(4):  # the attacker's own code, one try short of locked
        mallory.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": "000000"}, format="json")
    victim.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Real Owner"}, format="json")
    code = last_code_to(PHONE)
    assert len(sent_to(PHONE)) == 2
    verified = victim.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert verified.status_code == 201, verified.content
    assert User.objects.get(phone_number=PHONE).name == "Real Owner"


def test_the_owner_asking_again_from_the_same_address_gets_a_fresh_code():
    owner = client(1)
    owner.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}, format="json")
    first = last_code_to(PHONE)
    from django.core.cache import cache

    cache.clear()  # past the resend cooldown
    owner.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ann B"}, format="json")
    wait_idle()
    second = last_code_to(PHONE)
    assert len(sent_to(PHONE)) == 2
    assert User.objects.get(phone_number=PHONE).name == "Ann B"
    if first != second:
        assert owner.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": first},
                          format="json").json()["code"] == "invalid_otp"
    assert owner.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": second},
                      format="json").status_code == 201


def test_a_signed_in_user_cannot_make_the_service_mail_address_after_address():
    from django.core import mail

    from .conftest import sign_up

    api = client(1)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {sign_up(api)['tokens']['access_token']}")
    mail.outbox.clear()
    answers = [api.patch("/api/v1/me", {"email": f"stranger{i}@example.org"}, format="json") for i in range(4)]
    assert answers[0].status_code == 200
    assert [a.status_code for a in answers[1:]] == [429, 429, 429]
    assert all("Retry-After" in a for a in answers[1:])
    assert len(mail.outbox) == 1


# -- the second review (after the fixes above) -----------------------------------------------


def test_a_guessers_newer_code_does_not_kill_the_owners_code():
    owner = UserFactory(phone_number=PHONE, email=None, email_verified_at=None)
    LoginStateFactory(user=owner, logged_in_ip="198.51.100.7")
    guess_sign_in_to_the_ceiling(PHONE)
    home = client(7)
    home.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    code = last_code_to(PHONE)
    client(60).post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")  # the guesser asks again
    wait_idle()
    signed_in = home.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": code}, format="json")
    assert signed_in.status_code == 200, signed_in.content


def test_guessers_using_up_the_numbers_hourly_cap_do_not_stop_the_owners_address(settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_IDENTIFIER_MAX_PER_HOUR": 5, "OTP_MAX_PER_HOUR": 5}
    owner = UserFactory(phone_number=PHONE)
    LoginStateFactory(user=owner, logged_in_ip="198.51.100.7")
    answers = [client(20 + n).post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json").status_code for n in range(7)]
    wait_idle()
    # The number's cap is used up for everyone else: the same answer, nothing more sent.
    assert answers == [202] * 7 and len(sent_to(PHONE)) == 5
    home = client(7)
    assert home.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json").status_code == 202
    signed_in = home.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    assert signed_in.status_code == 200, signed_in.content


@pytest.mark.parametrize("state", ["unknown", "active", "blocked", "pending-elsewhere"])
def test_sign_up_from_two_addresses_then_guessing_answers_alike(state):
    """The second review's probe: sign-up from A, sign-up from B, six guesses from B."""
    if state == "pending-elsewhere":
        client(9).post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Owner"}, format="json")
        wait_idle()
    elif state != "unknown":
        UserFactory(phone_number=PHONE, status=state)
    a, b = client(1), client(2)
    for asker in (a, b):
        assert asker.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "x"},
                          format="json").status_code == 202
    wait_idle()
    codes = [b.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": "000000"}, format="json").json()["code"]
             for _ in range(6)]
    assert codes == ["invalid_otp"] * 5 + ["too_many_attempts"]


@pytest.mark.parametrize("state", ["unknown", "active", "blocked", "pending"])
def test_the_numbers_cap_answers_alike_from_an_address_the_owner_used(state, settings):
    """The fourth review's oracle: once others had used up a number's hourly cap, a request
    from an address the account signed in from got 202 and one for an unknown number 429 —
    telling whoever shares the owner's address (an office, a carrier's NAT) that the
    account exists. The cap now refuses quietly for every number, so both answer 202."""
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_IDENTIFIER_MAX_PER_HOUR": 3, "OTP_MAX_PER_HOUR": 3}
    if state != "unknown":
        owner = UserFactory(phone_number=PHONE, status=state)
        LoginStateFactory(user=owner, logged_in_ip="198.51.100.7")
    answers = [client(40 + n).post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json") for n in range(5)]
    home = client(7).post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    elsewhere = client(8).post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json")
    wait_idle()
    assert [a.status_code for a in answers] == [202] * 5
    assert (home.status_code, home.json()) == (elsewhere.status_code, elsewhere.json()) == (202, answers[0].json())
    assert set(home.headers) - {"X-Request-ID", "Date"} == set(elsewhere.headers) - {"X-Request-ID", "Date"}
    assert len(sent_to(PHONE)) == (4 if state == "active" else 0)  # 3 under the cap, the owner's address's one
