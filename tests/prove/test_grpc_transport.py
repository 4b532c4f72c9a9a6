"""The proofs over gRPC: the harness's gRPC transport against a real `manage.py grpcserver`.

Reduced sizes (PROVE_GRPC_TRIALS, PROVE_GRPC_ENUM_REQUESTS override them); the full
sizes run with `scripts/prove/run.py --transport grpc`.
"""

from __future__ import annotations

import os

import pytest

from scripts.prove.grpc_proofs import concurrent_redemption_grpc, enumeration_grpc
from scripts.prove.harness import GrpcTransport, wrong_code
from scripts.prove.proofs import sign_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TRIALS = int(os.environ.get("PROVE_GRPC_TRIALS", "6"))
PROCESSES = 8
ENUM_REQUESTS = int(os.environ.get("PROVE_GRPC_ENUM_REQUESTS", "400"))
ENUM_GAP_GOAL_MS = 5.0


def test_grpc_transport_answers_with_status_names_and_the_domain_code(live_grpc):
    tr = live_grpc.make()
    assert isinstance(tr, GrpcTransport)
    phone = "+447420100300"
    try:
        done = sign_up(tr, live_grpc.gateway, phone)
        assert done.status == "OK" and done.code is None
        assert done.body["user"]["phone_number"] == phone
        assert done.body["session"]["device"] == "prove"
        assert done.body["tokens"]["token_type"] == "Bearer"

        seen = live_grpc.gateway.count_to(phone)
        asked = tr.otp_request(phone_number=phone)
        assert (asked.ok, asked.status, asked.body["status"], asked.body["channel"]) == (True, "OK", "otp_sent", "sms")
        code = live_grpc.gateway.code_for(phone, after=seen)
        wrong = tr.otp_verify(phone_number=phone, otp=wrong_code(code))
        assert (wrong.ok, wrong.status, wrong.code) == (False, "INVALID_ARGUMENT", "invalid_otp")
        assert wrong.body == {"code": "invalid_otp", "detail": "The code is not valid."}
        malformed = tr.otp_verify(phone_number=phone, otp="12")
        assert (malformed.status, malformed.code) == ("INVALID_ARGUMENT", "invalid_request")
        assert set(malformed.body["errors"]) == {"otp"}
    finally:
        tr.close()


def test_a_code_sent_over_grpc_is_redeemed_once_over_either_transport(live_grpc):
    # The harness runs gunicorn and grpcserver as one deployment (one secret, one cache
    # prefix): a code asked for over gRPC works over REST, and then no more over gRPC.
    grpc_tr, rest_tr = live_grpc.make(), live_grpc.make_rest()
    phone = "+447420100301"
    try:
        sign_up(grpc_tr, live_grpc.gateway, phone)
        seen = live_grpc.gateway.count_to(phone)
        assert grpc_tr.otp_request(phone_number=phone).ok
        code = live_grpc.gateway.code_for(phone, after=seen)
        rest = rest_tr.otp_verify(phone_number=phone, otp=code, device="rest")
        assert (rest.ok, rest.status) == (True, 200)
        again = grpc_tr.otp_verify(phone_number=phone, otp=code, device="grpc")
        assert (again.ok, again.status, again.code) == (False, "INVALID_ARGUMENT", "invalid_otp")
    finally:
        grpc_tr.close()
        rest_tr.close()


def test_eight_grpc_clients_redeeming_one_code_give_one_success_one_login_state_one_token_issue(live_grpc):
    result = concurrent_redemption_grpc(live_grpc.make, live_grpc.gateway, live_grpc.database_url, live_grpc.target,
                                        trials=TRIALS, processes=PROCESSES)
    spread = sorted(result.spread_ms)
    print(f"\ngRPC redemption: {result.exactly_one_success}/{result.trials} trials with exactly one success; "
          f"answers {result.answers}; release spread median {spread[len(spread) // 2]:.1f} ms")
    assert result.trials == TRIALS
    assert result.successes_per_trial == [1] * TRIALS
    assert result.login_states_per_trial == [1] * TRIALS
    assert result.token_sessions_per_trial == [1] * TRIALS
    assert result.refresh_tokens_per_trial == [1] * TRIALS
    assert result.answers["ok"] == TRIALS
    assert set(result.answers) <= {"ok", "invalid_otp", "too_many_attempts"}, result.answers


def test_grpc_sign_in_code_requests_answer_alike_for_known_and_unknown_identifiers(live_grpc):
    result = enumeration_grpc(live_grpc.target, live_grpc.gateway, live_grpc.database_url, n=ENUM_REQUESTS)
    print(f"\ngRPC enumeration: {result.requests} requests, medians ms {({k: round(v, 2) for k, v in result.medians_ms.items()})}, "
          f"gap ms {({k: round(v, 2) for k, v in result.gap_ms.items()})}")
    assert result.requests == ENUM_REQUESTS
    assert result.statuses == {"phone": ["OK"], "email": ["OK"]}
    assert all(len(shapes) == 1 for shapes in result.body_shapes.values()), result.body_shapes
    assert result.sent_to_unknown == 0
    assert result.worst_gap_ms <= ENUM_GAP_GOAL_MS
