"""Guessing a code: per code and per account, sequential, parallel, spoofing its address."""

from __future__ import annotations

import pytest

from scripts.prove.proofs import brute_force, email_verified_of, expire_codes_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_ATTEMPTS = 5  # OTP_MAX_ATTEMPTS (default)
ACCOUNT_MAX_FAILURES = 20  # OTP_ACCOUNT_MAX_FAILURES (default)


def test_guesses_are_capped_per_code_and_per_account_whatever_the_attacker_does(live):
    phone = "+447400100200"
    result = brute_force(live.make, live.gateway, phone=phone, email="victim@example.com", parallel=50,
                         expire=expire_codes_of(live.database_url, phone),
                         verify_email=email_verified_of(live.database_url, phone))
    print(f"\nbrute force: per code {result.per_code_allowed}, account total {result.account_allowed}, "
          f"parallel burst {result.parallel_answers}, codes sent {result.codes_sent}")
    assert result.per_code_allowed[0] == MAX_ATTEMPTS  # the limit is reached, not just never exceeded
    assert result.per_code_allowed[1] == 0  # a resend inherits the wrong tries of the code it replaces
    assert result.max_per_code <= MAX_ATTEMPTS
    assert result.parallel_allowed == MAX_ATTEMPTS
    assert result.parallel_answers.get("too_many_attempts", 0) >= 50 - MAX_ATTEMPTS
    # New codes are born locked once the account has had its day's wrong tries; the last
    # code before that may still take its own few.
    assert result.account_allowed <= ACCOUNT_MAX_FAILURES + MAX_ATTEMPTS - 1
    assert result.locked_codes_in_a_row == 3
    assert set(result.right_code_after_lockout) == {"too_many_attempts"}
