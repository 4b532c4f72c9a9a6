"""authenticator.v1.Authenticator: each method parses its message, calls one flow, answers.

Input is validated by the REST input serializers (same lengths, code format, email
rules), so a value refused over REST is refused over gRPC with the same field errors.
No flow logic lives here; errors are mapped in one place (authenticator.grpc.errors).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from accounts.models import User
from authenticator.core import background
from authenticator.core.errors import InvalidInput
from sessions_log.models import LoginState

from ..api import serializers as s
from ..api.errors import _field_errors
from ..flows.common import OtpSent, SignedIn, identifier_parse
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
from ..tokenizer import TokenPair
from .calls import Caller, authenticate, caller_ip, device_of, throttle
from .v1 import authenticator_pb2 as pb
from .v1 import authenticator_pb2_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Authenticator"].full_name


# --- how a method is reached -----------------------------------------------------------
def public(scope: str) -> Callable:
    """An unauthenticated RPC, throttled per client IP with the REST scope ``scope``."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, request, context: grpc.ServicerContext):
            throttle(context, scope)
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
        throttle(context, "user", user=caller.user)
        return method(self, request, context, caller)

    wrapper.needs_bearer = True  # type: ignore[attr-defined]
    return wrapper


def valid(serializer_class: type, data: dict[str, Any]) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInput(extra={"errors": _field_errors(serializer.errors)})
    return serializer.validated_data


def present(message, *names: str) -> dict[str, Any]:
    """The fields of ``message`` the client set (proto3 optional / oneof presence)."""
    return {name: getattr(message, name) for name in names if message.HasField(name)}


# --- answers ---------------------------------------------------------------------------
def timestamp(value) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def user_message(user: User) -> pb.User:
    return pb.User(
        id=str(user.pk), type=user.type, status=user.status, phone_number=user.phone_number,
        country_id=user.country_id, name=user.name, salutation=user.salutation, email=user.email,
        email_verified=bool(user.email and user.email_verified_at), tier=user.tier, level=user.level,
        created_at=timestamp(user.created_at),
    )


def session_message(state: LoginState, current_session_id: Any) -> pb.Session:
    return pb.Session(
        id=str(state.pk), device=state.logged_in_on, location=state.logged_in_from, ip=state.logged_in_ip,
        method=state.method, status=state.status, logged_in_at=timestamp(state.logged_in_at),
        logged_out_at=timestamp(state.logged_out_at), current=str(state.pk) == str(current_session_id),
    )


def tokens_message(tokens: TokenPair) -> pb.Tokens:
    return pb.Tokens(**tokens.as_dict())


def signed_in_message(result: SignedIn) -> pb.SignedIn:
    return pb.SignedIn(user=user_message(result.user), session=session_message(result.session, result.session.pk),
                       tokens=tokens_message(result.tokens))


def otp_sent_message(sent: OtpSent) -> pb.OtpSent:
    return pb.OtpSent(status="otp_sent", channel=sent.channel, expires_in=sent.expires_in, resend_after=sent.resend_after)


# --- the service -----------------------------------------------------------------------
class AuthenticatorServicer(authenticator_pb2_grpc.AuthenticatorServicer):
    @public("otp_ip")
    def SignUp(self, request: pb.SignUpRequest, context) -> pb.OtpSent:
        data = valid(s.SignupIn, {"phone_number": request.phone_number, "country_id": request.country_id,
                                  "name": request.name, "google_continuation": request.google_continuation,
                                  **present(request, "salutation", "email")})
        sent = signup_start(phone_number=data["phone_number"], country_id=data["country_id"], name=data["name"],
                            salutation=data.get("salutation") or None, email=data.get("email") or None,
                            google_continuation=data["google_continuation"] or None, ip=caller_ip(context))
        return otp_sent_message(sent)

    @public("auth_ip")
    def VerifySignUp(self, request: pb.VerifySignUpRequest, context) -> pb.SignedIn:
        data = valid(s.SignupVerifyIn, {"phone_number": request.phone_number, "otp": request.otp, "device": request.device,
                                        "google_continuation": request.google_continuation,
                                        **present(request, "country_id")})
        result = signup_verify(phone_number=data["phone_number"], code=data["otp"], device=device_of(context, data["device"]),
                               google_continuation=data["google_continuation"] or None, country_id=data.get("country_id"))
        return signed_in_message(result)

    @public("otp_ip")
    def RequestOtp(self, request: pb.RequestOtpRequest, context) -> pb.OtpSent:
        data = valid(s.OtpRequestIn, present(request, "phone_number", "email", "country_id"))
        identifier = identifier_parse(phone_number=data.get("phone_number"), email=data.get("email"),
                                      country_id=data.get("country_id"))
        return otp_sent_message(sign_in_otp_request(identifier=identifier, ip=caller_ip(context)))

    @public("auth_ip")
    def VerifyOtp(self, request: pb.VerifyOtpRequest, context) -> pb.SignedIn:
        data = valid(s.OtpVerifyIn, {**present(request, "phone_number", "email", "country_id"),
                                     "otp": request.otp, "device": request.device,
                                     "google_continuation": request.google_continuation})
        identifier = identifier_parse(phone_number=data.get("phone_number"), email=data.get("email"),
                                      country_id=data.get("country_id"))
        result = sign_in_otp_verify(identifier=identifier, code=data["otp"], device=device_of(context, data["device"]),
                                    google_continuation=data["google_continuation"] or None)
        return signed_in_message(result)

    # --- Google sign-in (authenticator.flows.google) ---
    @public("auth_ip")
    def SignInWithGoogle(self, request: pb.SignInWithGoogleRequest, context) -> pb.SignInWithGoogleResponse:
        data = valid(s.GoogleIn, {"id_token": request.id_token, "device": request.device})
        result = google_sign_in(id_token=data["id_token"], device=device_of(context, data["device"]))
        if isinstance(result, PhoneVerificationRequired):
            return pb.SignInWithGoogleResponse(phone_verification_required=pb.PhoneVerificationRequired(
                status="phone_verification_required", continuation=result.continuation, expires_in=result.expires_in,
                email=result.email, name=result.name))
        return pb.SignInWithGoogleResponse(signed_in=signed_in_message(result))

    @public("refresh_ip")
    def RefreshToken(self, request: pb.RefreshTokenRequest, context) -> pb.RefreshTokenResponse:
        data = valid(s.RefreshIn, {"refresh_token": request.refresh_token})
        return pb.RefreshTokenResponse(tokens=tokens_message(token_refresh(refresh_token=data["refresh_token"])))

    @bearer
    def SignOut(self, request: pb.SignOutRequest, context, caller: Caller) -> pb.SignOutResponse:
        sign_out(user=caller.user, session_id=caller.session_id, everywhere=request.all)
        return pb.SignOutResponse()

    @bearer
    def GetProfile(self, request: pb.GetProfileRequest, context, caller: Caller) -> pb.Profile:
        return pb.Profile(user=user_message(caller.user))

    @bearer
    def UpdateProfile(self, request: pb.UpdateProfileRequest, context, caller: Caller) -> pb.Profile:
        data = valid(s.ProfileIn, present(request, "name", "salutation", "email"))
        kwargs: dict[str, Any] = {k: data[k] for k in ("name", "email") if k in data}
        if "salutation" in data:
            kwargs["salutation"] = data["salutation"] or None
        result = profile_update(user=caller.user, **kwargs)
        return pb.Profile(user=user_message(result.user), email_pending=result.email_pending)

    @bearer
    def VerifyEmail(self, request: pb.VerifyEmailRequest, context, caller: Caller) -> pb.Profile:
        data = valid(s.VerifyEmailIn, {"otp": request.otp})
        return pb.Profile(user=user_message(profile_verify_email(user=caller.user, code=data["otp"])))

    @bearer
    def ListSessions(self, request: pb.ListSessionsRequest, context, caller: Caller) -> pb.ListSessionsResponse:
        states = sessions_list(user=caller.user)
        return pb.ListSessionsResponse(sessions=[session_message(state, caller.session_id) for state in states])

    @bearer
    def RevokeSession(self, request: pb.RevokeSessionRequest, context, caller: Caller) -> pb.RevokeSessionResponse:
        session_revoke(user=caller.user, session_id=request.session_id)
        return pb.RevokeSessionResponse()

    @bearer
    def ListIdentities(self, request: pb.ListIdentitiesRequest, context, caller: Caller) -> pb.ListIdentitiesResponse:
        return pb.ListIdentitiesResponse(identities=[
            pb.Identity(id=str(link.pk), provider=link.provider, email=link.email, created_at=timestamp(link.created_at),
                        last_used_at=timestamp(link.last_used_at))
            for link in identities_list(user=caller.user)
        ])

    @bearer
    def RemoveIdentity(self, request: pb.RemoveIdentityRequest, context, caller: Caller) -> pb.RemoveIdentityResponse:
        identity_remove(user=caller.user, identity_id=request.identity_id)
        return pb.RemoveIdentityResponse()
