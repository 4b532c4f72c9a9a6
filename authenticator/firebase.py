"""Firebase ID token verification for "Sign in with Google".

The flows depend only on :class:`IdTokenVerifier` and :func:`id_token_verifier`; the
implementation is chosen by the dotted-path setting ``FIREBASE_VERIFIER``.

:class:`FirebaseVerifier` uses firebase-admin on its own named ``firebase_admin.App``:

- project id from ``FIREBASE_PROJECT_ID`` (the token's ``aud``, and ``iss`` =
  ``https://securetoken.google.com/<project>``);
- credentials from the standard ``GOOGLE_APPLICATION_CREDENTIALS`` service-account file
  (not needed in emulator mode, i.e. when ``FIREBASE_AUTH_EMULATOR_HOST`` is set);
- signature (RS256 against Google's published certificates), expiry, audience and issuer
  are checked by firebase-admin; revocation and disabled users too when
  ``FIREBASE_CHECK_REVOKED`` is on (one call to the Identity Toolkit API per verification);
- only the sign-in providers in ``FIREBASE_ALLOWED_PROVIDERS`` (``google.com``) pass.

Bad, expired, foreign-project, revoked or disabled-user tokens raise
:class:`~authenticator.core.errors.InvalidIdToken` (HTTP 401, ``code: invalid_id_token``) with a
``reason`` in its payload; Firebase or Google's certificate endpoint unreachable raises
:class:`~authenticator.core.errors.IdentityProviderUnavailable` (HTTP 503).

``FIREBASE_CERTS_URL`` replaces the URL of Google's public certificates (an X.509 JSON map,
``{"kid": "-----BEGIN CERTIFICATE-----..."}``). firebase-admin has no public option for it,
so it is set on the verifier object firebase-admin builds (``_JWTVerifier.cert_url``, stable
since firebase-admin 2.x); if a firebase-admin upgrade renames it, verification refuses to
run (``ImproperlyConfigured``) rather than silently fetching from Google. It is meant for the
test suite (signature and expiry checks outside emulator mode, against certificates the test
signs) and for a deployment that mirrors Google's certificates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import firebase_admin
import google.auth.exceptions
import requests
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from firebase_admin import auth, credentials
from firebase_admin import exceptions as firebase_exceptions

from authenticator.core import jsonsafe
from authenticator.core.conf import app_settings
from authenticator.core.errors import IdentityProviderUnavailable, InvalidIdToken

logger = logging.getLogger(__name__)

EMULATOR_HOST_ENV = "FIREBASE_AUTH_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
# A Firebase ID token is ~1 KB; anything far larger is not one, and is not worth parsing.
MAX_ID_TOKEN_LENGTH = 8 * 1024


@dataclass(frozen=True)
class GoogleIdentity:
    """Who a verified Firebase ID token says the caller is."""

    uid: str  # the Firebase user id, stable within the project
    email: str | None
    email_verified: bool
    name: str | None
    provider: str  # firebase.sign_in_provider, e.g. "google.com"
    phone_number: str | None


class IdTokenVerifier(Protocol):
    def verify(self, id_token: str) -> GoogleIdentity:
        """Return the identity, or raise InvalidIdToken / IdentityProviderUnavailable."""
        ...


def google_sign_in_enabled() -> bool:
    """Google sign-in is off unless a Firebase project is configured."""
    return bool(app_settings.FIREBASE_PROJECT_ID)


def id_token_verifier() -> IdTokenVerifier:
    """The configured verifier (``FIREBASE_VERIFIER``); cheap, call it per request."""
    return import_string(app_settings.FIREBASE_VERIFIER)()


def emulator_host() -> str:
    return os.environ.get(EMULATOR_HOST_ENV, "").strip()


# --- the firebase_admin App, one per configuration per process -------------------------


@dataclass(frozen=True)
class _AppKey:
    project_id: str
    emulator_host: str  # firebase-admin's auth client binds the emulator URL when it is built
    credentials_path: str
    certs_url: str
    http_timeout: float


_clients: dict[_AppKey, auth.Client] = {}
_clients_lock = threading.Lock()


def _current_key() -> _AppKey:
    host = emulator_host()
    return _AppKey(
        project_id=str(app_settings.FIREBASE_PROJECT_ID or ""),
        emulator_host=host,
        # In emulator mode firebase-admin uses its own fake credential; a key file is ignored.
        credentials_path="" if host else os.environ.get(CREDENTIALS_ENV, "").strip(),
        certs_url=str(app_settings.FIREBASE_CERTS_URL or ""),
        http_timeout=float(app_settings.FIREBASE_HTTP_TIMEOUT),
    )


def _client_for(key: _AppKey) -> auth.Client:
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            return client
        name = "authenticator-" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        try:
            app = firebase_admin.get_app(name)
        except ValueError:
            app = firebase_admin.initialize_app(
                _credential(key), options={"projectId": key.project_id, "httpTimeout": key.http_timeout}, name=name,
            )
        client = auth.Client(app)
        if key.certs_url:
            _override_certs_url(client, key.certs_url)
        _clients[key] = client
        return client


def _credential(key: _AppKey) -> credentials.Base:
    if key.emulator_host:
        return _NoCredential()
    if not key.credentials_path:
        # Never fall back to Application Default Credentials: that probes the GCE metadata
        # server, which is not what an operator who forgot the variable wants.
        raise ImproperlyConfigured(
            f"Google sign-in needs a service account: set {CREDENTIALS_ENV} to its JSON key file "
            f"(or {EMULATOR_HOST_ENV} for the Firebase Auth Emulator)."
        )
    try:
        return credentials.Certificate(key.credentials_path)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"{CREDENTIALS_ENV} is not a readable service-account key: {exc}") from exc


class _NoCredential(credentials.Base):
    """Emulator mode: firebase-admin substitutes its own emulator credential; this is never used."""

    def get_credential(self) -> Any:
        raise ImproperlyConfigured("No Google credential is used in emulator mode.")


def _override_certs_url(client: auth.Client, url: str) -> None:
    verifier = getattr(getattr(client, "_token_verifier", None), "id_token_verifier", None)
    if verifier is None or not hasattr(verifier, "cert_url"):
        raise ImproperlyConfigured(
            "FIREBASE_CERTS_URL is set but this firebase-admin version has no ID-token cert_url to "
            "override; pin firebase-admin or unset FIREBASE_CERTS_URL."
        )
    verifier.cert_url = url


def reset_clients() -> None:
    """Forget the cached clients (tests that change configuration mid-process)."""
    with _clients_lock:
        _clients.clear()


# --- the verifier ----------------------------------------------------------------------


def _nested_too_deeply(id_token: str) -> bool:
    """firebase-admin json-decodes the header and claims before checking the signature:
    a token nested a thousand levels deep would reach it as a RecursionError."""
    for segment in id_token.split(".")[:2]:
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except (ValueError, binascii.Error):
            continue  # not base64: firebase-admin refuses it as invalid, as before
        if jsonsafe.depth_exceeds(raw):
            return True
    return False


class FirebaseVerifier:
    """Verifies Firebase ID tokens with firebase-admin (see the module docstring)."""

    def verify(self, id_token: str) -> GoogleIdentity:
        if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_ID_TOKEN_LENGTH:
            raise InvalidIdToken(extra={"reason": "malformed"})
        try:
            # A token that is not ASCII is not a JWT; firebase-admin would choke on it oddly.
            id_token.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidIdToken(extra={"reason": "malformed"}) from None
        if _nested_too_deeply(id_token):
            raise InvalidIdToken(extra={"reason": "malformed"})
        if not google_sign_in_enabled():
            raise IdentityProviderUnavailable("Google sign-in is not configured.")

        key = _current_key()
        try:
            client = _client_for(key)
        except ImproperlyConfigured:
            logger.exception("Google sign-in is misconfigured")
            raise IdentityProviderUnavailable() from None

        claims = self._verified_claims(client, id_token)
        return self._identity(claims)

    def _verified_claims(self, client: auth.Client, id_token: str) -> dict[str, Any]:
        try:
            return client.verify_id_token(
                id_token,
                check_revoked=bool(app_settings.FIREBASE_CHECK_REVOKED),
                clock_skew_seconds=int(app_settings.FIREBASE_CLOCK_SKEW),
            )
        # The subclasses first: they are all InvalidArgumentError / FirebaseError too.
        except auth.ExpiredIdTokenError:
            raise InvalidIdToken(extra={"reason": "expired"}) from None
        except auth.RevokedIdTokenError:
            raise InvalidIdToken(extra={"reason": "revoked"}) from None
        except auth.UserDisabledError:
            raise InvalidIdToken(extra={"reason": "disabled"}) from None
        except auth.UserNotFoundError:
            # Signed for a user the project no longer has (deleted since).
            raise InvalidIdToken(extra={"reason": "unknown_user"}) from None
        except (auth.InvalidIdTokenError, firebase_exceptions.InvalidArgumentError) as exc:
            logger.info("Rejected a Firebase ID token: %s", exc)
            raise InvalidIdToken(extra={"reason": "invalid"}) from None
        except auth.CertificateFetchError as exc:
            logger.warning("Google's token certificates could not be fetched: %s", exc)
            raise IdentityProviderUnavailable() from None
        except (
            firebase_exceptions.UnavailableError,
            firebase_exceptions.DeadlineExceededError,
            firebase_exceptions.InternalError,
            firebase_exceptions.UnknownError,
        ) as exc:
            logger.warning("Firebase is unavailable: %s", exc)
            raise IdentityProviderUnavailable() from None
        except firebase_exceptions.FirebaseError as exc:
            # Permission denied, unauthenticated, quota: our side's problem, not the caller's.
            logger.error("Firebase refused the revocation check: %s", exc)
            raise IdentityProviderUnavailable() from None
        except (requests.RequestException, google.auth.exceptions.TransportError, google.auth.exceptions.RefreshError) as exc:
            logger.warning("Firebase could not be reached: %s", exc)
            raise IdentityProviderUnavailable() from None
        except ValueError as exc:
            # firebase-admin's argument checks (e.g. a token that is not a JWT at all).
            logger.info("Rejected a Firebase ID token: %s", exc)
            raise InvalidIdToken(extra={"reason": "invalid"}) from None

    def _identity(self, claims: dict[str, Any]) -> GoogleIdentity:
        firebase_claims = claims.get("firebase")
        provider = firebase_claims.get("sign_in_provider") if isinstance(firebase_claims, dict) else None
        if not isinstance(provider, str) or provider not in set(app_settings.FIREBASE_ALLOWED_PROVIDERS):
            raise InvalidIdToken(extra={"reason": "provider_not_allowed"})
        uid = claims.get("uid")
        if not isinstance(uid, str) or not uid:  # firebase-admin guarantees this; keep the type honest
            raise InvalidIdToken(extra={"reason": "invalid"})
        return GoogleIdentity(
            uid=uid,
            email=_str_or_none(claims.get("email")),
            email_verified=claims.get("email_verified") is True,
            name=_str_or_none(claims.get("name")),
            provider=provider,
            phone_number=_str_or_none(claims.get("phone_number")),
        )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- start-up check --------------------------------------------------------------------


def check_firebase_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Google sign-in configured outside emulator mode needs a readable service-account key."""
    errors: list[checks.CheckMessage] = []
    if not google_sign_in_enabled():
        return errors
    try:
        verifier_cls = import_string(app_settings.FIREBASE_VERIFIER)
    except ImportError as exc:
        return [checks.Error(f"FIREBASE_VERIFIER cannot be imported: {exc}", id="authenticator.E301")]
    if verifier_cls is not FirebaseVerifier or emulator_host():
        return errors
    path = os.environ.get(CREDENTIALS_ENV, "").strip()
    if not path:
        errors.append(checks.Error(
            f"FIREBASE_PROJECT_ID is set but {CREDENTIALS_ENV} is not.",
            hint=f"Point {CREDENTIALS_ENV} at the project's service-account JSON key, or unset "
                 f"FIREBASE_PROJECT_ID to turn Google sign-in off.",
            id="authenticator.E302",
        ))
    else:
        try:
            credentials.Certificate(path)
        except (OSError, ValueError) as exc:
            errors.append(checks.Error(
                f"{CREDENTIALS_ENV} ({path}) is not a readable service-account key: {exc}",
                id="authenticator.E303",
            ))
    return errors
