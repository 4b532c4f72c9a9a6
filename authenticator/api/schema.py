"""The REST API's OpenAPI schema: the answers' shapes, and post-processing so the schema
says what the server enforces."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers


# --- what the answers look like: the edge's presenters (authenticator.edge.presenters)
# give these dicts; tests/edge/test_presenters.py holds the two to the same fields and values.
class IdString(serializers.CharField):
    """Sonyflake ids are 63-bit: strings, so JavaScript clients keep every digit."""

    def to_representation(self, value) -> str:
        return str(value)


class UserOut(serializers.Serializer):
    """A user as clients see them: id (a decimal string), how the account was created
    (type), its status, the verified phone number and its country, name, salutation,
    email (null when none) and whether it is verified, tier and level."""

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
    """A session (login state): the device the client reported, where and from which
    address it signed in, how (method: otp_sms, otp_email, google), its status, when it
    began and ended, and whether it is the caller's own (current)."""

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
    """The Tokenizer's token pair: a bearer access token and the refresh token that
    rotates it, their lifetimes in seconds, and the session they belong to."""

    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    refresh_expires_in = serializers.IntegerField()
    session_id = serializers.CharField()


class SignedInOut(serializers.Serializer):
    """A completed sign-in: the user, the session it opened and its tokens."""

    user = UserOut()
    session = SessionOut()
    tokens = TokensOut()


class OtpSentOut(serializers.Serializer):
    """A code is on its way (the same answer whether or not the identifier has an
    account): by which channel, how many seconds it stays valid, and how many seconds to
    wait before asking for another."""

    status = serializers.ChoiceField(choices=["otp_sent"])
    channel = serializers.ChoiceField(choices=["sms", "email"])
    expires_in = serializers.IntegerField()
    resend_after = serializers.IntegerField()


class ProfileOut(UserOut):
    """The signed-in user's own profile: the user, and a new email address waiting for
    its code (email_pending, null when none)."""

    email_pending = serializers.CharField(allow_null=True)


class RefreshOut(serializers.Serializer):
    """A rotated token pair (the refresh token sent is spent)."""

    tokens = TokensOut()


class GoogleContinuationOut(serializers.Serializer):
    """Google sign-in of a person without an account here: a continuation to pass on
    while verifying a phone number, how many seconds it stays valid, and the email and
    name Google gave (null when it gave none)."""

    status = serializers.ChoiceField(choices=["phone_verification_required"])
    continuation = serializers.CharField(help_text="Pass as google_continuation to /auth/signup and /auth/signup/verify (new person) or /auth/otp/verify (existing account)")
    expires_in = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class IdentityOut(serializers.Serializer):
    """A linked sign-in identity (Google through Firebase): its provider, the email it
    carried, when it was linked and last used."""

    id = IdString()
    provider = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class FieldErrorOut(serializers.Serializer):
    """One problem with one field: a stable code (required, invalid, max_length,
    unknown_field, ...) and a message for people."""

    code = serializers.CharField()
    message = serializers.CharField()


class ErrorOut(serializers.Serializer):
    """Every error answer: a stable code (the error table, docs/clients/errors.md), a
    message for people (detail); the problems per field of an invalid request
    (errors: field name to a list of problems); and, when rate limited, the seconds to
    wait (retry_after, as the Retry-After header)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=FieldErrorOut()), required=False)
    retry_after = serializers.IntegerField(required=False)


# POST /auth/google answers 200 in one of two shapes; a oneOf says so (without it a
# generated client reads every 200 as SignedInOut and fails on the continuation). The
# shapes share no required key, so a client tells them apart by parsing.
GoogleSignInOut = PolymorphicProxySerializer(
    component_name="GoogleSignInOut",
    serializers=[SignedInOut, GoogleContinuationOut],
    resource_type_field_name=None,
)


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


RESPONSE_HEADERS = {
    "429": {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}},
    "401": {"WWW-Authenticate": {"description": 'Bearer realm="api"', "schema": {"type": "string"}}},
}


def security_and_headers(result: dict, generator, request, public) -> dict:
    """Public operations require nothing: ``security: []``.

    drf-spectacular writes ``[{}]`` ("no authentication is one option") for views that
    allow anyone; the operations under a bearer token keep ``[{"bearerAuth": []}]``. The
    headers the error answers carry (Retry-After, WWW-Authenticate) are described too.
    """
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            security = [requirement for requirement in operation.get("security", []) if requirement]
            operation["security"] = security
            for status_code, headers in RESPONSE_HEADERS.items():
                answer = operation.get("responses", {}).get(status_code)
                if answer is not None:
                    answer.setdefault("headers", {}).update(headers)
    return result
