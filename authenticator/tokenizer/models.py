"""Tables of the in-process Tokenizer (authenticator.tokenizer.local.LocalTokenizer).

Only the embedded default uses them; with ``TOKENIZER_URL`` set they stay empty. No
token is stored as itself: refresh tokens by their SHA-256, access tokens (signed JWTs)
not at all — only the ``jti`` of a revoked one, until its ``exp``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from authenticator.core.db import KeyField


class TokenizerSession(models.Model):
    """One signed-in session: the grant every token pair of it hangs from.

    ``id`` is the caller's session id (the login state id), so the Authenticator and the
    Tokenizer name a session the same way and ``issue`` needs no extra lookup.
    """

    id = KeyField(primary_key=True, max_length=64)
    subject = models.CharField(max_length=64)
    amr = models.JSONField(default=list)
    level = models.IntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tokenizer_sessions"
        indexes = [
            # revoke_sessions: a subject's live sessions.
            models.Index(fields=["subject"], condition=Q(revoked_at__isnull=True), name="tokenizer_sess_live_subj_idx"),
            # purge: revoked sessions past the refresh lifetime.
            models.Index(fields=["revoked_at"], condition=Q(revoked_at__isnull=False), name="tokenizer_sess_revoked_idx"),
        ]

    def __str__(self) -> str:
        return f"session {self.id} of {self.subject}{' (revoked)' if self.revoked_at else ''}"


class TokenizerRefreshToken(models.Model):
    """A refresh token, by its SHA-256 (hex). ``used_at`` is set when it is rotated."""

    token_hash = KeyField(primary_key=True, max_length=64)
    # The FK index serves "every refresh token of a session" (idempotent re-issue).
    session = models.ForeignKey(TokenizerSession, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tokenizer_refresh_tokens"
        indexes = [models.Index(fields=["expires_at"], name="tokenizer_refresh_exp_idx")]

    def __str__(self) -> str:
        return f"refresh token {self.token_hash[:8]}… of session {self.session_id}"


class TokenizerRevokedAccessToken(models.Model):
    """A revoked access token's ``jti``, kept until the token would have expired anyway."""

    jti = KeyField(primary_key=True, max_length=64)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "tokenizer_revoked_access_tokens"
        indexes = [models.Index(fields=["expires_at"], name="tokenizer_revoked_exp_idx")]

    def __str__(self) -> str:
        return f"revoked access token {self.jti}"
