"""Verifying a code takes the same time whatever the identifier's account state.

A known, active number's wrong guess is checked against its real code; any other
identifier's against its decoy — the same statements on tables of the same shape.
Reduced size here (PROVE_VERIFY_REQUESTS overrides it); full size in scripts/prove/run.py.
"""

from __future__ import annotations

import os

import pytest

from scripts.prove.proofs import verify_enumeration

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REQUESTS = int(os.environ.get("PROVE_VERIFY_REQUESTS", "540"))
GAP_GOAL_MS = 5.0


def test_wrong_guesses_answer_alike_in_body_and_time_for_every_account_state(live):
    result = verify_enumeration(live.server.base_url, live.database_url, n=REQUESTS)
    print(f"\nverify enumeration: {result.requests} requests, medians ms "
          f"{ {k: round(v, 2) for k, v in result.medians_ms.items()} }, gap {result.gap_ms:.2f} ms")
    assert len(result.shapes) == 1, result.shapes
    assert '"code": "invalid_otp"' in result.shapes[0]
    assert result.gap_ms <= GAP_GOAL_MS


def test_over_grpc_too(live_grpc):
    from scripts.prove.grpc_proofs import verify_enumeration_grpc

    result = verify_enumeration_grpc(live_grpc.target, live_grpc.database_url, n=REQUESTS)
    print(f"\ngRPC verify enumeration: {result.requests} requests, medians ms "
          f"{ {k: round(v, 2) for k, v in result.medians_ms.items()} }, gap {result.gap_ms:.2f} ms")
    assert len(result.shapes) == 1, result.shapes
    assert '"code": "invalid_otp"' in result.shapes[0]
    assert result.gap_ms <= GAP_GOAL_MS
