"""Guessing a code: per code and per account, sequential, parallel, spoofing its address;
and the owner, whom no guesser keeps out."""

from __future__ import annotations

import pytest

from scripts.prove.proofs import (
    brute_force,
    email_verified_of,
    expire_codes_of,
    owner_elsewhere_of,
    support_reset_of,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_ATTEMPTS = 5  # OTP_MAX_ATTEMPTS (default)
ACCOUNT_MAX_FAILURES = 100  # OTP_ACCOUNT_MAX_FAILURES (default): per account and 30 days, half per channel


def test_guesses_are_capped_per_code_and_per_account_and_the_owner_keeps_a_way_in(live):
    phone = "+447400100200"
    result = brute_force(live.make, live.gateway, phone=phone, email="victim@example.com", parallel=50,
                         expire=expire_codes_of(live.database_url, phone),
                         verify_email=email_verified_of(live.database_url, phone),
                         support_reset=support_reset_of(live.database_url, phone),
                         owner_elsewhere=owner_elsewhere_of(live.database_url, phone))
    print(f"\nbrute force: per code {result.per_code_allowed}, per channel {result.per_channel_allowed}, "
          f"account total {result.account_allowed}, parallel burst {result.parallel_answers}, codes sent {result.codes_sent}; "
          f"owner: fresh code after an attack {result.owner_fresh_code_after_attack}, email while the phone is locked "
          f"{result.owner_email_while_phone_locked}, phone after support's reset {result.owner_phone_after_support_reset}")
    sms = result.per_code_allowed["sms"]
    assert sms[0] == MAX_ATTEMPTS  # the limit is reached, not just never exceeded
    assert sms[1] == MAX_ATTEMPTS  # a resend starts afresh: guesses never carry into the next code
    assert result.max_per_code <= MAX_ATTEMPTS
    assert result.parallel_allowed == MAX_ATTEMPTS
    assert result.parallel_answers.get("too_many_attempts", 0) == 50 - MAX_ATTEMPTS
    # The ceiling: reached exactly, never passed, half of it per channel.
    assert result.per_channel_allowed == {"sms": ACCOUNT_MAX_FAILURES // 2, "email": ACCOUNT_MAX_FAILURES // 2}
    assert result.account_allowed == ACCOUNT_MAX_FAILURES
    assert sms[-3:] == [0, 0, 0] and result.per_code_allowed["email"][-3:] == [0, 0, 0]
    assert set(result.right_code_after_lockout) == {"too_many_attempts"}
    # The owner: the next fresh code works after an attack; past the phone's ceiling the
    # email still works; support's reset gives the phone back.
    assert result.owner_fresh_code_after_attack == "ok"
    assert result.owner_email_while_phone_locked == "ok"
    assert result.owner_phone_after_support_reset == "ok"
