"""The REST API's OpenAPI schema: the answers' shapes, and post-processing so the schema
says what the server enforces."""

from __future__ import annotations

from rest_framework import serializers


# --- what the answers look like: the edge's presenters (authenticator.edge.presenters)
# give these dicts; tests/edge/test_presenters.py holds the two to the same fields and values.
class IdString(serializers.CharField):
    """Sonyflake ids are 63-bit: strings, so JavaScript clients keep every digit."""

    def to_representation(self, value) -> str:
        return str(value)


class UserOut(serializers.Serializer):
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


class SessionOut(serializers.Serializer):
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


class TokensOut(serializers.Serializer):
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


class OtpSentOut(serializers.Serializer):
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


class ErrorOut(serializers.Serializer):
    """Every error answer: ``{"code", "detail", ...}`` (authenticator.core.errors)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False)
    retry_after = serializers.IntegerField(required=False)


def strict_request_bodies(result: dict, generator, request, public) -> dict:
    """Request bodies refuse unknown fields (StrictSerializer): ``additionalProperties: false``.

    Without it the schema allows any extra property and a client generated from it (or a
    fuzzer) would expect them to be ignored.
    """
    components = result.get("components", {}).get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                name = ref.rsplit("/", 1)[-1]
                if name in components and components[name].get("type") == "object":
                    components[name]["additionalProperties"] = False
    return result
