"""Every way a session ends stops its access tokens on a running server process at once,
and the login state says why (issue 11, item 6).

Two server processes — hypercorn (REST) and ``manage.py grpcserver`` — serve against the
test database and the shared Redis. Each test signs in, makes both servers cache the
token's introspection, ends the session by one path *from another process* (this one:
the in-process API, the admin, a flow, or a ``manage.py`` subprocess) and then asks both
servers again. The ending call revokes at the Tokenizer and replaces the subject's cache
generation before it returns, so the very next request is refused — well inside the 1 s
the rule allows.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import httpx
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User, UserStatus
from authenticator.flows.account_status import account_set_status
from authenticator.flows.common import SignedIn, sign_in_complete
from authenticator.grpc.v1 import authenticator_pb2 as pb
from authenticator.grpc.v1 import authenticator_pb2_grpc
from authenticator.tokenizer.cache import answer_key
from sessions_log.models import EndedReason, LoginState, LoginStatus
from sessions_log.services import Requester
from tests.cli.conftest import ROOT, manage, subprocess_env
from tests.factories import UserFactory

from .conftest import start_hypercorn, stop

pytestmark = pytest.mark.django_db(transaction=True)

IP = "81.2.69.160"


SERVER_ENV = {"SMS_SENDER": "otp.channels.HttpGatewaySmsSender", "SMS_GATEWAY_URL": "http://127.0.0.1:9/sms"}


@dataclass(frozen=True)
class Servers:
    rest: str
    grpc: authenticator_pb2_grpc.AuthenticatorStub


@pytest.fixture(scope="module")
def server(django_db_setup) -> Iterator[Servers]:
    rest = start_hypercorn(subprocess_env(ALLOWED_HOSTS="127.0.0.1,localhost", H2_BIND="127.0.0.1:0", H2_WORKERS="1",
                                          H2_ACCESSLOG="", **SERVER_ENV))
    grpc_process = subprocess.Popen([sys.executable, "manage.py", "grpcserver", "--bind", "127.0.0.1:0", "--workers", "2"],
                                    cwd=ROOT, env=subprocess_env(**SERVER_ENV), stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
    try:
        line = grpc_process.stdout.readline()
        assert line.startswith("gRPC server listening on 127.0.0.1:"), (line, grpc_process.poll())
        port = int(line.split("127.0.0.1:", 1)[1].split()[0])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Servers(rest=rest.base_url, grpc=authenticator_pb2_grpc.AuthenticatorStub(channel))
    finally:
        grpc_process.terminate()
        grpc_process.communicate(timeout=30)
        stop(rest)


def sign_in(user: User, platform: str = "ios 18") -> SignedIn:
    return sign_in_complete(user=user, requester=Requester(platform=platform, ip=IP), method="otp_sms")


def me(server: Servers, access_token: str) -> tuple[int, str]:
    """What each server answers the token: the HTTP status, and the gRPC status name."""
    rest = httpx.get(f"{server.rest}/api/v1/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10).status_code
    try:
        server.grpc.GetProfile(pb.GetProfileRequest(), metadata=[("authorization", f"Bearer {access_token}")], timeout=10)
        on_grpc = "OK"
    except grpc.RpcError as exc:
        on_grpc = exc.code().name
    return rest, on_grpc


ACCEPTED, REFUSED = (200, "OK"), (401, "UNAUTHENTICATED")


def cached_on_server(server: Servers, access_token: str) -> None:
    assert me(server, access_token) == ACCEPTED
    assert me(server, access_token) == ACCEPTED
    assert cache.get(answer_key(access_token)) is not None, "the servers did not cache the introspection"


def api_as(access_token: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=IP)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def admin_action(user: User, kind: str) -> None:
    staff = UserFactory(phone_number="+447400900009", name="Root Admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.post(f"/admin/accounts/user/{user.pk}/support/{kind}/", {"apply": "1", "reason": "ticket 42"})
    assert response.status_code == 302, response.content


def cli_subprocess(*args: str) -> None:
    run = manage(*args, env=subprocess_env(SMS_SENDER="otp.channels.HttpGatewaySmsSender", SMS_GATEWAY_URL="http://127.0.0.1:9/sms"))
    assert run.returncode == 0, run.stderr


def _sign_out(signed: SignedIn) -> None:
    assert api_as(signed.tokens.access_token).post("/api/v1/auth/signout", {}, format="json").status_code == 204


def _sign_out_everywhere(signed: SignedIn) -> None:
    assert api_as(signed.tokens.access_token).post("/api/v1/auth/signout", {"all": True}, format="json").status_code == 204


def _revoked_by_user(signed: SignedIn) -> None:
    other = sign_in(signed.user, platform="web")
    assert api_as(other.tokens.access_token).delete(f"/api/v1/me/sessions/{signed.session.pk}").status_code == 204


def _support_sign_out(signed: SignedIn) -> None:
    admin_action(signed.user, "signout")


def _support_block(signed: SignedIn) -> None:
    admin_action(signed.user, "block")


def _suspended(signed: SignedIn) -> None:
    account_set_status(user=signed.user, status=UserStatus.SUSPENDED, reason="chargeback")


def _deleted(signed: SignedIn) -> None:
    account_set_status(user=signed.user, status=UserStatus.DELETED, reason="asked to")


def _cli_signout(signed: SignedIn) -> None:
    cli_subprocess("signout", "--user", str(signed.user.pk))


def _cli_signout_one(signed: SignedIn) -> None:
    cli_subprocess("signout", "--user", str(signed.user.pk), "--session", str(signed.session.pk))


def _cli_block(signed: SignedIn) -> None:
    cli_subprocess("block", "--user", str(signed.user.pk), "--reason", "fraud")


def _purge(signed: SignedIn) -> None:
    # The session lapsed (no refresh for longer than the refresh lifetime) while an
    # access token of it is still within its exp.
    LoginState.objects.filter(pk=signed.session.pk).update(logged_in_at=timezone.now() - timedelta(days=31))
    call_command("purge")


PATHS: dict[str, tuple[Callable[[SignedIn], None], str, str]] = {
    "sign-out": (_sign_out, LoginStatus.LOGGED_OUT, EndedReason.SIGNED_OUT),
    "sign-out-everywhere": (_sign_out_everywhere, LoginStatus.LOGGED_OUT, EndedReason.SIGNED_OUT_EVERYWHERE),
    "user-revokes-another-session": (_revoked_by_user, LoginStatus.REVOKED, EndedReason.REVOKED_BY_USER),
    "support-signs-out": (_support_sign_out, LoginStatus.REVOKED, EndedReason.REVOKED_BY_SUPPORT),
    "support-blocks": (_support_block, LoginStatus.REVOKED, EndedReason.STATUS_CHANGED),
    "suspended": (_suspended, LoginStatus.REVOKED, EndedReason.STATUS_CHANGED),
    "deleted": (_deleted, LoginStatus.REVOKED, EndedReason.STATUS_CHANGED),
    "cli-signout": (_cli_signout, LoginStatus.REVOKED, EndedReason.REVOKED_BY_OPERATOR),
    "cli-signout-one-session": (_cli_signout_one, LoginStatus.REVOKED, EndedReason.REVOKED_BY_OPERATOR),
    "cli-block": (_cli_block, LoginStatus.REVOKED, EndedReason.STATUS_CHANGED),
    "purge-expires": (_purge, LoginStatus.EXPIRED, EndedReason.EXPIRED),
}


@pytest.mark.parametrize("path", PATHS)
def test_every_way_a_session_ends_stops_its_token_on_a_running_server(server, path):
    end, status, reason = PATHS[path]
    signed = sign_in(UserFactory(status=UserStatus.ACTIVE))
    cached_on_server(server, signed.tokens.access_token)

    end(signed)

    assert me(server, signed.tokens.access_token) == REFUSED
    state = LoginState.objects.get(pk=signed.session.pk)
    assert (state.status, state.ended_reason) == (status, reason)
    assert state.logged_out_at is not None


def test_refresh_token_reuse_ends_the_session_on_a_running_server(server):
    signed = sign_in(UserFactory(status=UserStatus.ACTIVE))
    stolen = signed.tokens.refresh_token
    anonymous = APIClient(REMOTE_ADDR=IP)
    rotated = anonymous.post("/api/v1/auth/token/refresh", {"refresh_token": stolen}, format="json")
    assert rotated.status_code == 200
    fresh = rotated.json()["tokens"]["access_token"]
    cached_on_server(server, signed.tokens.access_token)
    cached_on_server(server, fresh)

    # The rotated token comes back (a thief, or the owner after a thief): the whole
    # session ends, through the REST server process itself.
    reused = httpx.post(f"{server.rest}/api/v1/auth/token/refresh", json={"refresh_token": stolen}, timeout=10)
    assert reused.status_code == 401

    # The session is ended just after that answer (so a reused token answers as fast as
    # one nobody issued): the rule is "within 1 s" on every process.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and LoginState.objects.get(pk=signed.session.pk).status == LoginStatus.ACTIVE:
        time.sleep(0.01)
    assert me(server, signed.tokens.access_token) == REFUSED
    assert me(server, fresh) == REFUSED
    state = LoginState.objects.get(pk=signed.session.pk)
    assert (state.status, state.ended_reason) == (LoginStatus.REVOKED, EndedReason.REFRESH_REUSED)


def test_an_expired_latest_refresh_token_is_not_taken_for_reuse(server):
    """Only a *rotated* token coming back is reuse; the session's latest one refused (here:
    its session was revoked at the Tokenizer alone) leaves the login state as it is."""
    from authenticator.tokenizer import innermost, tokenizer

    signed = sign_in(UserFactory(status=UserStatus.ACTIVE))
    innermost(tokenizer()).revoke_sessions(subject=str(signed.user.pk), session_id=str(signed.session.pk))

    refused = httpx.post(f"{server.rest}/api/v1/auth/token/refresh", json={"refresh_token": signed.tokens.refresh_token}, timeout=10)

    assert refused.status_code == 401
    state = LoginState.objects.get(pk=signed.session.pk)
    assert (state.status, state.ended_reason) == (LoginStatus.ACTIVE, "")
