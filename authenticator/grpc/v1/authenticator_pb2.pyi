import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("id", "type", "status", "phone_number", "country_id", "name", "salutation", "email", "email_verified", "tier", "level", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SALUTATION_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    status: str
    phone_number: str
    country_id: str
    name: str
    salutation: str
    email: str
    email_verified: bool
    tier: int
    level: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., status: _Optional[str] = ..., phone_number: _Optional[str] = ..., country_id: _Optional[str] = ..., name: _Optional[str] = ..., salutation: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., tier: _Optional[int] = ..., level: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "device", "location", "ip", "method", "status", "logged_in_at", "logged_out_at", "current")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOGGED_IN_AT_FIELD_NUMBER: _ClassVar[int]
    LOGGED_OUT_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    device: str
    location: str
    ip: str
    method: str
    status: str
    logged_in_at: _timestamp_pb2.Timestamp
    logged_out_at: _timestamp_pb2.Timestamp
    current: bool
    def __init__(self, id: _Optional[str] = ..., device: _Optional[str] = ..., location: _Optional[str] = ..., ip: _Optional[str] = ..., method: _Optional[str] = ..., status: _Optional[str] = ..., logged_in_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., logged_out_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: _Optional[bool] = ...) -> None: ...

class Tokens(_message.Message):
    __slots__ = ("access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "session_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    def __init__(self, access_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expires_in: _Optional[int] = ..., refresh_token: _Optional[str] = ..., refresh_expires_in: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class SignedIn(_message.Message):
    __slots__ = ("user", "session", "tokens")
    USER_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    user: User
    session: Session
    tokens: Tokens
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., session: _Optional[_Union[Session, _Mapping]] = ..., tokens: _Optional[_Union[Tokens, _Mapping]] = ...) -> None: ...

class OtpSent(_message.Message):
    __slots__ = ("status", "channel", "expires_in", "resend_after")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    RESEND_AFTER_FIELD_NUMBER: _ClassVar[int]
    status: str
    channel: str
    expires_in: int
    resend_after: int
    def __init__(self, status: _Optional[str] = ..., channel: _Optional[str] = ..., expires_in: _Optional[int] = ..., resend_after: _Optional[int] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("user", "email_pending")
    USER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_PENDING_FIELD_NUMBER: _ClassVar[int]
    user: User
    email_pending: str
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., email_pending: _Optional[str] = ...) -> None: ...

class SignUpRequest(_message.Message):
    __slots__ = ("phone_number", "country_id", "name", "salutation", "email", "google_continuation", "challenge_token")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SALUTATION_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GOOGLE_CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    country_id: str
    name: str
    salutation: str
    email: str
    google_continuation: str
    challenge_token: str
    def __init__(self, phone_number: _Optional[str] = ..., country_id: _Optional[str] = ..., name: _Optional[str] = ..., salutation: _Optional[str] = ..., email: _Optional[str] = ..., google_continuation: _Optional[str] = ..., challenge_token: _Optional[str] = ...) -> None: ...

class VerifySignUpRequest(_message.Message):
    __slots__ = ("phone_number", "otp", "device", "google_continuation", "country_id")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OTP_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GOOGLE_CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_ID_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    otp: str
    device: str
    google_continuation: str
    country_id: str
    def __init__(self, phone_number: _Optional[str] = ..., otp: _Optional[str] = ..., device: _Optional[str] = ..., google_continuation: _Optional[str] = ..., country_id: _Optional[str] = ...) -> None: ...

class RequestOtpRequest(_message.Message):
    __slots__ = ("phone_number", "email", "country_id", "challenge_token")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    email: str
    country_id: str
    challenge_token: str
    def __init__(self, phone_number: _Optional[str] = ..., email: _Optional[str] = ..., country_id: _Optional[str] = ..., challenge_token: _Optional[str] = ...) -> None: ...

class VerifyOtpRequest(_message.Message):
    __slots__ = ("phone_number", "email", "country_id", "otp", "device", "google_continuation")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_ID_FIELD_NUMBER: _ClassVar[int]
    OTP_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GOOGLE_CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    email: str
    country_id: str
    otp: str
    device: str
    google_continuation: str
    def __init__(self, phone_number: _Optional[str] = ..., email: _Optional[str] = ..., country_id: _Optional[str] = ..., otp: _Optional[str] = ..., device: _Optional[str] = ..., google_continuation: _Optional[str] = ...) -> None: ...

class SignInWithGoogleRequest(_message.Message):
    __slots__ = ("id_token", "device")
    ID_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    id_token: str
    device: str
    def __init__(self, id_token: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class PhoneVerificationRequired(_message.Message):
    __slots__ = ("status", "continuation", "expires_in", "email", "name")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    status: str
    continuation: str
    expires_in: int
    email: str
    name: str
    def __init__(self, status: _Optional[str] = ..., continuation: _Optional[str] = ..., expires_in: _Optional[int] = ..., email: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SignInWithGoogleResponse(_message.Message):
    __slots__ = ("signed_in", "phone_verification_required")
    SIGNED_IN_FIELD_NUMBER: _ClassVar[int]
    PHONE_VERIFICATION_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    signed_in: SignedIn
    phone_verification_required: PhoneVerificationRequired
    def __init__(self, signed_in: _Optional[_Union[SignedIn, _Mapping]] = ..., phone_verification_required: _Optional[_Union[PhoneVerificationRequired, _Mapping]] = ...) -> None: ...

class RefreshTokenRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshTokenResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: Tokens
    def __init__(self, tokens: _Optional[_Union[Tokens, _Mapping]] = ...) -> None: ...

class SignOutRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class SignOutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("name", "salutation", "email")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SALUTATION_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    salutation: str
    email: str
    def __init__(self, name: _Optional[str] = ..., salutation: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class VerifyEmailRequest(_message.Message):
    __slots__ = ("otp",)
    OTP_FIELD_NUMBER: _ClassVar[int]
    otp: str
    def __init__(self, otp: _Optional[str] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Identity(_message.Message):
    __slots__ = ("id", "provider", "email", "created_at", "last_used_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    email: str
    created_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., email: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListIdentitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListIdentitiesResponse(_message.Message):
    __slots__ = ("identities",)
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    def __init__(self, identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ...) -> None: ...

class RemoveIdentityRequest(_message.Message):
    __slots__ = ("identity_id",)
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    def __init__(self, identity_id: _Optional[str] = ...) -> None: ...

class RemoveIdentityResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
