"""A real in-process gRPC server on a random loopback port, and a real channel to it.

Handlers run on the server's threads with their own database connections, so tests that
use these fixtures need ``django_db(transaction=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from authenticator.core.background import wait_idle
from authenticator.grpc.server import GrpcServer, build_server
from authenticator.grpc.v1 import authenticator_pb2 as pb
from authenticator.grpc.v1 import authenticator_pb2_grpc


@pytest.fixture
def grpc_server() -> Iterator[GrpcServer]:
    running = build_server(bind="127.0.0.1:0", workers=8)
    try:
        yield running
    finally:
        running.stop(0)


@pytest.fixture
def channel(grpc_server: GrpcServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}", options=[("grpc.primary_user_agent", "pytest-grpc/1.0")]) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> authenticator_pb2_grpc.AuthenticatorStub:
    return authenticator_pb2_grpc.AuthenticatorStub(channel)


@dataclass(frozen=True)
class Failure:
    status: grpc.StatusCode
    details: str
    metadata: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.metadata.get("code")


def failure(call, request, **kwargs) -> Failure:
    """Make the call, which must fail; its status, details and trailing metadata."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=20, **kwargs)
    error = info.value
    metadata = {item.key: item.value for item in error.trailing_metadata() or () if not item.key.endswith("-bin")}
    return Failure(error.code(), error.details(), metadata)


def bearer(access_token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {access_token}")]


def sent_to(to: str) -> list[str]:
    from django.core import mail

    from otp import channels

    wait_idle()
    return [m.message for m in channels.outbox if m.to == to] + [m.body for m in mail.outbox if to in m.to]


def last_code_to(to: str) -> str:
    texts = sent_to(to)
    assert texts, f"nothing was sent to {to}"
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, f"no code in {texts[-1]!r}"
    return match.group(1)


def wrong_code(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def sign_up(stub, phone: str = "+447400123456", **extra) -> pb.SignedIn:
    stub.SignUp(pb.SignUpRequest(phone_number=phone, country_id="GB", name="Ann", **extra), timeout=20)
    return stub.VerifySignUp(pb.VerifySignUpRequest(phone_number=phone, otp=last_code_to(phone), device="ios 18"), timeout=20)


def sign_in(stub, phone: str) -> pb.SignedIn:
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=phone), timeout=20)
    return stub.VerifyOtp(pb.VerifyOtpRequest(phone_number=phone, otp=last_code_to(phone), device="android 15"), timeout=20)
