"""Settings for the Authenticator service.

Every value comes from the environment (django-environ). With nothing set, the service
runs on its embedded defaults: SQLite file, local-memory cache, in-process Tokenizer,
console SMS and email. With DEBUG off, SECRET_KEY and ALLOWED_HOSTS must be given.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY or (not DEBUG and SECRET_KEY == _DEV_SECRET):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    # django.contrib.admin, whose default site requires a second factor (config/apps.py).
    "config.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's and Redoc's files, pinned, for the docs pages (/api/docs/, /api/redoc/).
    "drf_spectacular_sidecar",
    "accounts",
    "otp",
    "sessions_log",
    "authenticator",
    "authenticator.grpc.apps.GrpcConfig",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
]

MIDDLEWARE = [
    # Outermost: a request id for every log line of the request, access log, metrics.
    "authenticator.core.logging.RequestIdMiddleware",
    # Probes and scrapers address the pod by IP: served before the Host check.
    "authenticator.ops.ProbeMiddleware",
    "authenticator.middleware.ClientIpMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from any server role (gunicorn, hypercorn).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): which OTP device verified this session, if any.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login that axes locked out into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -------------------------------------------------------------------------
# PostgreSQL in production (DATABASE_URL), a SQLite file by default. Connections to
# PostgreSQL come from psycopg's pool; the pool needs CONN_MAX_AGE=0 and is opened lazily
# (first query), so gunicorn workers each open their own after the fork.
# DB_PGBOUNCER=1 when DATABASE_URL points at PgBouncer in transaction pooling: no
# server-side cursors (Django's WITH HOLD cursors outlive the transaction). Prepared
# statements stay off (Django's prepare_threshold=None; PgBouncer < 1.21 can't route them).
# See docs/operators/scaling.md.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DB_PGBOUNCER", default=False)
    if env.bool("DB_POOL", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
DATABASES["default"]["ATOMIC_REQUESTS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache (throttles, introspection cache) ------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=1.0),
            },
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="authn"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# A Redis outage must not turn into 500s: cache reads miss, writes are dropped (logged).
# Throttles then fail open; the OTP wrong-try limit lives in PostgreSQL and still holds.
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# --- Auth -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses a password sign-in that axes has locked out, before it is checked.
    "authenticator.admin.staff_sign_in.StaffLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Staff sign-in to the admin (authenticator/admin/staff_sign_in.py) ---------------------------
# A second factor on every admin session (django-otp): a TOTP app, or a one-time backup
# code. Keys and backup codes are never shown again in the admin after they are made.
OTP_TOTP_ISSUER = env.str("ADMIN_OTP_ISSUER", default="Authenticator")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Lockout (django-axes): ADMIN_LOCKOUT_FAILURES wrong passwords for one phone number from
# one client address lock that pair for ADMIN_LOCKOUT_COOLOFF seconds; a try while locked
# starts the wait again; a full sign-in (password and code) clears the count. Attempts are
# kept in the database (losing Redis does not lift a lock).
AXES_FAILURE_LIMIT = env.int("ADMIN_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("ADMIN_LOCKOUT_COOLOFF", default=900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"  # the admin login form's field, whatever USERNAME_FIELD is
AXES_USERNAME_CALLABLE = "authenticator.admin.staff_sign_in.lockout_username"
AXES_CLIENT_IP_CALLABLE = "authenticator.admin.staff_sign_in.lockout_client_ip"
AXES_LOCKOUT_CALLABLE = "authenticator.admin.staff_sign_in.lockout_response"
# Masked in axes' logs and in the POST data it keeps with each attempt (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Email ----------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Authenticator <no-reply@localhost>")
# An unreachable SMTP server must not hold a request (or a delivery worker) forever.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)

# --- Hardening (effective with DEBUG off) ---------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
# On by default with DEBUG off: plain http is redirected (a TLS proxy in front sets
# BEHIND_TLS_PROXY, or the redirect loops); a test server without TLS turns it off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and scrapers talk plain HTTP to the pod; a redirect to https would fail them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["authenticator.api.authentication.BearerTokenAuthentication"],
    "EXCEPTION_HANDLER": "authenticator.api.errors.exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["authenticator.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {
        "auth_ip": env.str("THROTTLE_AUTH_IP", default="30/min"),
        "otp_ip": env.str("THROTTLE_OTP_IP", default="10/min"),
        "refresh_ip": env.str("THROTTLE_REFRESH_IP", default="60/min"),
        # Provider status callbacks (Twilio posts one per status change of each message).
        "callback_ip": env.str("THROTTLE_CALLBACK_IP", default="600/min"),
        "user": env.str("THROTTLE_USER", default="120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Authenticator API",
    "DESCRIPTION": "Sign up and sign in with phone, email or Google; tokens from the Tokenizer.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load Swagger UI and Redoc from this server (drf-spectacular-sidecar),
    # never from a CDN; Swagger UI's online validator badge is off (it calls out).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "authenticator.api.schema.strict_request_bodies",
        "authenticator.api.schema.security_and_headers",
    ],
    # The one-value enums that tell the answers apart, named after their answers.
    "ENUM_NAME_OVERRIDES": {
        "OtpSentStatusEnum": ["otp_sent"],
        "GoogleContinuationStatusEnum": ["phone_verification_required"],
        "ChannelEnum": ["sms", "email"],
    },
}

# --- The authenticator app's own settings (defaults live in authenticator/conf.py) -----
AUTHENTICATOR = {
    "SONYFLAKE_MACHINE_ID": env.int("SONYFLAKE_MACHINE_ID", default=None),
    "TRUSTED_PROXIES": env.list("TRUSTED_PROXIES", default=[]),
    # Unset: derived from SECRET_KEY under a label of its own (authenticator/conf.py).
    "OTP_HMAC_KEY": env.str("OTP_HMAC_KEY", default=None),
    # Raised only by load tests and proofs (scripts/bench, scripts/prove); defaults in conf.py.
    "OTP_RESEND_COOLDOWN": env.int("OTP_RESEND_COOLDOWN", default=60),
    "OTP_MAX_PER_HOUR": env.int("OTP_MAX_PER_HOUR", default=5),
    "OTP_IDENTIFIER_MAX_PER_HOUR": env.int("OTP_IDENTIFIER_MAX_PER_HOUR", default=20),
    "OTP_ACCOUNT_MAX_FAILURES": env.int("OTP_ACCOUNT_MAX_FAILURES", default=100),
    "OTP_FAILURE_WINDOW": env.int("OTP_FAILURE_WINDOW", default=30 * 24 * 3600),
    "TOKENIZER_URL": env.str("TOKENIZER_URL", default=""),
    "TOKENIZER_ALLOW_PLAINTEXT": env.bool("TOKENIZER_ALLOW_PLAINTEXT", default=False),
    "TOKENIZER_API_KEY": env.str("TOKENIZER_API_KEY", default=""),
    "TOKENIZER_CONNECT_TIMEOUT": env.float("TOKENIZER_CONNECT_TIMEOUT", default=2.0),
    "TOKENIZER_READ_TIMEOUT": env.float("TOKENIZER_READ_TIMEOUT", default=5.0),
    "TOKENIZER_SIGNING_KEY": env.str("TOKENIZER_SIGNING_KEY", default=None),
    "TOKENIZER_SERVE": env.bool("TOKENIZER_SERVE", default=False),
    "TOKENIZER_RETRIES": env.int("TOKENIZER_RETRIES", default=2),
    "TOKENIZER_DEADLINE": env.float("TOKENIZER_DEADLINE", default=8.0),
    "TOKENIZER_MAX_RESPONSE_BYTES": env.int("TOKENIZER_MAX_RESPONSE_BYTES", default=64 * 1024),
    "TOKENIZER_ACCESS_TTL": env.int("TOKENIZER_ACCESS_TTL", default=900),
    "TOKENIZER_REFRESH_TTL": env.int("TOKENIZER_REFRESH_TTL", default=30 * 24 * 3600),
    "TOKENIZER_ISSUER": env.str("TOKENIZER_ISSUER", default="authenticator"),
    "TOKENIZER_INTROSPECTION_CACHE_TTL": env.int("TOKENIZER_INTROSPECTION_CACHE_TTL", default=60),
    "SMS_ALLOWED_COUNTRIES": [c.strip().upper() for c in env.list("SMS_ALLOWED_COUNTRIES", default=[]) if c.strip()],
    "SMS_REFUSED_NUMBER_TYPES": [t.strip().lower() for t in env.list(
        "SMS_REFUSED_NUMBER_TYPES", default=["premium_rate", "shared_cost", "toll_free", "personal_number", "uan", "voicemail"])
        if t.strip()],
    "SMS_BUDGET_PER_COUNTRY_HOUR": env.int("SMS_BUDGET_PER_COUNTRY_HOUR", default=500),
    "SMS_BUDGET_COUNTRY_OVERRIDES": env.str("SMS_BUDGET_COUNTRY_OVERRIDES", default=""),
    "SMS_BUDGET_GLOBAL_HOUR": env.int("SMS_BUDGET_GLOBAL_HOUR", default=2000),
    "SMS_PREFIX_DIGITS": env.int("SMS_PREFIX_DIGITS", default=8),
    "SMS_PREFIX_WINDOW": env.int("SMS_PREFIX_WINDOW", default=600),
    "SMS_PREFIX_MAX_NUMBERS": env.int("SMS_PREFIX_MAX_NUMBERS", default=10),
    "CHALLENGE_VERIFIER": env.str("CHALLENGE_VERIFIER", default=""),
    "CHALLENGE_MODE": env.str("CHALLENGE_MODE", default="at_risk"),
    "CHALLENGE_RISK_FRACTION": env.float("CHALLENGE_RISK_FRACTION", default=0.8),
    "CHALLENGE_IP_MAX_NUMBERS": env.int("CHALLENGE_IP_MAX_NUMBERS", default=3),
    "CHALLENGE_TIMEOUT": env.float("CHALLENGE_TIMEOUT", default=5.0),
    "CHALLENGE_MIN_SCORE": env.float("CHALLENGE_MIN_SCORE", default=0.5),
    "TURNSTILE_SECRET": env.str("TURNSTILE_SECRET", default=""),
    "TURNSTILE_VERIFY_URL": env.str("TURNSTILE_VERIFY_URL",
                                    default="https://challenges.cloudflare.com/turnstile/v0/siteverify"),
    "SIGNUP_COUNTRY_CHECK": env.str("SIGNUP_COUNTRY_CHECK", default="off"),
    "SMS_SENDER": env.str("SMS_SENDER", default="otp.channels.ConsoleSmsSender"),
    "SMS_GATEWAY_URL": env.str("SMS_GATEWAY_URL", default=""),
    "SMS_GATEWAY_KEY": env.str("SMS_GATEWAY_KEY", default=""),
    "SMS_TIMEOUT": env.float("SMS_TIMEOUT", default=5.0),
    "TWILIO_ACCOUNT_SID": env.str("TWILIO_ACCOUNT_SID", default=""),
    "TWILIO_AUTH_TOKEN": env.str("TWILIO_AUTH_TOKEN", default=""),
    "TWILIO_FROM": env.str("TWILIO_FROM", default=""),
    "TWILIO_API_URL": env.str("TWILIO_API_URL", default="https://api.twilio.com"),
    "TWILIO_STATUS_CALLBACK_URL": env.str("TWILIO_STATUS_CALLBACK_URL", default=""),
    "DELIVERY_RETRY_BASE": env.float("DELIVERY_RETRY_BASE", default=2.0),
    "DELIVERY_RETRY_MAX": env.float("DELIVERY_RETRY_MAX", default=60.0),
    "WORKER_HEARTBEAT_FILE": env.str("WORKER_HEARTBEAT_FILE", default=""),
    "WORKER_METRICS_PORT": env.int("WORKER_METRICS_PORT", default=0),
    "GEOLOCATION_BACKEND": env.str("GEOLOCATION_BACKEND", default="authenticator.geolocation.OfflineGeolocation"),
    "ADMIN_PHONE_REGIONS": env.list("ADMIN_PHONE_REGIONS", default=[]),
    "METRICS_TOKEN": env.str("METRICS_TOKEN", default=""),
    "FIREBASE_PROJECT_ID": env.str("FIREBASE_PROJECT_ID", default=""),
    "FIREBASE_CHECK_REVOKED": env.bool("FIREBASE_CHECK_REVOKED", default=True),
    "FIREBASE_VERIFIER": env.str("FIREBASE_VERIFIER", default="authenticator.firebase.FirebaseVerifier"),
    "FIREBASE_ALLOWED_PROVIDERS": env.list("FIREBASE_ALLOWED_PROVIDERS", default=["google.com"]),
    "FIREBASE_CERTS_URL": env.str("FIREBASE_CERTS_URL", default=""),
    "FIREBASE_HTTP_TIMEOUT": env.float("FIREBASE_HTTP_TIMEOUT", default=5.0),
    "FIREBASE_CLOCK_SKEW": env.int("FIREBASE_CLOCK_SKEW", default=5),
    "GRPC_BIND": env.str("GRPC_BIND", default="127.0.0.1:50051"),
    "GRPC_WORKERS": env.int("GRPC_WORKERS", default=8),
    "GRPC_PROCESSES": env.int("GRPC_PROCESSES", default=1),
    "GRPC_SHUTDOWN_GRACE": env.float("GRPC_SHUTDOWN_GRACE", default=10.0),
}

# --- Background work: code deliveries on Celery (docs/operators/delivery.md) -------------
# Unset: deliveries run in a thread pool of the process that answered (authenticator/core/
# background.py), one try each. Set (a Redis URL): the answer enqueues, workers started by
# `celery -A config worker` send, retrying while the code is valid.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task a worker took and never acknowledged (the whole worker died) goes back to the
    # queue after this many seconds. Sends are idempotent (otp.delivery), so a second
    # copy of a task that was only slow is harmless; keep it well under OTP_TTL.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=60),
    # Look for such tasks every 5 s (kombu's default is one real look per 100 s, longer
    # than a code lives).
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing after an answer must not hold its thread for long: a broker that doesn't
# take the task within a few tries (each CELERY_BROKER_CONNECTION_TIMEOUT at most) sends
# the job to this process's pool instead.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# Acknowledged when done, not when taken: a worker that dies mid-send leaves the task to
# another (a killed pool process: at once; a lost worker: after the visibility timeout).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="authenticator")
# Our JSON logging (LOGGING below) stays: Celery adds no handlers of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False

# One JSON object per line on stderr (LOG_FORMAT=plain for a terminal), each with the
# request id; phone numbers, emails, codes and tokens are masked (authenticator/core/logging.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "authenticator.core.logging.RequestIdFilter"},
        "redact": {"()": "authenticator.core.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "authenticator.core.logging.JsonFormatter"},
        "plain": {"()": "authenticator.core.logging.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("LOG_FORMAT", default="json"),
            "filters": ["request_id", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Django's own request lines duplicate the access log (authenticator.access).
        "django.server": {"level": "WARNING"},
        # axes announces its configuration at every start (every command); failures it
        # records (axes.handlers) still log.
        "axes.apps": {"level": "WARNING"},
    },
}
