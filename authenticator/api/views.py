"""REST views: parse with an edge input, call one flow, answer with an edge presenter."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..core.conf import app_settings
from ..edge import inputs as i
from ..edge import presenters as p
from ..edge.client import Requester, requester
from ..flows.delivery import twilio_status_callback
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
from . import schema as out
from .authentication import BearerTokenAuthentication
from .throttles import CallerThrottle


def errors(*codes: int) -> dict:
    text = {
        400: "Invalid request (code: invalid_request, invalid_otp, otp_expired, malformed_request, "
             "challenge_required, challenge_failed)",
        401: "Missing, invalid or revoked token (not_authenticated, invalid_token)",
        403: "Account cannot sign in (account_blocked, account_suspended, account_deleted, account_unverified); "
             "a provider callback's signature is wrong (invalid_signature)",
        404: "Not found (not_found)",
        409: "Conflict (phone_number_taken, email_taken)",
        413: "Body too large (request_too_large)",
        415: "Not a form body (unsupported_media_type)",
        429: "Rate limited (rate_limited, too_many_attempts, sms_budget_exceeded); see Retry-After",
        503: "A dependency is down (tokenizer_unavailable, delivery_unavailable, challenge_unavailable, "
             "service_unavailable); retry later",
    }
    return {code: OpenApiResponse(out.ErrorOut, description=text[code]) for code in codes}


def requester_of(request: Request) -> Requester:
    # REMOTE_ADDR was set by ClientIpMiddleware (authenticator.edge.client.client_ip).
    return requester(ip=request.META.get("REMOTE_ADDR"), user_agent=request.META.get("HTTP_USER_AGENT"))


def parse(input_class: type, request: Request, allow_empty: bool = False) -> dict:
    data = request.data
    if allow_empty and (data == {} or data == b""):  # no body at all; a JSON null is not "empty"
        data = {}
    return i.parse(input_class, data, requester=requester_of(request))


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [CallerThrottle]
    throttle_scope = "auth_ip"


class SignupView(PublicView):
    throttle_scope = "otp_ip"

    @extend_schema(request=i.SignupIn, responses={202: out.OtpSentOut, **errors(400, 413, 429, 503)},
                   summary="Start sign-up: the same answer for every number; the account (unverified) and its "
                           "code, or a notice that the number has an account, follow by SMS")
    def post(self, request: Request) -> Response:
        sent = signup_start(**parse(i.SignupIn, request))
        return Response(p.otp_sent(sent), status=status.HTTP_202_ACCEPTED)


class SignupVerifyView(PublicView):
    @extend_schema(request=i.SignupVerifyIn, responses={201: out.SignedInOut, **errors(400, 413, 429, 503)},
                   summary="Finish sign-up with the SMS code: the user becomes active and is signed in")
    def post(self, request: Request) -> Response:
        result = signup_verify(**parse(i.SignupVerifyIn, request))
        return Response(p.signed_in(result), status=status.HTTP_201_CREATED)


class OtpRequestView(PublicView):
    throttle_scope = "otp_ip"

    @extend_schema(request=i.OtpRequestIn, responses={202: out.OtpSentOut, **errors(400, 413, 429, 503)},
                   summary="Ask for a sign-in code by SMS (phone_number) or email; same answer for unknown identifiers")
    def post(self, request: Request) -> Response:
        sent = sign_in_otp_request(**parse(i.OtpRequestIn, request))
        return Response(p.otp_sent(sent), status=status.HTTP_202_ACCEPTED)


class OtpVerifyView(PublicView):
    @extend_schema(request=i.OtpVerifyIn, responses={200: out.SignedInOut, **errors(400, 403, 413, 429, 503)},
                   summary="Sign in with the code")
    def post(self, request: Request) -> Response:
        return Response(p.signed_in(sign_in_otp_verify(**parse(i.OtpVerifyIn, request))))


class GoogleView(PublicView):
    @extend_schema(request=i.GoogleIn,
                   responses={200: OpenApiResponse(out.GoogleSignInOut, description="Signed in (SignedInOut); or, for a person "
                                                   "without an account, the continuation (GoogleContinuationOut, "
                                                   "status phone_verification_required)"),
                              **errors(400, 401, 403, 404, 409, 413, 429, 503)},
                   summary="Sign in with a Firebase ID token (Google); a new person continues by verifying a phone")
    def post(self, request: Request) -> Response:
        result = google_sign_in(**parse(i.GoogleIn, request))
        if isinstance(result, PhoneVerificationRequired):
            return Response(p.phone_verification_required(result))
        return Response(p.signed_in(result))


class TokenRefreshView(PublicView):
    throttle_scope = "refresh_ip"

    @extend_schema(request=i.RefreshIn, responses={200: out.RefreshOut, **errors(400, 401, 413, 429, 503)},
                   summary="Rotate the refresh token; a reused one revokes its session")
    def post(self, request: Request) -> Response:
        return Response({"tokens": p.tokens(token_refresh(**parse(i.RefreshIn, request)))})


class TwilioStatusCallbackView(PublicView):
    """Twilio's status callbacks (form-encoded, X-Twilio-Signature): the delivery records'
    news from the provider. Not for client apps."""

    throttle_scope = "callback_ip"
    parser_classes = [FormParser]

    @extend_schema(request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
                   responses={204: None, **errors(400, 403, 413, 415, 429)},
                   summary="Twilio status callback (MessageSid, MessageStatus, ErrorCode; signed by Twilio)")
    def post(self, request: Request) -> Response:
        url = str(app_settings.TWILIO_STATUS_CALLBACK_URL or "") or request.build_absolute_uri()
        data = request.data  # a QueryDict for a form; an empty dict when there is no body at all
        params = ([(name, value) for name, values in data.lists() for value in values] if hasattr(data, "lists")
                  else [(str(name), str(value)) for name, value in dict(data).items()])
        twilio_status_callback(url=url, params=params, signature=request.headers.get("X-Twilio-Signature", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthenticatedView(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    # Per signed-in user (THROTTLE_USER): an account must not probe at machine speed.
    throttle_classes = [CallerThrottle]
    throttle_scope = "user"


class SignOutView(AuthenticatedView):
    @extend_schema(request=i.SignOutIn, responses={204: None, **errors(400, 401, 429, 503)},
                   summary="Sign out this session, or all sessions with all=true")
    def post(self, request: Request) -> Response:
        sign_out(user=request.user, session_id=request.auth.session_id, **parse(i.SignOutIn, request, allow_empty=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(AuthenticatedView):
    @extend_schema(responses={200: out.ProfileOut, **errors(401, 429)}, summary="Your profile")
    def get(self, request: Request) -> Response:
        return Response(p.profile(request.user))

    @extend_schema(request=i.ProfileIn, responses={200: out.ProfileOut, **errors(400, 401, 409, 429, 503)},
                   summary="Update your profile; a new email is pending until its code is verified")
    def patch(self, request: Request) -> Response:
        result = profile_update(user=request.user, **parse(i.ProfileIn, request, allow_empty=True))
        return Response(p.profile(result.user, result.email_pending))


class MeVerifyEmailView(AuthenticatedView):
    @extend_schema(request=i.VerifyEmailIn, responses={200: out.ProfileOut, **errors(400, 401, 409, 429)},
                   summary="Confirm a new email with the code sent to it")
    def post(self, request: Request) -> Response:
        return Response(p.profile(profile_verify_email(user=request.user, **parse(i.VerifyEmailIn, request))))


class IdentitiesView(AuthenticatedView):
    @extend_schema(responses={200: out.IdentityOut(many=True), **errors(401, 429)}, summary="Your linked Google identities")
    def get(self, request: Request) -> Response:
        return Response(p.identities(identities_list(user=request.user)))


class IdentityDetailView(AuthenticatedView):
    @extend_schema(responses={204: None, **errors(401, 404, 409, 429)}, summary="Unlink an identity (never your last way to sign in)")
    def delete(self, request: Request, identity_id: str) -> Response:
        identity_remove(user=request.user, identity_id=identity_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionsView(AuthenticatedView):
    @extend_schema(responses={200: out.SessionOut(many=True), **errors(401, 429)}, summary="Your active sessions")
    def get(self, request: Request) -> Response:
        return Response(p.sessions(sessions_list(user=request.user), request.auth.session_id))


class SessionDetailView(AuthenticatedView):
    @extend_schema(responses={204: None, **errors(401, 404, 429, 503)}, summary="Sign out one of your sessions")
    def delete(self, request: Request, session_id: str) -> Response:
        session_revoke(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
