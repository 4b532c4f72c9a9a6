"""No oracle: every unauthenticated endpoint answers alike for every kind of identifier.

The enumeration proof (proofs.enumeration_run) asks one question — known or unknown? —
of one endpoint. This asks it of each unauthenticated endpoint, for each state an
identifier can be in (unknown, active, blocked, suspended, pending, deleted), on either
transport, with the same core: a shuffled plan of probes, each timed, each answer
reduced to its shape (status, body, header names), compared across states.

A probe may be several calls (a verify row guesses six wrong codes: a lockout that
comes for some identifiers and never for others is an oracle); its timed part is the
first call. ``Ask`` objects say how to call an endpoint over REST or gRPC; nothing else
here knows the transport.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .harness import GRPC_CHANNEL_OPTIONS, grpc_answer_of_error

STATES = ("unknown", "active", "blocked", "suspended", "pending", "deleted")

# Body fields whose *values* are part of the answer's shape; any other field counts by
# its name and type only (a continuation, a token, a name differ by nature).
STABLE_FIELDS = {"status", "code", "detail", "channel", "expires_in", "resend_after", "errors", "retry_after"}
IGNORED_HEADERS = {"date", "content-length", "x-request-id"}


def shape(status: Any, body: Any, headers: tuple[str, ...]) -> str:
    def reduce(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: reduce(v, k) for k, v in value.items()}
        if key in STABLE_FIELDS:
            return value
        return type(value).__name__

    return json.dumps({"status": status, "body": reduce(body), "headers": headers}, sort_keys=True)


Call = Callable[[str, dict[str, Any]], str]  # (endpoint, body) -> shape


class RestAsk:
    """Calls by endpoint name over REST; answers reduced to shapes."""

    PATHS: ClassVar[dict[str, str]] = {"signup": "/api/v1/auth/signup", "signup_verify": "/api/v1/auth/signup/verify",
             "otp": "/api/v1/auth/otp", "otp_verify": "/api/v1/auth/otp/verify",
             "google": "/api/v1/auth/google", "refresh": "/api/v1/auth/token/refresh"}

    def __init__(self, base_url: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=base_url, timeout=30)

    def __call__(self, endpoint: str, body: dict[str, Any]) -> str:
        response = self.client.post(self.PATHS[endpoint], json=body)
        headers = tuple(sorted(h for h in response.headers if h not in IGNORED_HEADERS))
        return shape(response.status_code, response.json() if response.content else {}, headers)

    def close(self) -> None:
        self.client.close()


class GrpcAsk:
    """The same calls over gRPC; "headers" are the initial and trailing metadata keys."""

    METHODS: ClassVar[dict[str, tuple[str, str]]] = {"signup": ("SignUp", "SignUpRequest"), "signup_verify": ("VerifySignUp", "VerifySignUpRequest"),
               "otp": ("RequestOtp", "RequestOtpRequest"), "otp_verify": ("VerifyOtp", "VerifyOtpRequest"),
               "google": ("SignInWithGoogle", "SignInWithGoogleRequest"),
               "refresh": ("RefreshToken", "RefreshTokenRequest")}

    def __init__(self, target: str) -> None:
        import grpc

        from authenticator.grpc.v1 import authenticator_pb2, authenticator_pb2_grpc

        self._grpc = grpc
        self.pb = authenticator_pb2
        self.channel = grpc.insecure_channel(target, options=GRPC_CHANNEL_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = authenticator_pb2_grpc.AuthenticatorStub(self.channel)

    def __call__(self, endpoint: str, body: dict[str, Any]) -> str:
        from google.protobuf.json_format import MessageToDict

        method, message = self.METHODS[endpoint]
        request = getattr(self.pb, message)(**body)
        try:
            response, call = getattr(self.stub, method).with_call(request, timeout=30)
        except self._grpc.RpcError as error:
            answer = grpc_answer_of_error(error, 0.0)
            keys = tuple(sorted(k for k, _v in (error.trailing_metadata() or ())))
            return shape(answer.status, answer.body, keys)
        keys = [k for k, _v in (call.initial_metadata() or ())] + [k for k, _v in (call.trailing_metadata() or ())]
        return shape("OK", MessageToDict(response, preserving_proto_field_name=True), tuple(sorted(keys)))

    def close(self) -> None:
        self.channel.close()


@dataclass(frozen=True)
class Probe:
    """One identifier in one state: ``first`` is timed; ``then`` are more calls (untimed)."""

    state: str
    first: dict[str, Any]
    then: tuple[dict[str, Any], ...] = ()


@dataclass
class Alike:
    endpoint: str
    probes: int = 0
    shapes: dict[str, list[str]] = field(default_factory=dict)  # state -> distinct answer shapes
    medians_ms: dict[str, float] = field(default_factory=dict)

    @property
    def same_answers(self) -> bool:
        distinct = {s for shapes in self.shapes.values() for s in shapes}
        return len(distinct) == 1

    @property
    def gap_ms(self) -> float:
        return max(self.medians_ms.values()) - min(self.medians_ms.values()) if self.medians_ms else 0.0

    def differing(self) -> dict[str, list[list[str]]]:
        """Each state's distinct answers as "status code" steps, when they are not all alike
        (a failure message a person can read; the full shapes are in ``shapes``)."""
        def steps(answer: str) -> list[str]:
            calls = [json.loads(one) for one in json.loads(answer)]
            return [f"{c['status']} {c['body'].get('code') or c['body'].get('status') or ''}".strip() for c in calls]

        return {state: [steps(answer) for answer in shapes] for state, shapes in self.shapes.items()}


def answers_alike(ask: Call, endpoint: str, probes: list[Probe], *, seed: int = 11, warmup: list[Probe] = ()) -> Alike:
    """Run ``probes`` in a shuffled order; compare answers and first-call times by state."""
    rng = random.Random(seed)
    plan = list(probes)
    rng.shuffle(plan)
    for probe in warmup:  # connections, imports, caches: not part of the figure
        ask(endpoint, probe.first)
    times: dict[str, list[float]] = {}
    shapes: dict[str, set[str]] = {}
    for probe in plan:
        started = time.perf_counter()
        first = ask(endpoint, probe.first)
        times.setdefault(probe.state, []).append(time.perf_counter() - started)
        answer = [first] + [ask(endpoint, body) for body in probe.then]
        shapes.setdefault(probe.state, set()).add(json.dumps(answer))
    out = Alike(endpoint=endpoint, probes=len(plan))
    out.shapes = {state: sorted(v) for state, v in shapes.items()}
    out.medians_ms = {state: statistics.median(v) * 1000 for state, v in times.items()}
    return out
