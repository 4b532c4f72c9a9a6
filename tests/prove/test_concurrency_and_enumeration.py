"""One code redeemed by many processes at once; known and unknown identifiers look alike.

Reduced sizes for the suite (PROVE_TRIALS, PROVE_ENUM_REQUESTS override them); the full
200 trials and 1,000 requests run in `make prove` (scripts/prove/run.py).
"""

from __future__ import annotations

import os

import pytest

from scripts.prove.proofs import concurrent_redemption, enumeration

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TRIALS = int(os.environ.get("PROVE_TRIALS", "20"))
ENUM_REQUESTS = int(os.environ.get("PROVE_ENUM_REQUESTS", "400"))
ENUM_GAP_GOAL_MS = 5.0


def test_sixteen_processes_redeeming_one_code_give_one_success_one_login_state_one_token_issue(live):
    result = concurrent_redemption(live.make, live.gateway, live.database_url, live.server.base_url,
                                   trials=TRIALS, processes=16)
    spread = sorted(result.spread_ms)
    print(f"\nredemption: {result.exactly_one_success}/{result.trials} trials with exactly one success; "
          f"answers {result.answers}; release spread median {spread[len(spread) // 2]:.1f} ms")
    assert result.trials == TRIALS
    assert result.successes_per_trial == [1] * TRIALS
    assert result.login_states_per_trial == [1] * TRIALS
    assert result.token_sessions_per_trial == [1] * TRIALS
    assert result.refresh_tokens_per_trial == [1] * TRIALS
    # Losers are refused cleanly: a used code, or a code whose tries ran out.
    assert set(result.answers) <= {"ok", "invalid_otp", "too_many_attempts"}, result.answers


def test_sign_in_code_requests_answer_alike_for_known_and_unknown_identifiers(live):
    result = enumeration(live.server.base_url, live.gateway, live.database_url, n=ENUM_REQUESTS)
    print(f"\nenumeration: {result.requests} requests, medians ms {({k: round(v, 2) for k, v in result.medians_ms.items()})}, "
          f"gap ms {({k: round(v, 2) for k, v in result.gap_ms.items()})}")
    assert result.statuses == {"phone": [202], "email": [202]}
    assert all(len(shapes) == 1 for shapes in result.body_shapes.values()), result.body_shapes
    assert result.sent_to_unknown == 0
    assert result.worst_gap_ms <= ENUM_GAP_GOAL_MS
