"""authenticator.v1.Authenticator: each method parses its message, calls one flow, answers.

Input is validated by the edge's inputs (authenticator.edge.inputs: same lengths, code
format, email rules as every transport), answers are the edge's presenters put into
messages, and errors are mapped in one place (authenticator.grpc.errors). No flow logic
lives here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from authenticator.core import background

from ..edge import inputs as i
from ..edge import presenters as p
from ..flows.google import (
    PhoneVerificationRequired,
    google_sign_in,
    identities_list,
    identity_remove,
)
from ..flows.profile import profile_update, profile_verify_email
from ..flows.sign_in_otp import sign_in_otp_request, sign_in_otp_verify
from ..flows.signup import signup_start, signup_verify
from ..flows.tokens import session_revoke, sessions_list, sign_out, token_refresh
from .calls import Caller, authenticate, requester_of, throttled
from .v1 import authenticator_pb2 as pb
from .v1 import authenticator_pb2_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Authenticator"].full_name


# --- how a method is reached -----------------------------------------------------------
def public(scope: str) -> Callable:
    """An unauthenticated RPC, throttled per client IP with the REST scope ``scope``."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, request, context: grpc.ServicerContext):
            throttled(context, scope)
            # Background jobs (code sends) start once the status has gone, as over HTTP:
            # started at once, a job that does real work (a known identifier) would
            # compete with its own call's answer — a timing oracle.
            with background.held() as jobs:
                try:
                    return method(self, request, context)
                finally:
                    background.release_after(list(jobs), context.add_callback)

        wrapper.throttle_scope = scope  # type: ignore[attr-defined]
        return wrapper

    return decorate


def bearer(method: Callable) -> Callable:
    """An RPC for a signed-in user: ``caller`` comes from the authorization metadata, and
    the call counts against the user's budget (scope ``user``, THROTTLE_USER), shared with
    REST: an account must not probe at machine speed on either transport."""

    @functools.wraps(method)
    def wrapper(self, request, context: grpc.ServicerContext):
        caller = authenticate(context)
        throttled(context, "user", user=caller.user)
        return method(self, request, context, caller)

    wrapper.needs_bearer = True  # type: ignore[attr-defined]
    return wrapper


def parse(input_class: type, data: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
    return i.parse(input_class, data, requester=requester_of(context))


def present(message, *names: str) -> dict[str, Any]:
    """The fields of ``message`` the client set (proto3 optional / oneof presence)."""
    return {name: getattr(message, name) for name in names if message.HasField(name)}


# --- answers: the edge's presenters in messages -----------------------------------------
def timestamp(value: str | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(value))  # a fifth of FromJsonString's time
    return stamp


def with_times(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**data, **{name: timestamp(data[name]) for name in names}}


def user_message(user) -> pb.User:
    return pb.User(**with_times(p.user(user), "created_at"))


def session_message(data: dict[str, Any]) -> pb.Session:
    return pb.Session(**with_times(data, "logged_in_at", "logged_out_at"))


def signed_in_message(result) -> pb.SignedIn:
    data = p.signed_in(result)
    return pb.SignedIn(user=pb.User(**with_times(data["user"], "created_at")), session=session_message(data["session"]),
                       tokens=pb.Tokens(**data["tokens"]))


def otp_sent_message(sent) -> pb.OtpSent:
    return pb.OtpSent(**p.otp_sent(sent))


# --- the service -----------------------------------------------------------------------
class AuthenticatorServicer(authenticator_pb2_grpc.AuthenticatorServicer):
    @public("otp_ip")
    def SignUp(self, request: pb.SignUpRequest, context) -> pb.OtpSent:
        sent = signup_start(**parse(i.SignupIn, {
            "phone_number": request.phone_number, "country_id": request.country_id, "name": request.name,
            "google_continuation": request.google_continuation,
            **present(request, "salutation", "email", "challenge_token")}, context))
        return otp_sent_message(sent)

    @public("auth_ip")
    def VerifySignUp(self, request: pb.VerifySignUpRequest, context) -> pb.SignedIn:
        result = signup_verify(**parse(i.SignupVerifyIn, {
            "phone_number": request.phone_number, "otp": request.otp, "device": request.device,
            "google_continuation": request.google_continuation, **present(request, "country_id")}, context))
        return signed_in_message(result)

    @public("otp_ip")
    def RequestOtp(self, request: pb.RequestOtpRequest, context) -> pb.OtpSent:
        sent = sign_in_otp_request(**parse(
            i.OtpRequestIn, present(request, "phone_number", "email", "country_id", "challenge_token"), context))
        return otp_sent_message(sent)

    @public("auth_ip")
    def VerifyOtp(self, request: pb.VerifyOtpRequest, context) -> pb.SignedIn:
        result = sign_in_otp_verify(**parse(i.OtpVerifyIn, {
            **present(request, "phone_number", "email", "country_id"), "otp": request.otp, "device": request.device,
            "google_continuation": request.google_continuation}, context))
        return signed_in_message(result)

    # --- Google sign-in (authenticator.flows.google) ---
    @public("auth_ip")
    def SignInWithGoogle(self, request: pb.SignInWithGoogleRequest, context) -> pb.SignInWithGoogleResponse:
        result = google_sign_in(**parse(i.GoogleIn, {"id_token": request.id_token, "device": request.device}, context))
        if isinstance(result, PhoneVerificationRequired):
            return pb.SignInWithGoogleResponse(
                phone_verification_required=pb.PhoneVerificationRequired(**p.phone_verification_required(result)))
        return pb.SignInWithGoogleResponse(signed_in=signed_in_message(result))

    @public("refresh_ip")
    def RefreshToken(self, request: pb.RefreshTokenRequest, context) -> pb.RefreshTokenResponse:
        pair = token_refresh(**parse(i.RefreshIn, {"refresh_token": request.refresh_token}, context))
        return pb.RefreshTokenResponse(tokens=pb.Tokens(**p.tokens(pair)))

    @bearer
    def SignOut(self, request: pb.SignOutRequest, context, caller: Caller) -> pb.SignOutResponse:
        sign_out(user=caller.user, session_id=caller.session_id, **parse(i.SignOutIn, {"all": request.all}, context))
        return pb.SignOutResponse()

    @bearer
    def GetProfile(self, request: pb.GetProfileRequest, context, caller: Caller) -> pb.Profile:
        return pb.Profile(user=user_message(caller.user))

    @bearer
    def UpdateProfile(self, request: pb.UpdateProfileRequest, context, caller: Caller) -> pb.Profile:
        result = profile_update(user=caller.user, **parse(i.ProfileIn, present(request, "name", "salutation", "email"), context))
        return pb.Profile(user=user_message(result.user), email_pending=result.email_pending)

    @bearer
    def VerifyEmail(self, request: pb.VerifyEmailRequest, context, caller: Caller) -> pb.Profile:
        user = profile_verify_email(user=caller.user, **parse(i.VerifyEmailIn, {"otp": request.otp}, context))
        return pb.Profile(user=user_message(user))

    @bearer
    def ListSessions(self, request: pb.ListSessionsRequest, context, caller: Caller) -> pb.ListSessionsResponse:
        states = sessions_list(user=caller.user)
        return pb.ListSessionsResponse(sessions=[session_message(data) for data in p.sessions(states, caller.session_id)])

    @bearer
    def RevokeSession(self, request: pb.RevokeSessionRequest, context, caller: Caller) -> pb.RevokeSessionResponse:
        session_revoke(user=caller.user, session_id=request.session_id)
        return pb.RevokeSessionResponse()

    @bearer
    def ListIdentities(self, request: pb.ListIdentitiesRequest, context, caller: Caller) -> pb.ListIdentitiesResponse:
        return pb.ListIdentitiesResponse(identities=[
            pb.Identity(**with_times(data, "created_at", "last_used_at")) for data in p.identities(identities_list(user=caller.user))
        ])

    @bearer
    def RemoveIdentity(self, request: pb.RemoveIdentityRequest, context, caller: Caller) -> pb.RemoveIdentityResponse:
        identity_remove(user=caller.user, identity_id=request.identity_id)
        return pb.RemoveIdentityResponse()
