"""The authenticator app's settings, read lazily so that test overrides just work.

A project sets any of these in ``settings.AUTHENTICATOR`` (a dict); everything else
falls back to the defaults below. Read them as ``app_settings.OTP_TTL``.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    # Sonyflake machine id: None leases one per process (a sonyflake_leases row, or a
    # file lock next to a SQLite database); an int pins it (single-process runs only).
    "SONYFLAKE_MACHINE_ID": None,
    "SONYFLAKE_LOCK_DIR": None,
    # Client IP: X-Forwarded-For is believed only when the socket peer is one of these.
    "TRUSTED_PROXIES": [],
    # One-time passwords.
    "OTP_HMAC_KEY": None,  # None: derived from SECRET_KEY (HKDF, its own label)
    "OTP_LENGTH": 6,
    "OTP_TTL": 300,
    "OTP_MAX_ATTEMPTS": 5,
    "OTP_RESEND_COOLDOWN": 60,
    # Codes an identifier may be sent per hour from one client address (with the resend
    # cooldown, also per address), and from all addresses together.
    "OTP_MAX_PER_HOUR": 5,
    "OTP_IDENTIFIER_MAX_PER_HOUR": 20,
    # Wrong codes an account may have compared in OTP_FAILURE_WINDOW seconds, across all
    # its codes (NIST SP 800-63B 5.2.2's 100). Each channel (sms, email) has half of it,
    # so an attack on the phone number leaves email codes working, and the other way round.
    "OTP_ACCOUNT_MAX_FAILURES": 100,
    "OTP_FAILURE_WINDOW": 30 * 24 * 3600,
    # SMS budgets against pumping (authenticator.core.budgets); 0 = no limit.
    "SMS_ALLOWED_COUNTRIES": [],  # ISO alpha-2 codes the service texts; empty = all
    # phonenumbers' number types the service never texts (the ones that pay their owner or
    # bill the sender more): see docs/security/sms-pumping.md
    "SMS_REFUSED_NUMBER_TYPES": ["premium_rate", "shared_cost", "toll_free", "personal_number", "uan", "voicemail"],
    "SMS_BUDGET_PER_COUNTRY_HOUR": 500,
    "SMS_BUDGET_COUNTRY_OVERRIDES": {},  # {"GB": 2000, "NG": 20}, or "GB:2000,NG:20"
    "SMS_BUDGET_GLOBAL_HOUR": 2000,
    "SMS_PREFIX_DIGITS": 8,  # digits of the E.164 number, country code included
    "SMS_PREFIX_WINDOW": 600,
    "SMS_PREFIX_MAX_NUMBERS": 10,
    # The challenge hook (authenticator.challenge): a dotted path, empty = none.
    "CHALLENGE_VERIFIER": "",
    "CHALLENGE_MODE": "at_risk",  # always | at_risk
    "CHALLENGE_RISK_FRACTION": 0.8,
    "CHALLENGE_IP_MAX_NUMBERS": 3,
    "CHALLENGE_TIMEOUT": 5.0,
    "CHALLENGE_MIN_SCORE": 0.5,
    "TURNSTILE_SECRET": "",
    "TURNSTILE_VERIFY_URL": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    # A sign-up from an address that geolocates to another country than its country_id.
    "SIGNUP_COUNTRY_CHECK": "off",  # off | challenge | refuse
    "SMS_SENDER": "otp.channels.ConsoleSmsSender",
    "SMS_GATEWAY_URL": "",
    "SMS_GATEWAY_KEY": "",
    "SMS_TIMEOUT": 5.0,
    # Twilio Messages API (otp.channels.TwilioSmsSender); all three needed when selected.
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_FROM": "",
    "TWILIO_API_URL": "https://api.twilio.com",
    # The public URL of POST /api/v1/delivery/twilio/status: sent to Twilio with each
    # message (StatusCallback) and the URL its X-Twilio-Signature is checked against.
    "TWILIO_STATUS_CALLBACK_URL": "",
    # Deliveries on the broker: the first retry after this many seconds, doubling up to
    # DELIVERY_RETRY_MAX, while the code is still valid; then the delivery has failed.
    "DELIVERY_RETRY_BASE": 2.0,
    "DELIVERY_RETRY_MAX": 60.0,
    # The worker (celery -A config worker): a file it touches while it is alive and
    # connected to the broker (its health check reads it), and the port of its metrics.
    "WORKER_HEARTBEAT_FILE": "",
    "WORKER_METRICS_PORT": 0,
    # Tokenizer.
    "TOKENIZER_URL": "",
    # Plain http:// to a host that is not this one is refused at start (DEBUG off) unless
    # this says the link is protected otherwise (e.g. a mesh with mTLS).
    "TOKENIZER_ALLOW_PLAINTEXT": False,
    "TOKENIZER_API_KEY": "",
    "TOKENIZER_CONNECT_TIMEOUT": 2.0,
    "TOKENIZER_READ_TIMEOUT": 5.0,
    "TOKENIZER_RETRIES": 2,
    # Longest one call may take, retries and backoff included (seconds).
    "TOKENIZER_DEADLINE": 8.0,
    # Longest answer read from a remote Tokenizer; a longer one is TokenizerUnavailable.
    "TOKENIZER_MAX_RESPONSE_BYTES": 64 * 1024,
    "TOKENIZER_SIGNING_KEY": None,  # None: derived from SECRET_KEY (HKDF, its own label)
    "TOKENIZER_ACCESS_TTL": 900,
    "TOKENIZER_REFRESH_TTL": 30 * 24 * 3600,
    "TOKENIZER_SERVE": False,
    "TOKENIZER_ISSUER": "authenticator",
    # Longest a cached introspection answer is trusted (never beyond the token's exp).
    "TOKENIZER_INTROSPECTION_CACHE_TTL": 60,
    # Geolocation.
    "GEOLOCATION_BACKEND": "authenticator.geolocation.OfflineGeolocation",
    # Admin search: a number typed without a country code is also read as a local number
    # of each of these regions (besides the staff member's own country).
    "ADMIN_PHONE_REGIONS": [],
    # When set, GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>".
    "METRICS_TOKEN": "",
    # Firebase.
    "FIREBASE_PROJECT_ID": "",
    "FIREBASE_CHECK_REVOKED": True,
    "FIREBASE_VERIFIER": "authenticator.firebase.FirebaseVerifier",
    # firebase.sign_in_provider values accepted as "Sign in with Google".
    "FIREBASE_ALLOWED_PROVIDERS": ["google.com"],
    # Where Google's ID-token certificates are fetched; empty = firebase-admin's own URL.
    "FIREBASE_CERTS_URL": "",
    "FIREBASE_HTTP_TIMEOUT": 5.0,
    "FIREBASE_CLOCK_SKEW": 5,
    # gRPC server (manage.py grpcserver): listen address and handler threads.
    "GRPC_BIND": "127.0.0.1:50051",
    "GRPC_WORKERS": 8,
    # Server processes sharing the port (SO_REUSEPORT), each with GRPC_WORKERS threads:
    # one process is one GIL, so more use more cores. 1 = one process, a port of its own.
    "GRPC_PROCESSES": 1,
    # Seconds running calls may finish in after SIGTERM.
    "GRPC_SHUTDOWN_GRACE": 10.0,
}


# Keys that are not SECRET_KEY itself: unset, each is derived from it under a label of its
# own, so no two uses share a key (a leaked token-signing key does not forge Django
# sessions or password-reset links, and the other way round).
DERIVED_KEYS = {
    "OTP_HMAC_KEY": b"authenticator/otp-hmac/v1",
    "TOKENIZER_SIGNING_KEY": b"authenticator/tokenizer-signing/v1",
}


@functools.lru_cache(maxsize=16)
def derive_key(secret: str, label: bytes) -> str:
    """32 bytes (hex) from ``secret`` by HKDF-SHA256 with ``label`` as its info."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode()).hex()


class AppSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown authenticator setting: {name}")
        configured = getattr(settings, "AUTHENTICATOR", {}) or {}
        value = configured.get(name, DEFAULTS[name])
        if value in (None, "") and name in DERIVED_KEYS:
            try:
                secret = settings.SECRET_KEY
            except ImproperlyConfigured:  # an empty SECRET_KEY: nothing to derive from
                secret = ""
            value = derive_key(secret, DERIVED_KEYS[name]) if secret else ""
        return value


app_settings = AppSettings()
