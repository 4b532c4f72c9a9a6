"""Settings for the test suite: the real PostgreSQL and Redis on this machine."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/authenticator")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CACHE_KEY_PREFIX", "authn-test")

from .settings import *  # noqa: E402,F403
from .settings import AUTHENTICATOR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# A server or command that a test starts as a subprocess can't share this process's
# outbox: such tests pass SMS_SENDER (e.g. the HTTP gateway sender) in its environment.
AUTHENTICATOR = {**AUTHENTICATOR, "SMS_SENDER": os.environ.get("SMS_SENDER") or "otp.channels.OutboxSmsSender"}
