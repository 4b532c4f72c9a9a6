"""Sign in with Google (a Firebase ID token), with safe account linking.

- A known identity (provider, uid) signs its user in.
- An unknown one is linked to an existing account only when Google says the email is
  verified *and* it equals that account's verified email.
- Otherwise the person must prove a phone number: the answer is a short-lived signed
  continuation. Presenting it to sign-up verify (a new person; ``type`` is ``google``)
  or to sign-in verify (an existing account proving its phone) links the identity in
  the same transaction that signs in — only someone holding both the Google account and
  the phone can link them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import SocialIdentity, User
from accounts.selectors import user_get_by_email
from accounts.services import user_set_email
from authenticator.core.errors import Conflict, EmailTaken, InvalidInput, NotFound
from sessions_log.services import Requester

from ..firebase import GoogleIdentity, google_sign_in_enabled, id_token_verifier
from .common import SignedIn, sign_in_complete, user_assert_can_sign_in

CONTINUATION_SALT = "authenticator.google.continuation"
CONTINUATION_TTL = 15 * 60


class GoogleSignInDisabled(NotFound):
    code, detail = "google_sign_in_disabled", "Google sign-in is not configured."


class InvalidContinuation(InvalidInput):
    code, detail = "invalid_continuation", "The Google continuation is invalid or expired; sign in with Google again."


class LastSignInMethod(Conflict):
    code, detail, grpc_status = "last_sign_in_method", "This is the account's only way to sign in.", "FAILED_PRECONDITION"


@dataclass(frozen=True)
class PhoneVerificationRequired:
    continuation: str
    expires_in: int
    email: str | None
    name: str | None


def google_sign_in(*, id_token: str, requester: Requester) -> SignedIn | PhoneVerificationRequired:
    if not google_sign_in_enabled():
        raise GoogleSignInDisabled()
    identity = id_token_verifier().verify(id_token)
    link = SocialIdentity.objects.select_related("user").filter(provider=identity.provider, uid=identity.uid).first()
    if link is not None:
        user = link.user
        user_assert_can_sign_in(user=user)
        return sign_in_complete(user=user, requester=requester, method="google",
                                before=lambda _checked: _touch(link_id=link.pk))
    user = _user_with_verified_email(identity)
    if user is not None:
        user_assert_can_sign_in(user=user)
        return sign_in_complete(user=user, requester=requester, method="google",
                                before=lambda _checked: identity_link(user=user, identity=identity))
    return PhoneVerificationRequired(
        continuation=signing.dumps(_claims(identity), salt=CONTINUATION_SALT, compress=True),
        expires_in=CONTINUATION_TTL, email=identity.email if identity.email_verified else None, name=identity.name,
    )


def _user_with_verified_email(identity: GoogleIdentity) -> User | None:
    if not identity.email or not identity.email_verified:
        return None
    return user_get_by_email(email=identity.email)  # verified emails only: a claim links nothing


def _claims(identity: GoogleIdentity) -> dict:
    return {"uid": identity.uid, "provider": identity.provider, "email": identity.email,
            "email_verified": identity.email_verified, "name": identity.name}


def _touch(*, link_id: int) -> None:
    SocialIdentity.objects.filter(pk=link_id).update(last_used_at=timezone.now())


def continuation_read(token: str) -> GoogleIdentity:
    try:
        claims = signing.loads(token, salt=CONTINUATION_SALT, max_age=CONTINUATION_TTL)
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidContinuation(extra={"errors": {"google_continuation": [
            {"code": "invalid_continuation", "message": InvalidContinuation.detail}]}}) from None
    return GoogleIdentity(uid=claims["uid"], provider=claims["provider"], email=claims.get("email"),
                          email_verified=bool(claims.get("email_verified")), name=claims.get("name"), phone_number=None)


def identity_link(*, user: User, identity: GoogleIdentity) -> SocialIdentity:
    """Link ``identity`` to ``user``; a Google-verified email that is the user's counts as verified."""
    try:
        with transaction.atomic():
            link = SocialIdentity.objects.create(user=user, provider=identity.provider, uid=identity.uid,
                                                 email=identity.email, last_used_at=timezone.now())
    except IntegrityError:
        raise Conflict("This Google account is already linked to another account.") from None
    if identity.email_verified and identity.email and user.email and identity.email.lower() == user.email.lower() \
            and user.email_verified_at is None:
        try:
            user_set_email(user=user, email=user.email)
        except EmailTaken:
            user.email_verified_at = None  # another account verified it first: it stays this one's claim
    return link


def identities_list(*, user: User) -> list[SocialIdentity]:
    return list(SocialIdentity.objects.filter(user=user).order_by("created_at"))


def identity_remove(*, user: User, identity_id: str) -> None:
    try:
        pk = int(identity_id)
    except (TypeError, ValueError):
        raise NotFound("No such linked identity.") from None
    with transaction.atomic():
        link = SocialIdentity.objects.select_for_update().filter(pk=pk, user=user).first()
        if link is None:
            raise NotFound("No such linked identity.")
        others = SocialIdentity.objects.filter(user=user).exclude(pk=pk).exists()
        if not others and user.phone_verified_at is None:
            raise LastSignInMethod()
        link.delete()
