"""Flow results as every transport answers them: JSON-ready dicts.

REST renders these dicts as they are (and its schema is these serializers), the CLI
prints them with ``--json``, and gRPC fills its messages from the same keys (times as
RFC 3339 strings, which ``Timestamp.FromJsonString`` reads). One shape, one place.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rest_framework import serializers

from .inputs import FlatSerializer


class IdString(serializers.CharField):
    """Sonyflake ids are 63-bit: strings, so JavaScript clients keep every digit."""

    def to_representation(self, value) -> str:
        return str(value)


class UserOut(FlatSerializer):
    id = IdString()
    type = serializers.CharField()
    status = serializers.CharField()
    phone_number = serializers.CharField()
    country_id = serializers.CharField()
    name = serializers.CharField()
    salutation = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    email_verified = serializers.SerializerMethodField()
    tier = serializers.IntegerField()
    level = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_email_verified(self, user) -> bool:
        return bool(user.email and user.email_verified_at)


class SessionOut(FlatSerializer):
    id = IdString()
    device = serializers.CharField(source="logged_in_on")
    location = serializers.CharField(source="logged_in_from")
    ip = serializers.CharField(source="logged_in_ip", allow_null=True)
    method = serializers.CharField()
    status = serializers.CharField()
    logged_in_at = serializers.DateTimeField()
    logged_out_at = serializers.DateTimeField(allow_null=True)
    current = serializers.SerializerMethodField()

    def get_current(self, state) -> bool:
        return str(state.pk) == str(self.context.get("current_session_id"))


class TokensOut(FlatSerializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    refresh_expires_in = serializers.IntegerField()
    session_id = serializers.CharField()


class SignedInOut(serializers.Serializer):
    user = UserOut()
    session = SessionOut()
    tokens = TokensOut()


class OtpSentOut(FlatSerializer):
    status = serializers.CharField(default="otp_sent")
    channel = serializers.CharField()
    expires_in = serializers.IntegerField()
    resend_after = serializers.IntegerField()


class ProfileOut(UserOut):
    email_pending = serializers.CharField(allow_null=True, required=False)


class RefreshOut(serializers.Serializer):
    tokens = TokensOut()


class GoogleContinuationOut(serializers.Serializer):
    status = serializers.CharField(default="phone_verification_required")
    continuation = serializers.CharField(help_text="Pass as google_continuation to /auth/signup and /auth/signup/verify (new person) or /auth/otp/verify (existing account)")
    expires_in = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class IdentityOut(serializers.Serializer):
    id = IdString()
    provider = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


# --- the presenters ---------------------------------------------------------------------
def user(user) -> dict[str, Any]:
    return dict(UserOut(user).data)


def profile(user, email_pending: str | None = None) -> dict[str, Any]:
    """The signed-in user's own view: the user and an email waiting for its code."""
    return {**UserOut(user).data, "email_pending": email_pending}


def session(state, current_session_id: Any = None) -> dict[str, Any]:
    return dict(SessionOut(state, context={"current_session_id": current_session_id}).data)


def sessions(states, current_session_id: Any = None) -> list[dict[str, Any]]:
    return [session(state, current_session_id) for state in states]


def tokens(pair) -> dict[str, Any]:
    return pair.as_dict()


def signed_in(result) -> dict[str, Any]:
    """A sign-in (``SignedIn``): the user, the session it opened (current) and its tokens."""
    return {"user": user(result.user), "session": session(result.session, result.session.pk),
            "tokens": tokens(result.tokens)}


def otp_sent(sent) -> dict[str, Any]:
    """A sent code (``OtpSent``): the same for unknown identifiers."""
    return {"status": "otp_sent", "channel": sent.channel, "expires_in": sent.expires_in, "resend_after": sent.resend_after}


def phone_verification_required(result) -> dict[str, Any]:
    """Google sign-in of a new person (``PhoneVerificationRequired``): the continuation."""
    return {"status": "phone_verification_required", **asdict(result)}


def identities(links) -> list[dict[str, Any]]:
    return [dict(item) for item in IdentityOut(links, many=True).data]
