"""Every client flow over gRPC, through a real server and channel, with REST's rules."""

from __future__ import annotations

import threading

import grpc
import pytest
from django.db import connections

from accounts.models import User, UserStatus
from authenticator.core.background import wait_idle
from authenticator.grpc.v1 import authenticator_pb2 as pb
from authenticator.grpc.v1 import authenticator_pb2_grpc
from otp.models import Otp
from sessions_log.models import LoginState, LoginStatus
from tests.factories import UserFactory

from .conftest import (
    bearer,
    failure,
    last_code_to,
    sent_to,
    sign_in,
    wrong_code,
)

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


@pytest.fixture
def no_resend_cooldown(settings) -> None:
    """Tests that sign one person in twice in a row; the cooldown has tests of its own."""
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_RESEND_COOLDOWN": 0}


def test_sign_up_creates_an_active_user_signed_in_on_the_reported_device(stub):
    sent = stub.SignUp(pb.SignUpRequest(phone_number="07400 123456", country_id="gb", name="Ann", email="ann@example.com"))
    assert (sent.status, sent.channel, sent.expires_in, sent.resend_after) == ("otp_sent", "sms", 300, 60)
    wait_idle()  # the account is made after the answer
    assert User.objects.get().status == UserStatus.UNVERIFIED

    result = stub.VerifySignUp(pb.VerifySignUpRequest(phone_number=PHONE, otp=last_code_to(PHONE), device="ios 18"))

    user = User.objects.get()
    assert user.status == UserStatus.ACTIVE
    assert (result.user.id, result.user.phone_number, result.user.status) == (str(user.pk), PHONE, "active")
    assert result.user.email == "ann@example.com" and not result.user.email_verified
    assert not result.user.HasField("salutation")
    state = LoginState.objects.get()
    assert (result.session.id, result.session.current, result.tokens.session_id) == (str(state.pk), True, str(state.pk))
    assert (state.method, state.logged_in_on, state.logged_in_ip) == ("otp_sms", "ios 18", "127.0.0.1")
    assert state.user_agent.startswith("pytest-grpc/1.0")
    assert result.tokens.token_type == "Bearer" and result.tokens.access_token and result.tokens.refresh_token


def test_sign_up_with_a_wrong_code_leaves_the_user_unverified(stub):
    stub.SignUp(pb.SignUpRequest(phone_number=PHONE, country_id="GB", name="Ann"))
    failed = failure(stub.VerifySignUp, pb.VerifySignUpRequest(phone_number=PHONE, otp=wrong_code(last_code_to(PHONE))))
    assert (failed.status, failed.code, failed.details) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_otp", "The code is not valid.")
    assert User.objects.get().status == UserStatus.UNVERIFIED and not LoginState.objects.exists()


def test_sign_up_field_errors_are_the_rest_field_errors(stub):
    failed = failure(stub.SignUp, pb.SignUpRequest(phone_number=PHONE, country_id="GB", name=""))
    assert (failed.status, failed.code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert failed.metadata["errors"] == '{"name":[{"code":"blank","message":"This field may not be blank."}]}'
    failed = failure(stub.SignUp, pb.SignUpRequest(phone_number=PHONE, country_id="US", name="Ann"))
    assert (failed.status, failed.code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert not User.objects.exists()


def test_sign_in_by_phone(stub):
    user = UserFactory(phone_number=PHONE)
    result = sign_in(stub, PHONE)
    assert result.user.id == str(user.pk)
    state = LoginState.objects.get(user=user)
    assert (state.method, state.logged_in_on) == ("otp_sms", "android 15")


def test_sign_in_by_email_sends_the_code_by_email(stub):
    from django.core import mail

    user = UserFactory(email="ann@example.com")
    sent = stub.RequestOtp(pb.RequestOtpRequest(email="ANN@example.com"))
    assert sent.channel == "email"
    code = last_code_to("ann@example.com")
    assert mail.outbox[-1].to == ["ann@example.com"]
    result = stub.VerifyOtp(pb.VerifyOtpRequest(email="ann@example.com", otp=code))
    assert result.user.id == str(user.pk)
    assert LoginState.objects.get(user=user).method == "otp_email"


@pytest.mark.parametrize("otp", ["12345", "１２３４５６", "١٢٣٤٥٦", "12345a"])
def test_malformed_codes_are_refused_before_any_try_is_counted(stub, otp):
    UserFactory(phone_number=PHONE)
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    last_code_to(PHONE)
    failed = failure(stub.VerifyOtp, pb.VerifyOtpRequest(phone_number=PHONE, otp=otp))
    assert (failed.status, failed.code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert '"otp"' in failed.metadata["errors"]
    assert Otp.objects.get().attempts == 0


def test_neither_phone_nor_email_is_invalid_input(stub):
    failed = failure(stub.RequestOtp, pb.RequestOtpRequest())
    assert (failed.status, failed.code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert "phone_or_email" in failed.metadata["errors"]


def test_known_and_unknown_identifiers_get_identical_answers(stub):
    UserFactory(phone_number=PHONE, email="ann@example.com")
    known_phone = stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE), timeout=20)
    unknown_phone = stub.RequestOtp(pb.RequestOtpRequest(phone_number="+447400999999"), timeout=20)
    known_email = stub.RequestOtp(pb.RequestOtpRequest(email="ann@example.com"), timeout=20)
    unknown_email = stub.RequestOtp(pb.RequestOtpRequest(email="nobody@example.com"), timeout=20)
    assert known_phone.SerializeToString() == unknown_phone.SerializeToString()
    assert known_email.SerializeToString() == unknown_email.SerializeToString()
    assert sent_to("+447400999999") == [] and sent_to("nobody@example.com") == []
    assert len(sent_to(PHONE)) == 1


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.SUSPENDED, UserStatus.DELETED, UserStatus.UNVERIFIED])
def test_inactive_accounts_get_the_same_answer_and_no_code(stub, status):
    UserFactory(phone_number=PHONE, status=status)
    sent = stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    assert sent.status == "otp_sent"
    assert sent_to(PHONE) == [] and not Otp.objects.exists()


def test_a_user_blocked_after_the_code_was_sent_gets_no_tokens(stub):
    from authenticator.flows.account_status import account_set_status

    user = UserFactory(phone_number=PHONE)
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    code = last_code_to(PHONE)
    account_set_status(user=user, status=UserStatus.BLOCKED, reason="fraud")
    failed = failure(stub.VerifyOtp, pb.VerifyOtpRequest(phone_number=PHONE, otp=code))
    # Refused like a code for any identifier that gets none: no "blocked" oracle.
    assert (failed.status, failed.code, failed.details) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_otp", "The code is not valid.")
    assert not LoginState.objects.exists()


def test_blocking_a_signed_in_user_makes_their_token_useless(stub):
    from authenticator.flows.account_status import account_set_status

    user = UserFactory(phone_number=PHONE)
    signed_in = sign_in(stub, PHONE)
    account_set_status(user=user, status=UserStatus.BLOCKED, reason="fraud")
    failed = failure(stub.GetProfile, pb.GetProfileRequest(), metadata=bearer(signed_in.tokens.access_token))
    assert (failed.status, failed.code) == (grpc.StatusCode.UNAUTHENTICATED, "invalid_token")


def test_five_wrong_codes_lock_the_code_even_the_right_one(stub):
    UserFactory(phone_number=PHONE)
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    code = last_code_to(PHONE)
    answers = [failure(stub.VerifyOtp, pb.VerifyOtpRequest(phone_number=PHONE, otp=wrong_code(code))).code for _ in range(5)]
    assert answers == ["invalid_otp"] * 5
    locked = failure(stub.VerifyOtp, pb.VerifyOtpRequest(phone_number=PHONE, otp=code))
    assert (locked.status, locked.code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "too_many_attempts")
    assert Otp.objects.get().attempts == 5 and not LoginState.objects.exists()


def test_eight_concurrent_verifications_of_one_code_give_exactly_one_success(grpc_server):
    UserFactory(phone_number=PHONE)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        stub = authenticator_pb2_grpc.AuthenticatorStub(channel)
        stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    code = last_code_to(PHONE)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def redeem() -> None:
        # One channel (one connection) per caller: eight clients, not one multiplexed.
        with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}", options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            own = authenticator_pb2_grpc.AuthenticatorStub(ch)
            grpc.channel_ready_future(ch).result(timeout=10)
            barrier.wait()
            try:
                own.VerifyOtp(pb.VerifyOtpRequest(phone_number=PHONE, otp=code), timeout=30)
                outcome = "ok"
            except grpc.RpcError as error:
                outcome = {m.key: m.value for m in error.trailing_metadata() or ()}.get("code", str(error.code()))
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1, outcomes
    # Losers see the code used (invalid_otp) or, past five counted tries, too_many_attempts.
    assert set(outcomes) <= {"ok", "invalid_otp", "too_many_attempts"}, outcomes
    assert LoginState.objects.count() == 1
    connections.close_all()


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(stub):
    UserFactory(phone_number=PHONE)
    first = sign_in(stub, PHONE).tokens
    second = stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.refresh_token)).tokens
    assert second.refresh_token != first.refresh_token and second.session_id == first.session_id
    reused = failure(stub.RefreshToken, pb.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert (reused.status, reused.code) == (grpc.StatusCode.UNAUTHENTICATED, "invalid_token")
    after = failure(stub.RefreshToken, pb.RefreshTokenRequest(refresh_token=second.refresh_token))
    assert after.code == "invalid_token"


def test_sign_out_ends_this_session_only(stub, no_resend_cooldown):
    UserFactory(phone_number=PHONE)
    phone_session = sign_in(stub, PHONE)
    other = sign_in(stub, PHONE)
    stub.SignOut(pb.SignOutRequest(), metadata=bearer(phone_session.tokens.access_token))
    assert LoginState.objects.get(pk=int(phone_session.session.id)).status == LoginStatus.LOGGED_OUT
    assert LoginState.objects.get(pk=int(other.session.id)).status == LoginStatus.ACTIVE
    failed = failure(stub.GetProfile, pb.GetProfileRequest(), metadata=bearer(phone_session.tokens.access_token))
    assert failed.code == "invalid_token"
    assert stub.GetProfile(pb.GetProfileRequest(), metadata=bearer(other.tokens.access_token)).user.phone_number == PHONE


def test_sign_out_everywhere_ends_every_session(stub, no_resend_cooldown):
    UserFactory(phone_number=PHONE)
    first, second = sign_in(stub, PHONE), sign_in(stub, PHONE)
    stub.SignOut(pb.SignOutRequest(all=True), metadata=bearer(first.tokens.access_token))
    assert set(LoginState.objects.values_list("status", flat=True)) == {LoginStatus.LOGGED_OUT}
    assert failure(stub.GetProfile, pb.GetProfileRequest(), metadata=bearer(second.tokens.access_token)).code == "invalid_token"


def test_sessions_list_marks_the_current_one_and_revoking_another_signs_it_out(stub, no_resend_cooldown):
    UserFactory(phone_number=PHONE)
    mine, other = sign_in(stub, PHONE), sign_in(stub, PHONE)
    listed = stub.ListSessions(pb.ListSessionsRequest(), metadata=bearer(mine.tokens.access_token)).sessions
    assert [s.id for s in listed] == [other.session.id, mine.session.id]  # newest first
    assert [s.current for s in listed] == [False, True]
    assert listed[1].device == "android 15" and listed[1].ip == "127.0.0.1" and not listed[1].HasField("logged_out_at")

    stub.RevokeSession(pb.RevokeSessionRequest(session_id=other.session.id), metadata=bearer(mine.tokens.access_token))
    assert LoginState.objects.get(pk=int(other.session.id)).status == LoginStatus.REVOKED
    assert failure(stub.GetProfile, pb.GetProfileRequest(), metadata=bearer(other.tokens.access_token)).code == "invalid_token"
    listed = stub.ListSessions(pb.ListSessionsRequest(), metadata=bearer(mine.tokens.access_token)).sessions
    assert [s.id for s in listed] == [mine.session.id]


def test_revoking_someone_elses_or_an_unknown_session_is_not_found(stub):
    UserFactory(phone_number=PHONE)
    stranger = UserFactory(phone_number="+447400654321")
    mine = sign_in(stub, PHONE)
    theirs = sign_in(stub, stranger.phone_number)
    for session_id in (theirs.session.id, "999", "not-a-number"):
        failed = failure(stub.RevokeSession, pb.RevokeSessionRequest(session_id=session_id), metadata=bearer(mine.tokens.access_token))
        assert (failed.status, failed.code) == (grpc.StatusCode.NOT_FOUND, "not_found")
    assert LoginState.objects.get(pk=int(theirs.session.id)).status == LoginStatus.ACTIVE


def test_profile_read_update_and_email_change_verified_by_code(stub):
    UserFactory(phone_number=PHONE, email="old@example.com", salutation="Dr")
    token = bearer(sign_in(stub, PHONE).tokens.access_token)
    assert stub.GetProfile(pb.GetProfileRequest(), metadata=token).user.salutation == "Dr"

    updated = stub.UpdateProfile(pb.UpdateProfileRequest(name="Ann B", salutation="", email="new@example.com"), metadata=token)
    assert updated.user.name == "Ann B" and not updated.user.HasField("salutation")
    assert updated.email_pending == "new@example.com" and updated.user.email == "old@example.com"

    verified = stub.VerifyEmail(pb.VerifyEmailRequest(otp=last_code_to("new@example.com")), metadata=token)
    assert (verified.user.email, verified.user.email_verified, verified.HasField("email_pending")) == ("new@example.com", True, False)
    assert User.objects.get(phone_number=PHONE).email == "new@example.com"


def test_profile_email_another_account_verified_is_a_conflict_only_after_the_right_code(stub):
    UserFactory(phone_number=PHONE)
    UserFactory(email="taken@example.com")  # verified
    token = bearer(sign_in(stub, PHONE).tokens.access_token)
    pending = stub.UpdateProfile(pb.UpdateProfileRequest(email="taken@example.com"), metadata=token)
    assert pending.email_pending == "taken@example.com"
    failed = failure(stub.VerifyEmail, pb.VerifyEmailRequest(otp=last_code_to("taken@example.com")), metadata=token)
    assert (failed.status, failed.code) == (grpc.StatusCode.ALREADY_EXISTS, "email_taken")


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ([], "not_authenticated"),
        ([("authorization", "Basic dXNlcjpwYXNz")], "not_authenticated"),
        ([("authorization", "Bearer")], "invalid_token"),
        ([("authorization", "Bearer not-a-token")], "invalid_token"),
        ([("authorization", "Bearer " + "x" * 5000)], "invalid_token"),
    ],
)
def test_missing_or_bad_bearer_is_unauthenticated_with_its_code(stub, metadata, code):
    for call, request in ((stub.GetProfile, pb.GetProfileRequest()), (stub.SignOut, pb.SignOutRequest()),
                          (stub.ListSessions, pb.ListSessionsRequest())):
        failed = failure(call, request, metadata=metadata)
        assert (failed.status, failed.code) == (grpc.StatusCode.UNAUTHENTICATED, code)


def test_ip_throttle_uses_the_rest_rates_and_says_when_to_retry(stub, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "otp_ip": "2/min"}}
    for n in range(2):
        stub.RequestOtp(pb.RequestOtpRequest(phone_number=f"+44740012345{n}"))
    failed = failure(stub.RequestOtp, pb.RequestOtpRequest(phone_number="+447400123459"))
    assert (failed.status, failed.code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited")
    assert 1 <= int(failed.metadata["retry-after"]) <= 60
    failure(stub.SignUp, pb.SignUpRequest(phone_number=PHONE, country_id="GB", name="Ann"))  # same scope, same budget
    assert not User.objects.exists()
    # other scopes keep their own budget:
    assert failure(stub.VerifyOtp, pb.VerifyOtpRequest(phone_number=PHONE, otp="123456")).code == "invalid_otp"


def test_rest_and_grpc_share_one_ip_budget(stub, settings):
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "otp_ip": "2/min"}}
    api = APIClient(REMOTE_ADDR="127.0.0.1")
    assert api.post("/api/v1/auth/otp", {"phone_number": "+447400123450"}, format="json").status_code == 202
    assert api.post("/api/v1/auth/otp", {"phone_number": "+447400123451"}, format="json").status_code == 202
    assert failure(stub.RequestOtp, pb.RequestOtpRequest(phone_number=PHONE)).code == "rate_limited"


def test_verify_sign_up_takes_the_number_as_written_locally_with_its_country(stub):
    stub.SignUp(pb.SignUpRequest(phone_number="07400 123456", country_id="GB", name="Ann"))
    code = last_code_to(PHONE)
    # Without the country the local spelling is no number at all:
    assert failure(stub.VerifySignUp, pb.VerifySignUpRequest(phone_number="07400 123456", otp=code)).code == "invalid_request"
    result = stub.VerifySignUp(pb.VerifySignUpRequest(phone_number="07400 123456", country_id="gb", otp=code))
    assert (result.user.phone_number, result.user.status) == (PHONE, "active")


def test_signed_in_calls_count_against_the_users_budget_shared_with_rest(stub, settings, no_resend_cooldown):
    from rest_framework.test import APIClient

    UserFactory(phone_number=PHONE)
    session = sign_in(stub, PHONE)
    token = session.tokens.access_token
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"}}
    for _ in range(2):
        assert stub.GetProfile(pb.GetProfileRequest(), metadata=bearer(token)).user.phone_number == PHONE
    api = APIClient(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/me").status_code == 200  # the third call of the user's budget, over REST
    failed = failure(stub.ListSessions, pb.ListSessionsRequest(), metadata=bearer(token))
    assert (failed.status, failed.code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited")
    assert 1 <= int(failed.metadata["retry-after"]) <= 60
    assert api.get("/api/v1/me").status_code == 429
    # The budget is the user's, not the IP's: sign-in (per-IP scopes) still works.
    assert stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE)).status == "otp_sent"


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(stub, no_resend_cooldown, settings):
    UserFactory(phone_number=PHONE)
    forwarded = [("x-forwarded-for", "81.2.69.160")]
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    stub.VerifyOtp(pb.VerifyOtpRequest(phone_number=PHONE, otp=last_code_to(PHONE)), metadata=forwarded)
    assert LoginState.objects.get().logged_in_ip == "127.0.0.1"

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TRUSTED_PROXIES": ["127.0.0.1/32"]}
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    result = stub.VerifyOtp(pb.VerifyOtpRequest(phone_number=PHONE, otp=last_code_to(PHONE)), metadata=forwarded)
    assert LoginState.objects.get(pk=int(result.session.id)).logged_in_ip == "81.2.69.160"
