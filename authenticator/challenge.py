"""The challenge hook: a human or app check a client solves before a code is texted.

Pluggable by ``AUTHENTICATOR["CHALLENGE_VERIFIER"]`` (a dotted path; empty = no
challenge). A verifier is any class with ``verify(token, *, ip, action) -> bool``: True
for a token that proves the check passed, False for any other (missing, expired,
forged, used), and ``ChallengeUnavailable`` when it can't tell — the flows then refuse
the request that needed it (fail closed: an attacker who can knock the verifier over
must not get the SMS the challenge guards).

``TurnstileVerifier`` speaks Cloudflare Turnstile's ``siteverify``: a form POST of
``secret``, ``response`` (the token) and ``remoteip`` to ``TURNSTILE_VERIFY_URL``,
answered ``{"success": bool, "error-codes": [...], "action": ..., ...}``. hCaptcha's and
reCAPTCHA's ``siteverify`` take the same form and answer the same shape: point the URL
and secret at them. reCAPTCHA v3 (and hCaptcha Enterprise) add a ``score``, which must
reach ``CHALLENGE_MIN_SCORE``.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Protocol

import certifi
import urllib3
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from authenticator.core.conf import app_settings
from authenticator.core.errors import ChallengeUnavailable

log = logging.getLogger(__name__)

MAX_TOKEN = 2048  # Turnstile's tokens are at most 2048 characters
MAX_ANSWER = 64 * 1024


class ChallengeVerifier(Protocol):
    def verify(self, token: str, *, ip: str | None, action: str) -> bool: ...


class TurnstileVerifier:
    """Cloudflare Turnstile's ``siteverify`` (hCaptcha and reCAPTCHA share its shape)."""

    def __init__(self) -> None:
        if not app_settings.TURNSTILE_SECRET:
            raise ImproperlyConfigured("TurnstileVerifier needs AUTHENTICATOR['TURNSTILE_SECRET'].")
        self._pool = urllib3.PoolManager(ca_certs=certifi.where(), maxsize=8, block=False)

    def verify(self, token: str, *, ip: str | None, action: str) -> bool:
        if not token or len(token) > MAX_TOKEN:
            return False
        form = {"secret": str(app_settings.TURNSTILE_SECRET), "response": token}
        if ip:
            form["remoteip"] = ip
        timeout = float(app_settings.CHALLENGE_TIMEOUT)
        try:
            response = self._pool.request(
                "POST", str(app_settings.TURNSTILE_VERIFY_URL), fields=form, encode_multipart=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False, redirect=False,
                preload_content=False,
            )
            try:
                body = response.read(MAX_ANSWER + 1)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            log.warning("challenge verifier unreachable: %s", type(exc).__name__)
            raise ChallengeUnavailable() from exc
        if response.status != 200 or len(body) > MAX_ANSWER:
            log.warning("challenge verifier answered HTTP %s", response.status)
            raise ChallengeUnavailable()
        try:
            answer = json.loads(body)
        except ValueError as exc:
            log.warning("challenge verifier answered no JSON")
            raise ChallengeUnavailable() from exc
        if not isinstance(answer, dict):
            raise ChallengeUnavailable()
        errors = answer.get("error-codes") or []
        if "internal-error" in errors:  # siteverify's own failure: it could not tell
            log.warning("challenge verifier reported internal-error")
            raise ChallengeUnavailable()
        if answer.get("success") is not True:
            if any(code in errors for code in ("missing-input-secret", "invalid-input-secret")):
                log.error("challenge verifier refused our secret: check TURNSTILE_SECRET")
            return False
        # reCAPTCHA v3 answers success for bots too: its verdict is the score (0.0 a bot,
        # 1.0 a person). Below CHALLENGE_MIN_SCORE, or a score that is not a number, fails.
        if "score" in answer:
            score = answer["score"]
            if isinstance(score, bool) or not isinstance(score, (int, float)) or score < float(app_settings.CHALLENGE_MIN_SCORE):
                return False
        # A widget rendered with an action must have been solved for this one: a token
        # solved on the sign-in page does not sign up. One rendered without an action says nothing.
        solved_for = answer.get("action")
        return not solved_for or solved_for == action


@functools.cache
def _verifier(path: str) -> ChallengeVerifier:
    return import_string(path)()


def challenge_verifier() -> ChallengeVerifier | None:
    """The configured verifier, or None when no challenge is configured."""
    path = app_settings.CHALLENGE_VERIFIER
    return _verifier(path) if path else None
