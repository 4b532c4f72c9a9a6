"""No account oracle: endpoint x identifier state, on both transports.

Every unauthenticated REST endpoint and gRPC method must answer the same status, body
shape and headers (metadata keys), in the same time (median gap <= 5 ms), whether the
identifier it names is unknown or belongs to an active, blocked, suspended, pending
(unverified) or deleted account. One row per endpoint; each row probes every state.

- a code request, sign-up: one call;
- a verify endpoint: ask for a code (as an attacker can), then six wrong guesses — a
  lockout that comes for some identifiers and never for others is an oracle;
- Google: a Firebase ID token (real Auth Emulator) claiming the account's email,
  unverified by Google — what anyone can make;
- refresh: a refresh token that is no longer good — rotated out (active), of a session
  support ended (blocked, suspended, deleted), or never issued (unknown, pending).

It runs against a real gunicorn and ``manage.py grpcserver`` (one deployment,
scripts/prove/harness.py), with the same core for both transports
(scripts/prove/oracles.py). CI size: PROVE_ORACLE_SAMPLES per state (default 60).
"""

from __future__ import annotations

import os
import secrets
import time
import zlib
from collections.abc import Iterator

import pytest

from scripts.prove.harness import RestTransport, running, unique_phone
from scripts.prove.oracles import STATES, Alike, GrpcAsk, Probe, RestAsk, answers_alike
from scripts.prove.proofs import sign_up
from tests.prove.conftest import PROOF_ENV, Live
from tests.prove.conftest import test_database_url as database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SAMPLES = int(os.environ.get("PROVE_ORACLE_SAMPLES", "60"))
GAP_GOAL_MS = 5.0
WRONG_GUESSES = 6  # one past the per-code limit

ENDPOINTS = ["signup", "otp_phone", "otp_email", "signup_verify", "otp_verify_phone", "otp_verify_email",
             "google", "refresh"]
# The verify endpoints' oracles (a known identifier's code locks after five wrong
# tries, an unknown one's never) are fixed on another branch; until it is merged these
# rows fail here — on their answers, not on their time.
VERIFY_ROWS = {"signup_verify", "otp_verify_phone", "otp_verify_email"}


@pytest.fixture(scope="module")
def deployment(django_db_setup, django_db_blocker, firebase_emulator) -> Iterator[Live]:
    import logging

    from tests.firebase.emulator import PROJECT_ID

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    url = database_url()  # imported renamed: a test_ name here would be collected as a test
    env = {**PROOF_ENV, "FIREBASE_PROJECT_ID": PROJECT_ID}
    with running(url, os.environ["REDIS_URL"], env=env, workers=2, threads=4, grpc_workers=4) as (server, gateway):
        yield Live(server=server, gateway=gateway, database_url=url)
        assert server.grpc is not None and not server.grpc.server_errors_logged(), server.grpc.log_tail()
        assert not server.server_errors_logged(), server.log_tail()


def _ask(deployment: Live, transport: str):
    return RestAsk(deployment.server.base_url) if transport == "rest" else GrpcAsk(deployment.server.grpc.target)


_numbers = iter(range(10**6))


def _identifiers(state: str) -> tuple[str, str]:
    n = next(_numbers)
    return unique_phone(4_000_000 + n, prefix="+44745"), f"oracle{n}.{secrets.token_hex(3)}@example.com"


def _accounts(per_state: int) -> dict[str, list[tuple[str, str]]]:
    """``per_state`` (phone, email) of each state; accounts made for all but unknown.
    A pending account's email is a claim (unverified); the others' are verified."""
    from django.utils import timezone

    from tests.factories import UserFactory

    out: dict[str, list[tuple[str, str]]] = {}
    for state in STATES:
        out[state] = [_identifiers(state) for _ in range(per_state)]
        if state == "unknown":
            continue
        for phone, email in out[state]:
            UserFactory(phone_number=phone, email=email, status={"pending": "unverified"}.get(state, state),
                        email_verified_at=None if state == "pending" else timezone.now(),
                        phone_verified_at=None if state == "pending" else timezone.now())
    return out


def _wait_for_jobs(deployment: Live, expected: list[str], timeout: float = 30.0) -> None:
    """Codes are sent after the answer: wait until each of ``expected`` got one, then a little more."""
    deadline = time.monotonic() + timeout
    while any(deployment.gateway.count_to(to) == 0 for to in expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)


def _probes(endpoint: str, deployment: Live, ask) -> list[Probe]:
    if endpoint == "refresh":
        return _refresh_probes(deployment)
    accounts = _accounts(SAMPLES)
    if endpoint == "google":
        from tests.firebase.helpers import mint_google_id_token

        host = os.environ["FIREBASE_AUTH_EMULATOR_HOST"]
        return [Probe(state, {"id_token": mint_google_id_token(host, email=email, email_verified=False)[0]})
                for state, ids in accounts.items() for _phone, email in ids]
    if endpoint == "signup":
        return [Probe(state, {"phone_number": phone, "country_id": "GB", "name": "Oracle"})
                for state, ids in accounts.items() for phone, _email in ids]
    if endpoint in ("otp_phone", "otp_email"):
        kind = 0 if endpoint == "otp_phone" else 1
        field = ("phone_number", "email")[kind]
        return [Probe(state, {field: ident[kind]}) for state, ids in accounts.items() for ident in ids]
    # The verify rows: first what an attacker does to get a live code for the identifier.
    if endpoint == "signup_verify":
        for ids in accounts.values():
            for phone, _email in ids:
                ask("signup", {"phone_number": phone, "country_id": "GB", "name": "Oracle"})
        _wait_for_jobs(deployment, [phone for ids in accounts.values() for phone, _e in ids])
        return [Probe(state, *_guesses({"phone_number": phone})) for state, ids in accounts.items() for phone, _e in ids]
    kind = 0 if endpoint == "otp_verify_phone" else 1
    field = ("phone_number", "email")[kind]
    for ids in accounts.values():
        for ident in ids:
            ask("otp", {field: ident[kind]})
    _wait_for_jobs(deployment, [ident[kind] for ident in accounts["active"]])
    return [Probe(state, *_guesses({field: ident[kind]})) for state, ids in accounts.items() for ident in ids]


def _settle(deployment: Live, quiet: float = 0.5, timeout: float = 30.0) -> None:
    """Let the codes and notices queued by a row go out before the next row (and before
    the database is emptied under them): until the gateway has been quiet for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    count = len(deployment.gateway.messages)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        if len(deployment.gateway.messages) == count:
            return
        count = len(deployment.gateway.messages)


def _guesses(identifier: dict[str, str]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    # A right code would be 1 in a million; a fixed guess keeps the answers comparable.
    guess = {**identifier, "otp": "000000"}
    return guess, tuple(guess for _ in range(WRONG_GUESSES - 1))


def _refresh_probes(deployment: Live) -> list[Probe]:
    from accounts.models import User
    from authenticator.flows.account_status import account_set_status

    rest = RestTransport(deployment.server.base_url)
    probes = []
    try:
        for state in STATES:
            for _ in range(SAMPLES):
                phone, _email = _identifiers(state)
                if state in ("unknown", "pending"):  # no session: a token nobody issued
                    probes.append(Probe(state, {"refresh_token": secrets.token_urlsafe(32)}))
                    continue
                tokens = sign_up(rest, deployment.gateway, phone).body["tokens"]
                if state == "active":  # rotated out: presenting it again is a reuse
                    rotated = rest.client.post("/api/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
                    assert rotated.status_code == 200, rotated.text
                else:
                    account_set_status(user=User.objects.get(phone_number=phone), status=state, reason="oracle test")
                probes.append(Probe(state, {"refresh_token": tokens["refresh_token"]}))
    finally:
        rest.close()
    return probes


@pytest.mark.parametrize("transport", ["rest", "grpc"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_identifier_state_gets_the_same_answer_in_the_same_time(deployment, endpoint, transport):
    ask = _ask(deployment, transport)
    try:
        call = endpoint.split("_phone")[0].split("_email")[0]
        probes = _probes(endpoint, deployment, ask)
        result: Alike = answers_alike(ask, call, probes, seed=zlib.crc32(f"{endpoint}/{transport}".encode()))
    finally:
        ask.close()
        _settle(deployment)
    print(f"\n{transport} {endpoint}: {result.probes} probes; medians ms "
          f"{ {k: round(v, 2) for k, v in result.medians_ms.items()} }; gap {result.gap_ms:.2f} ms")
    assert set(result.shapes) == set(STATES)
    assert result.same_answers, result.differing()
    assert result.gap_ms <= GAP_GOAL_MS, result.medians_ms
