"""Verifying a code tells nobody whether, or what kind of, account an identifier has.

Table-driven: identifier state × sequence of calls × verify endpoint × transport (REST
through DRF's client, gRPC through a real in-process server). For unknown, active,
blocked, suspended, deleted and pending identifiers (and verified / unverified / unknown
emails) the same calls get the same answers — status, body, headers or trailing
metadata — because an identifier that gets no code gets a decoy (otp.services) whose
tries are counted like a code's. (The time is the same too: tests/prove/test_verify_timing.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import UserStatus
from authenticator.core.background import wait_idle
from authenticator.grpc.v1 import authenticator_pb2 as pb
from tests.factories import UserFactory
from tests.grpc.conftest import channel, grpc_server, stub  # noqa: F401 - fixtures

from .conftest import sent_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE_STATES = ["unknown", "active", "blocked", "suspended", "deleted", "pending"]
# (state of the account, whether its email is verified); "unknown": no account has it.
EMAIL_STATES = [("unknown", True), ("active", True), ("active", False), ("blocked", True), ("suspended", True),
                ("deleted", True), ("pending", False)]
STATUS = {"active": UserStatus.ACTIVE, "blocked": UserStatus.BLOCKED, "suspended": UserStatus.SUSPENDED,
          "deleted": UserStatus.DELETED, "pending": UserStatus.UNVERIFIED}

INVALID, LOCKED, EXPIRED = "invalid_otp", "too_many_attempts", "otp_expired"


def make_account(state: str, phone: str, email: str, email_verified: bool = True) -> None:
    if state == "unknown":
        return
    from django.utils import timezone

    UserFactory(phone_number=phone, email=email, status=STATUS[state],
                email_verified_at=timezone.now() if email_verified else None,
                phone_verified_at=None if state == "pending" else timezone.now())


def time_passes(*, past_expiry: bool = False, long_dead: bool = False) -> None:
    """An attacker who waits: every live code and decoy reaches its expiry (or long past)."""
    ago = "interval '1 second'" if not long_dead else "interval '1 hour'"
    with connection.cursor() as cursor:
        for table in ("otps", "otp_decoys"):
            cursor.execute(f"UPDATE {table} SET expired_at = now() - {ago} WHERE expired_at > now() - interval '10 minutes'")


# --- the transports -------------------------------------------------------------------------
@dataclass
class Rest:
    client: APIClient

    def answer(self, response) -> tuple[Any, ...]:
        headers = tuple(sorted(h.lower() for h in response.headers if h.lower() not in ("date", "content-length")))
        return response.status_code, response.json(), headers

    def request(self, purpose: str, ident: dict[str, str]) -> tuple[Any, ...]:
        if purpose == "signup":
            body = {"phone_number": ident["phone_number"], "country_id": "GB", "name": "Mallory"}
            return self.answer(self.client.post("/api/v1/auth/signup", body, format="json"))
        return self.answer(self.client.post("/api/v1/auth/otp", ident, format="json"))

    def verify(self, purpose: str, ident: dict[str, str], code: str, via: str | None = None) -> tuple[Any, ...]:
        """``via``: guess from that client address (behind a trusted proxy), not this client's."""
        path = "/api/v1/auth/signup/verify" if purpose == "signup" else "/api/v1/auth/otp/verify"
        extra = {"HTTP_X_FORWARDED_FOR": via} if via else {}
        return self.answer(self.client.post(path, {**ident, "otp": code}, format="json", **extra))


@dataclass
class Grpc:
    stub: Any

    def _call(self, method, request, via: str | None = None) -> tuple[Any, ...]:
        try:
            method(request, timeout=20, metadata=[("x-forwarded-for", via)] if via else None)
        except grpc.RpcError as error:
            trailers = tuple(sorted((item.key, item.value) for item in error.trailing_metadata() or ()
                                    if not item.key.endswith("-bin")))
            return error.code().name, error.details(), trailers
        return ("OK",)

    def request(self, purpose: str, ident: dict[str, str]) -> tuple[Any, ...]:
        if purpose == "signup":
            return self._call(self.stub.SignUp, pb.SignUpRequest(phone_number=ident["phone_number"], country_id="GB",
                                                                 name="Mallory"))
        return self._call(self.stub.RequestOtp, pb.RequestOtpRequest(**ident))

    def verify(self, purpose: str, ident: dict[str, str], code: str, via: str | None = None) -> tuple[Any, ...]:
        if purpose == "signup":
            return self._call(self.stub.VerifySignUp, pb.VerifySignUpRequest(phone_number=ident["phone_number"], otp=code),
                              via)
        return self._call(self.stub.VerifyOtp, pb.VerifyOtpRequest(otp=code, **ident), via)


def code_of(answer: tuple[Any, ...]) -> str:
    if answer[0] in (200, 201, 202, "OK"):
        return "ok"
    if isinstance(answer[1], dict):
        return answer[1]["code"]
    return dict(answer[2])["code"]


# --- the sequences an attacker plays ----------------------------------------------------------
def guess(to: str) -> str:
    """A wrong code: the attacker does not know the real one (if there is one)."""
    texts = sent_to(to)
    return "111111" if texts and "000000" in texts[-1] else "000000"


def request_then_six_wrong(tr, purpose, ident, to) -> list:
    answers = [tr.request(purpose, ident)]
    wait_idle()  # the code (or decoy) is made after the answer
    return answers + [tr.verify(purpose, ident, guess(to)) for _ in range(6)]


def request_then_wait_past_expiry(tr, purpose, ident, to) -> list:
    answers = [tr.request(purpose, ident)]
    wait_idle()
    answers.append(tr.verify(purpose, ident, guess(to)))
    time_passes(past_expiry=True)
    answers += [tr.verify(purpose, ident, guess(to)) for _ in range(2)]
    time_passes(long_dead=True)
    return answers + [tr.verify(purpose, ident, guess(to))]


def guess_without_asking(tr, purpose, ident, to) -> list:
    return [tr.verify(purpose, ident, guess(to)) for _ in range(6)]


def request_here_guess_from_elsewhere(tr, purpose, ident, to) -> list:
    # A code's last try is kept for the address that asked for it (the owner, racing a
    # guesser for their own fresh code): a decoy keeps it the same way.
    answers = [tr.request(purpose, ident)]
    wait_idle()
    return answers + [tr.verify(purpose, ident, guess(to), via="203.0.113.99") for _ in range(6)]


def lock_then_resend(tr, purpose, ident, to) -> list:
    answers = request_then_six_wrong(tr, purpose, ident, to)
    cache.clear()  # the resend cooldown has passed
    return answers + request_then_six_wrong(tr, purpose, ident, to)


SEQUENCES: dict[str, tuple[Callable, list[str]]] = {
    "request_then_six_wrong": (request_then_six_wrong, ["ok"] + [INVALID] * 5 + [LOCKED]),
    "request_then_wait_past_expiry": (request_then_wait_past_expiry, ["ok", INVALID, EXPIRED, EXPIRED, INVALID]),
    "guess_without_asking": (guess_without_asking, [INVALID] * 6),
    "request_here_guess_from_elsewhere": (request_here_guess_from_elsewhere, ["ok"] + [INVALID] * 4 + [LOCKED] * 2),
    "lock_then_resend": (lock_then_resend, (["ok"] + [INVALID] * 5 + [LOCKED]) * 2),
}


def play(transport, sequence: str, purpose: str, cases: list[tuple[str, dict[str, str], str]]) -> dict[str, list]:
    """Each case's answers to ``sequence``; per case a fresh per-IP throttle window."""
    run, _expected = SEQUENCES[sequence]
    out = {}
    for label, ident, to in cases:
        cache.clear()
        out[label] = run(transport, purpose, ident, to)
    return out


def phone_cases(prefix: str) -> list[tuple[str, dict[str, str], str]]:
    cases = []
    for i, state in enumerate(PHONE_STATES):
        phone, email = f"+447400{prefix}{i:05d}", f"{state}.{prefix}@example.com"
        make_account(state, phone, email)
        cases.append((state, {"phone_number": phone}, phone))
    return cases


def email_cases(prefix: str) -> list[tuple[str, dict[str, str], str]]:
    cases = []
    for i, (state, verified) in enumerate(EMAIL_STATES):
        phone, email = f"+447400{prefix}{i + 50:05d}", f"m{i}.{prefix}@example.com"
        make_account(state, phone, email, email_verified=verified)
        cases.append((f"{state}{'' if verified else ' (email unverified)'}", {"email": email}, email))
    return cases


def assert_alike(answers: dict[str, list], expected: list[str]) -> None:
    reference = answers["unknown"]
    assert [code_of(a) for a in reference] == expected, reference
    for label, got in answers.items():
        assert got == reference, f"{label} answers differently from an unknown identifier:\n{got}\n!=\n{reference}"


@pytest.fixture(params=["rest", "grpc"])
def transport(request, settings):
    # Both test clients stand behind a "proxy" the service trusts, so a guess can claim
    # another address (``via``); without X-Forwarded-For the client's own address counts.
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TRUSTED_PROXIES": ["127.0.0.1", "198.51.100.7"]}
    if request.param == "rest":
        return Rest(APIClient(REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="attacker/1.0"))
    return Grpc(request.getfixturevalue("stub"))


@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_sign_in_verify_answers_alike_for_every_phone_state(transport, sequence):
    assert_alike(play(transport, sequence, "signin", phone_cases("1")), SEQUENCES[sequence][1])


@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_sign_in_verify_answers_alike_for_verified_unverified_and_unknown_emails(transport, sequence):
    assert_alike(play(transport, sequence, "signin", email_cases("2")), SEQUENCES[sequence][1])


@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_sign_up_verify_answers_alike_for_a_pending_sign_up_and_every_other_state(transport, sequence):
    # "unknown" and "pending" are real sign-ups (the attacker's request starts or renews
    # one); the others are numbers with an account, which get a decoy.
    assert_alike(play(transport, sequence, "signup", phone_cases("3")), SEQUENCES[sequence][1])


@pytest.mark.parametrize("state", PHONE_STATES)
def test_a_wrong_guess_costs_the_same_statements_in_every_state(state):
    """Time follows work: a decoy's try is the same statements as a code's try."""
    from django.test.utils import CaptureQueriesContext

    phone = "+447400600001"
    make_account(state, phone, "someone@example.com")
    client = Rest(APIClient(REMOTE_ADDR="198.51.100.7"))
    client.request("signin", {"phone_number": phone})
    wait_idle()
    with CaptureQueriesContext(connection) as ctx:
        answer = client.verify("signin", {"phone_number": phone}, guess(phone))
    assert code_of(answer) == INVALID
    shapes = [q["sql"].split(" ")[0] for q in ctx.captured_queries]
    # The account, then the counted try (code or decoy), committed on its own (autocommit).
    assert shapes == ["SELECT", "UPDATE"], shapes


def test_with_redis_down_the_answers_are_still_alike(settings):
    """The per-code limit and the decoys live in PostgreSQL: a cache outage (every limit
    in Redis failing open) changes nothing in what verify tells."""
    from django.core.cache import caches

    from scripts.prove.harness import free_port

    cases = phone_cases("5")
    dead = {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {**settings.CACHES["default"].get("OPTIONS", {}), "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
    settings.CACHES = {"default": dead}
    try:
        client = Rest(APIClient(REMOTE_ADDR="198.51.100.7"))
        answers = {label: request_then_six_wrong(client, "signin", ident, to) for label, ident, to in cases}
    finally:
        caches["default"].close()
    assert_alike(answers, SEQUENCES["request_then_six_wrong"][1])
