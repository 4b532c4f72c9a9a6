"""REST views: parse with an input serializer, call one flow, render with an output one."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sessions_log.services import Device

from ..flows.common import identifier_parse
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
from . import serializers as s
from .authentication import BearerTokenAuthentication
from .throttles import ClientIpThrottle

E = s.ErrorOut


def errors(*codes: int) -> dict:
    text = {
        400: "Invalid request (code: invalid_request, invalid_otp, otp_expired, malformed_request)",
        401: "Missing, invalid or revoked token (not_authenticated, invalid_token)",
        403: "Account cannot sign in (account_blocked, account_suspended, account_deleted, account_unverified)",
        404: "Not found (not_found)",
        409: "Conflict (phone_number_taken, email_taken)",
        413: "Body too large (request_too_large)",
        429: "Rate limited (rate_limited, too_many_attempts); see Retry-After",
        503: "A dependency is down (tokenizer_unavailable, delivery_unavailable, service_unavailable); retry later",
    }
    return {code: OpenApiResponse(E, description=text[code]) for code in codes}


def device_of(request: Request, platform: str = "") -> Device:
    return Device(platform=platform or "", ip=request.META.get("REMOTE_ADDR"),
                  user_agent=request.META.get("HTTP_USER_AGENT", "")[:512])


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "auth_ip"


class SignupView(PublicView):
    throttle_scope = "otp_ip"

    @extend_schema(request=s.SignupIn, responses={202: s.OtpSentOut, **errors(400, 413, 429, 503)},
                   summary="Start sign-up: the same answer for every number; the account (unverified) and its "
                           "code, or a notice that the number has an account, follow by SMS")
    def post(self, request: Request) -> Response:
        data = _valid(s.SignupIn, request)
        sent = signup_start(phone_number=data["phone_number"], country_id=data["country_id"], name=data["name"],
                            salutation=data.get("salutation") or None, email=data.get("email") or None,
                            google_continuation=data["google_continuation"] or None, ip=request.META.get("REMOTE_ADDR"))
        return Response(s.otp_sent_answer(sent), status=status.HTTP_202_ACCEPTED)


class SignupVerifyView(PublicView):
    @extend_schema(request=s.SignupVerifyIn, responses={201: s.SignedInOut, **errors(400, 413, 429, 503)},
                   summary="Finish sign-up with the SMS code: the user becomes active and is signed in")
    def post(self, request: Request) -> Response:
        data = _valid(s.SignupVerifyIn, request)
        result = signup_verify(phone_number=data["phone_number"], code=data["otp"], device=device_of(request, data["device"]),
                               google_continuation=data["google_continuation"] or None,
                               country_id=data.get("country_id"))
        return Response(s.signed_in_answer(result), status=status.HTTP_201_CREATED)


class OtpRequestView(PublicView):
    throttle_scope = "otp_ip"

    @extend_schema(request=s.OtpRequestIn, responses={202: s.OtpSentOut, **errors(400, 413, 429, 503)},
                   summary="Ask for a sign-in code by SMS (phone_number) or email; same answer for unknown identifiers")
    def post(self, request: Request) -> Response:
        data = _valid(s.OtpRequestIn, request)
        identifier = identifier_parse(phone_number=data.get("phone_number"), email=data.get("email"), country_id=data.get("country_id"))
        return Response(s.otp_sent_answer(sign_in_otp_request(identifier=identifier, ip=request.META.get("REMOTE_ADDR"))), status=status.HTTP_202_ACCEPTED)


class OtpVerifyView(PublicView):
    @extend_schema(request=s.OtpVerifyIn, responses={200: s.SignedInOut, **errors(400, 403, 413, 429, 503)},
                   summary="Sign in with the code")
    def post(self, request: Request) -> Response:
        data = _valid(s.OtpVerifyIn, request)
        identifier = identifier_parse(phone_number=data.get("phone_number"), email=data.get("email"), country_id=data.get("country_id"))
        result = sign_in_otp_verify(identifier=identifier, code=data["otp"], device=device_of(request, data["device"]),
                                    google_continuation=data["google_continuation"] or None)
        return Response(s.signed_in_answer(result))


class GoogleView(PublicView):
    @extend_schema(request=s.GoogleIn,
                   responses={200: OpenApiResponse(s.SignedInOut, description="Signed in; or, with status=phone_verification_required, a GoogleContinuationOut"),
                              **errors(400, 401, 403, 404, 409, 413, 429, 503)},
                   summary="Sign in with a Firebase ID token (Google); a new person continues by verifying a phone")
    def post(self, request: Request) -> Response:
        data = _valid(s.GoogleIn, request)
        result = google_sign_in(id_token=data["id_token"], device=device_of(request, data["device"]))
        if isinstance(result, PhoneVerificationRequired):
            return Response({"status": "phone_verification_required", **asdict(result)})
        return Response(s.signed_in_answer(result))


class TokenRefreshView(PublicView):
    throttle_scope = "refresh_ip"

    @extend_schema(request=s.RefreshIn, responses={200: s.RefreshOut, **errors(400, 401, 413, 429, 503)},
                   summary="Rotate the refresh token; a reused one revokes its session")
    def post(self, request: Request) -> Response:
        data = _valid(s.RefreshIn, request)
        return Response({"tokens": token_refresh(refresh_token=data["refresh_token"]).as_dict()})


class AuthenticatedView(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    # Per signed-in user (THROTTLE_USER): an account must not probe at machine speed.
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "user"


class SignOutView(AuthenticatedView):
    @extend_schema(request=s.SignOutIn, responses={204: None, **errors(400, 401, 429, 503)},
                   summary="Sign out this session, or all sessions with all=true")
    def post(self, request: Request) -> Response:
        data = _valid(s.SignOutIn, request, allow_empty=True)
        sign_out(user=request.user, session_id=request.auth.sid, everywhere=data["all"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(AuthenticatedView):
    @extend_schema(responses={200: s.ProfileOut, **errors(401, 429)}, summary="Your profile")
    def get(self, request: Request) -> Response:
        return Response({**s.UserOut(request.user).data, "email_pending": None})

    @extend_schema(request=s.ProfileIn, responses={200: s.ProfileOut, **errors(400, 401, 409, 429, 503)},
                   summary="Update your profile; a new email is pending until its code is verified")
    def patch(self, request: Request) -> Response:
        data = _valid(s.ProfileIn, request, allow_empty=True)
        kwargs = {k: data[k] for k in ("name", "email") if k in data}
        if "salutation" in data:
            kwargs["salutation"] = data["salutation"] or None
        result = profile_update(user=request.user, **kwargs)
        return Response({**s.UserOut(result.user).data, "email_pending": result.email_pending})


class MeVerifyEmailView(AuthenticatedView):
    @extend_schema(request=s.VerifyEmailIn, responses={200: s.ProfileOut, **errors(400, 401, 409, 429)},
                   summary="Confirm a new email with the code sent to it")
    def post(self, request: Request) -> Response:
        data = _valid(s.VerifyEmailIn, request)
        user = profile_verify_email(user=request.user, code=data["otp"])
        return Response({**s.UserOut(user).data, "email_pending": None})


class IdentitiesView(AuthenticatedView):
    @extend_schema(responses={200: s.IdentityOut(many=True), **errors(401, 429)}, summary="Your linked Google identities")
    def get(self, request: Request) -> Response:
        return Response(s.IdentityOut(identities_list(user=request.user), many=True).data)


class IdentityDetailView(AuthenticatedView):
    @extend_schema(responses={204: None, **errors(401, 404, 409, 429)}, summary="Unlink an identity (never your last way to sign in)")
    def delete(self, request: Request, identity_id: str) -> Response:
        identity_remove(user=request.user, identity_id=identity_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionsView(AuthenticatedView):
    @extend_schema(responses={200: s.SessionOut(many=True), **errors(401, 429)}, summary="Your active sessions")
    def get(self, request: Request) -> Response:
        states = sessions_list(user=request.user)
        return Response(s.SessionOut(states, many=True, context={"current_session_id": request.auth.sid}).data)


class SessionDetailView(AuthenticatedView):
    @extend_schema(responses={204: None, **errors(401, 404, 429, 503)}, summary="Sign out one of your sessions")
    def delete(self, request: Request, session_id: str) -> Response:
        session_revoke(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(serializer_class, request: Request, allow_empty: bool = False) -> dict:
    data = request.data
    if allow_empty and (data == {} or data == b""):  # no body at all; a JSON null is not "empty"
        data = {}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
