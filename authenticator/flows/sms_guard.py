"""The checks that run before a code is made: where the service texts, how much, and when
a request must prove it comes from a person or the real app.

Every code-request flow calls these, in this order, before it looks at whether the
identifier has an account — so each answers the same for every number:

1. ``sms_destination_check`` — the number's country (phonenumbers' region) must be in
   ``SMS_ALLOWED_COUNTRIES`` (empty = all), else 400 ``invalid_request`` with the field
   error ``country_not_supported``;
2. ``challenge_up_front`` — the challenge of ``CHALLENGE_MODE=always``, and of a sign-up
   whose address geolocates to another country than its ``country_id``
   (``SIGNUP_COUNTRY_CHECK=challenge``; ``refuse`` refuses it instead);
3. the flow's own send limits (``core.throttling.otp_send_allowed``), so that a request
   they refuse spends no budget;
4. ``sms_budget_check`` — the budgets (``core.budgets``): past one, 429
   ``sms_budget_exceeded``, or, with a challenge configured, a solved challenge; at risk
   (``CHALLENGE_MODE=at_risk``), a solved challenge.
"""

from __future__ import annotations

import phonenumbers

from authenticator.challenge import challenge_verifier
from authenticator.core import metrics
from authenticator.core.budgets import sms_budget_take
from authenticator.core.conf import app_settings
from authenticator.core.errors import (
    ChallengeFailed,
    ChallengeRequired,
    ChallengeUnavailable,
    InvalidInput,
    SmsBudgetExceeded,
)
from authenticator.geolocation import locate

NOT_SUPPORTED = "Codes can't be sent by SMS to numbers of this country."
TYPE_NOT_SUPPORTED = "Codes can't be sent by SMS to this kind of number (premium-rate, toll-free, personal…): use a mobile number."
LOCATION_MISMATCH = "Sign up from the country of your phone number, or contact support."


def phone_country_and_type(phone: str) -> tuple[str, str]:
    """An E.164 number's ISO region ("001" and unknown ranges as "ZZ") and phonenumbers'
    type of it, lower case (``mobile``, ``premium_rate``, …; ``unknown``)."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return "ZZ", "unknown"
    region = phonenumbers.region_code_for_number(parsed)
    country = region if region and len(region) == 2 and region.isalpha() else "ZZ"
    return country, _TYPE_NAMES.get(phonenumbers.number_type(parsed), "unknown")


_TYPE_NAMES = {value: name.lower() for name, value in vars(phonenumbers.PhoneNumberType).items()
               if name.isupper() and isinstance(value, int)}


def sms_destination_check(*, phone: str) -> str:
    """The number's country, or InvalidInput on ``phone_number``: ``country_not_supported``
    (not in SMS_ALLOWED_COUNTRIES), ``number_type_not_supported`` (premium-rate, toll-free
    and the other types of SMS_REFUSED_NUMBER_TYPES: the numbers pumping pays through)."""
    country, kind = phone_country_and_type(phone)
    allowed = {str(c).upper() for c in app_settings.SMS_ALLOWED_COUNTRIES}
    if allowed and country not in allowed:
        raise InvalidInput(extra={"errors": {"phone_number": [{"code": "country_not_supported", "message": NOT_SUPPORTED}]}})
    if kind in {str(t).lower() for t in app_settings.SMS_REFUSED_NUMBER_TYPES}:
        raise InvalidInput(extra={"errors": {"phone_number": [{"code": "number_type_not_supported",
                                                               "message": TYPE_NOT_SUPPORTED}]}})
    return country


def challenge_check(*, token: str | None, ip: str | None, action: str) -> None:
    """The request's challenge token must pass: ChallengeRequired without one,
    ChallengeFailed when it does not pass, ChallengeUnavailable when the verifier can't
    tell (fail closed)."""
    verifier = challenge_verifier()
    if verifier is None:  # nothing to solve: a check that asks for one can't be met
        metrics.challenge_checked(action=action, result="missing")
        raise ChallengeRequired()
    if not token:
        metrics.challenge_checked(action=action, result="missing")
        raise ChallengeRequired()
    try:
        passed = verifier.verify(token, ip=ip, action=action)
    except ChallengeUnavailable:
        metrics.challenge_checked(action=action, result="unavailable")
        raise
    except Exception as exc:  # noqa: BLE001 - a verifier's own bug: it could not tell, so fail closed
        metrics.challenge_checked(action=action, result="unavailable")
        raise ChallengeUnavailable() from exc
    metrics.challenge_checked(action=action, result="passed" if passed else "failed")
    if not passed:
        raise ChallengeFailed()


def challenge_up_front(*, token: str | None, ip: str | None, action: str, country_id: str | None = None) -> bool:
    """The challenge every request of ``action`` needs before anything is counted, if any;
    True when one was solved. ``country_id``: a sign-up's claimed country, held against
    where its address geolocates (``SIGNUP_COUNTRY_CHECK``)."""
    if country_id is not None:
        mode = str(app_settings.SIGNUP_COUNTRY_CHECK).lower()
        if mode in ("challenge", "refuse"):
            place = locate(ip)
            if place.country and place.country != country_id:
                if mode == "refuse":
                    raise InvalidInput(extra={"errors": {"country_id": [{"code": "country_location_mismatch",
                                                                         "message": LOCATION_MISMATCH}]}})
                challenge_check(token=token, ip=ip, action=action)
                return True
    if challenge_verifier() is not None and str(app_settings.CHALLENGE_MODE).lower() == "always":
        challenge_check(token=token, ip=ip, action=action)
        return True
    return False


def sms_budget_check(*, phone: str, country: str, ip: str | None, token: str | None, action: str,
                     challenged: bool = False, texts: bool = True) -> None:
    """Count this SMS against the budgets, or refuse it (see the module docstring).
    ``texts``: False for a request that will text nobody — refused or challenged alike,
    but not counted (``core.budgets.sms_budget_take``)."""
    verifier = challenge_verifier()
    at_risk = verifier is not None and str(app_settings.CHALLENGE_MODE).lower() == "at_risk"
    decision = sms_budget_take(phone=phone, country=country, ip=ip, challenged=challenged,
                               at_risk_challenge=at_risk and not challenged, count=texts)
    if decision.state == "counted":
        return
    if decision.state == "over" and (verifier is None or challenged):
        raise SmsBudgetExceeded(retry_after=decision.retry_after)
    # Past a budget with a challenge configured, or at risk: a solved challenge lets it through.
    challenge_check(token=token, ip=ip, action=action)
    sms_budget_take(phone=phone, country=country, ip=ip, challenged=True, count=texts)
