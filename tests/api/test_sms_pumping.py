"""Before a code is texted: the allowed countries, the budgets and the challenge, over REST
(and over gRPC in tests/grpc/test_sms_pumping.py) — each the same for every number."""

from __future__ import annotations

import pytest

from authenticator.challenge import _verifier
from scripts.prove.turnstile import TurnstileServer
from tests.factories import UserFactory

from .conftest import sent_to

pytestmark = pytest.mark.django_db(transaction=True)

KNOWN, UNKNOWN = "+12025550123", "+12025550188"
GB_ADDRESS = "81.2.69.160"  # the api fixture's address: geolocates to GB


def signup(api, phone: str, country: str = "GB", **extra):
    return api.post("/api/v1/auth/signup", {"phone_number": phone, "country_id": country, "name": "Ann", **extra}, format="json")


def code_request(api, **body):
    return api.post("/api/v1/auth/otp", body, format="json")


def comparable(response) -> tuple:
    return response.status_code, response.json(), response.get("Retry-After")


def setting(settings, **values) -> None:
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0, **values}


@pytest.fixture
def turnstile(settings):
    server = TurnstileServer(secret="s3cret")
    setting(settings, CHALLENGE_VERIFIER="authenticator.challenge.TurnstileVerifier", TURNSTILE_SECRET="s3cret",
            TURNSTILE_VERIFY_URL=server.url, CHALLENGE_TIMEOUT=2.0)
    _verifier.cache_clear()
    yield server
    server.stop()
    _verifier.cache_clear()


def test_numbers_of_other_countries_are_refused_alike_for_known_and_unknown(api, settings):
    setting(settings, SMS_ALLOWED_COUNTRIES=["GB", "IE"])
    UserFactory(phone_number=KNOWN, country_id="US")
    answers = [code_request(api, phone_number=KNOWN), code_request(api, phone_number=UNKNOWN)]
    assert answers[0].status_code == 400
    body = answers[0].json()
    assert body["code"] == "invalid_request"
    assert body["errors"]["phone_number"][0]["code"] == "country_not_supported"
    assert comparable(answers[0]) == comparable(answers[1])
    refused = signup(api, UNKNOWN, "US")
    assert refused.status_code == 400 and refused.json()["errors"]["phone_number"][0]["code"] == "country_not_supported"
    assert signup(api, "+447400123456").status_code == 202
    assert code_request(api, email="ann@example.com").status_code == 202  # email: no SMS, no allow-list
    assert sent_to(KNOWN) == [] and sent_to(UNKNOWN) == []


def test_past_the_country_budget_known_and_unknown_numbers_get_the_same_429(api, settings):
    setting(settings, SMS_BUDGET_PER_COUNTRY_HOUR=2)
    UserFactory(phone_number=KNOWN, country_id="US")
    for _ in range(3):  # texts nobody: decided like any request, but spends no budget
        assert code_request(api, phone_number=UNKNOWN).status_code == 202
    assert code_request(api, phone_number=KNOWN).status_code == 202
    assert signup(api, "+12025550199", "US").status_code == 202  # a sign-up always texts (a code or a notice)
    answers = [code_request(api, phone_number=KNOWN), code_request(api, phone_number=UNKNOWN),
               signup(api, "+12025550177", "US")]
    for answer in answers:
        assert answer.status_code == 429
        assert answer.json()["code"] == "sms_budget_exceeded"
        assert 1 <= int(answer["Retry-After"]) <= 3601
    assert comparable(answers[0]) == comparable(answers[1])
    assert signup(api, "+447400123456").status_code == 202  # GB has its own budget


def test_a_tripped_prefix_refuses_every_number_of_the_range(api, settings):
    setting(settings, SMS_PREFIX_DIGITS=8, SMS_PREFIX_MAX_NUMBERS=3)
    UserFactory(phone_number="+447400123400")
    # A number with an account and numbers without one join the range's numbers alike:
    # left out, the next request of the range told whether the one before was an account's.
    for number in ("+447400123400", "+447400123450", "+447400123451"):
        assert code_request(api, phone_number=number).status_code == 202
    tripped = signup(api, "+447400123499")
    assert tripped.status_code == 429 and tripped.json()["code"] == "sms_budget_exceeded"
    assert code_request(api, phone_number="+447400123400").status_code == 429
    assert code_request(api, phone_number="+447400123460").status_code == 429  # unknown: refused alike
    assert code_request(api, phone_number="+447911123499").status_code == 202


def test_always_mode_needs_a_solved_turnstile_challenge(api, settings, turnstile):
    setting(settings, CHALLENGE_MODE="always")
    missing = signup(api, "+447400123456")
    assert (missing.status_code, missing.json()["code"]) == (400, "challenge_required")
    forged = signup(api, "+447400123456", challenge_token="0.forged")
    assert (forged.status_code, forged.json()["code"]) == (400, "challenge_failed")
    other_action = signup(api, "+447400123456", challenge_token=turnstile.issue("sign_in"))
    assert other_action.json()["code"] == "challenge_failed"  # solved on the sign-in page
    token = turnstile.issue("signup")
    assert signup(api, "+447400123456", challenge_token=token).status_code == 202
    assert turnstile.requests[-1] == {"secret": "s3cret", "response": token, "remoteip": GB_ADDRESS}
    reused = signup(api, "+447400123456", challenge_token=token)
    assert reused.json()["code"] == "challenge_failed"
    assert code_request(api, email="ann@example.com").json()["code"] == "challenge_required"
    assert code_request(api, email="ann@example.com", challenge_token=turnstile.issue("sign_in")).status_code == 202
    assert sent_to("+447400123456")  # the solved one got its code


@pytest.mark.parametrize("failure", ["500", "junk", "internal", "down"])
def test_an_unreachable_verifier_fails_closed(api, settings, turnstile, failure):
    setting(settings, CHALLENGE_MODE="always")
    if failure == "down":
        turnstile.stop()
        turnstile.stop = lambda: None
    else:
        turnstile.mode = failure
    answer = signup(api, "+447400123456", challenge_token="0.anything")
    assert answer.status_code == 503
    assert answer.json()["code"] == "challenge_unavailable" and answer["Retry-After"]
    assert sent_to("+447400123456") == []


def test_at_risk_a_budget_past_or_near_its_limit_asks_for_the_challenge(api, settings, turnstile):
    setting(settings, CHALLENGE_MODE="at_risk", SMS_BUDGET_PER_COUNTRY_HOUR=4, CHALLENGE_RISK_FRACTION=0.75,
            CHALLENGE_IP_MAX_NUMBERS=10)
    for n in range(1, 6):  # accounts: their code requests text, so they count
        UserFactory(phone_number=f"+120255501{n:02d}", country_id="US")
    assert code_request(api, phone_number="+12025550101").status_code == 202
    assert code_request(api, phone_number="+12025550102").status_code == 202
    near = code_request(api, phone_number="+12025550103")  # the 3rd of 4
    assert (near.status_code, near.json()["code"]) == (400, "challenge_required")
    passed = code_request(api, phone_number="+12025550103", challenge_token=turnstile.issue("sign_in"))
    assert passed.status_code == 202
    assert code_request(api, phone_number="+12025550104", challenge_token=turnstile.issue("sign_in")).status_code == 202
    over = code_request(api, phone_number="+12025550105")  # past the budget: the challenge, not a 429
    assert over.json()["code"] == "challenge_required"
    assert code_request(api, phone_number="+12025550105", challenge_token=turnstile.issue("sign_in")).status_code == 202


def test_many_numbers_from_one_address_ask_for_the_challenge(api, settings, turnstile):
    setting(settings, CHALLENGE_MODE="at_risk", CHALLENGE_IP_MAX_NUMBERS=2)
    for number in ("+447400123401", "+447811123402", "+447911123403"):
        UserFactory(phone_number=number)
    assert code_request(api, phone_number="+447400123401").status_code == 202
    assert code_request(api, phone_number="+447811123402").status_code == 202
    third = code_request(api, phone_number="+447911123403")
    assert third.json()["code"] == "challenge_required"
    other = api.post("/api/v1/auth/otp", {"phone_number": "+447911123403"}, format="json", REMOTE_ADDR="81.2.69.161")
    assert other.status_code == 202  # another address: its own count


def test_signup_country_check_refuses_or_challenges_a_sign_up_from_elsewhere(api, settings, turnstile):
    setting(settings, SIGNUP_COUNTRY_CHECK="refuse")
    refused = signup(api, "+12025550123", "US")
    assert refused.status_code == 400
    assert refused.json()["errors"]["country_id"][0]["code"] == "country_location_mismatch"
    assert signup(api, "+447400123456", "GB").status_code == 202  # from its own country
    setting(settings, SIGNUP_COUNTRY_CHECK="challenge")
    assert signup(api, "+12025550123", "US").json()["code"] == "challenge_required"
    assert signup(api, "+12025550123", "US", challenge_token=turnstile.issue("signup")).status_code == 202
    unknown_place = api.post("/api/v1/auth/signup", {"phone_number": "+12025550124", "country_id": "US", "name": "Bo"},
                             format="json", REMOTE_ADDR="10.1.2.3")
    assert unknown_place.status_code == 202  # no place for the address: nothing to hold against it


def test_the_challenge_token_is_a_string_of_bounded_length(api):
    too_long = signup(api, "+447400123456", challenge_token="x" * 2049)
    assert too_long.status_code == 400 and "challenge_token" in too_long.json()["errors"]
    not_a_string = code_request(api, phone_number="+447400123456", challenge_token=5)
    assert not_a_string.status_code == 400
    assert api.post("/api/v1/auth/otp/verify", {"phone_number": "+447400123456", "otp": "123456",
                                                "challenge_token": "x"}, format="json").json()["errors"]["challenge_token"]


def test_a_recaptcha_v3_score_below_the_minimum_fails_the_challenge(api, settings, turnstile):
    """The outside review's bot: reCAPTCHA v3 answers success for bots too, the verdict in
    its score; a bot's 0.1 got the code until the score was read."""
    setting(settings, CHALLENGE_MODE="always")
    bot = signup(api, "+447400123456", challenge_token=turnstile.issue("signup", score=0.1))
    assert (bot.status_code, bot.json()["code"]) == (400, "challenge_failed")
    assert sent_to("+447400123456") == []
    person = signup(api, "+447400123456", challenge_token=turnstile.issue("signup", score=0.9))
    assert person.status_code == 202 and sent_to("+447400123456")


@pytest.mark.parametrize("number", ["+449098790000", "+19005550123", "+18005550199", "+447012345678", "+15005550123"])
def test_premium_rate_toll_free_and_personal_numbers_are_refused_alike(api, number):
    """The outside review texted UK premium-rate and personal numbers, US toll-free, premium and
    non-geographic ones: the kinds of number pumping pays through."""
    for known in (False, True):
        if known:
            UserFactory(phone_number=number)
        answers = [signup(api, number, country="GB" if number.startswith("+44") else "US"),
                   code_request(api, phone_number=number)]
        for answer in answers:
            assert answer.status_code == 400, answer.content
            assert answer.json()["errors"]["phone_number"][0]["code"] == "number_type_not_supported"
    assert sent_to(number) == []
