"""Sign in with Google over gRPC, against the real Firebase Auth Emulator."""

from __future__ import annotations

import uuid

import grpc
import pytest
from django.utils import timezone

from accounts.models import SocialIdentity, User
from authenticator import firebase
from authenticator.grpc.v1 import authenticator_pb2 as pb
from sessions_log.models import LoginState
from tests.factories import UserFactory
from tests.firebase import helpers
from tests.firebase.emulator import PROJECT_ID

from .conftest import bearer, failure, last_code_to

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"


@pytest.fixture
def google(firebase_emulator, settings, monkeypatch) -> str:
    monkeypatch.setenv(firebase.EMULATOR_HOST_ENV, firebase_emulator)
    monkeypatch.delenv(firebase.CREDENTIALS_ENV, raising=False)
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": PROJECT_ID, "FIREBASE_CHECK_REVOKED": True}
    firebase.reset_clients()
    yield firebase_emulator
    firebase.reset_clients()


def unique_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"  # the emulator keeps accounts all run


def test_new_person_verifies_a_phone_with_the_continuation_then_signs_in_with_google(stub, google):
    email, sub = unique_email("ada"), f"google-{uuid.uuid4().hex}"
    id_token, uid = helpers.mint_google_id_token(google, sub=sub, email=email, name="Ada")
    first = stub.SignInWithGoogle(pb.SignInWithGoogleRequest(id_token=id_token, device="android"))
    assert first.WhichOneof("result") == "phone_verification_required"
    pending = first.phone_verification_required
    assert (pending.status, pending.email, pending.name) == ("phone_verification_required", email, "Ada")

    stub.SignUp(pb.SignUpRequest(phone_number=PHONE, country_id="GB", name="Ada", google_continuation=pending.continuation))
    stub.VerifySignUp(pb.VerifySignUpRequest(phone_number=PHONE, otp=last_code_to(PHONE), google_continuation=pending.continuation))
    user = User.objects.get(phone_number=PHONE)
    assert (user.type, user.status, user.email) == ("google", "active", email)
    assert SocialIdentity.objects.get(user=user).uid == uid

    again = stub.SignInWithGoogle(pb.SignInWithGoogleRequest(
        id_token=helpers.mint_google_id_token(google, sub=sub, email=email)[0], device="android"))
    assert again.WhichOneof("result") == "signed_in"
    assert again.signed_in.user.id == str(user.pk)
    assert LoginState.objects.get(pk=int(again.signed_in.session.id)).method == "google"

    token = bearer(again.signed_in.tokens.access_token)
    identities = stub.ListIdentities(pb.ListIdentitiesRequest(), metadata=token).identities
    assert [(i.provider, i.email) for i in identities] == [("google.com", email)]
    stub.RemoveIdentity(pb.RemoveIdentityRequest(identity_id=identities[0].id), metadata=token)
    assert not SocialIdentity.objects.filter(user=user).exists()


def test_existing_account_links_google_by_proving_its_phone_over_verify_otp(stub, google):
    user = UserFactory(phone_number=PHONE, email=None)
    id_token, uid = helpers.mint_google_id_token(google, email=unique_email("other"))
    continuation = stub.SignInWithGoogle(pb.SignInWithGoogleRequest(id_token=id_token)).phone_verification_required.continuation
    stub.RequestOtp(pb.RequestOtpRequest(phone_number=PHONE))
    stub.VerifyOtp(pb.VerifyOtpRequest(phone_number=PHONE, otp=last_code_to(PHONE), google_continuation=continuation))
    assert SocialIdentity.objects.get(uid=uid).user == user


def test_google_errors_carry_their_codes(stub, google, settings):
    failed = failure(stub.SignInWithGoogle, pb.SignInWithGoogleRequest(id_token="not-a-jwt"))
    assert (failed.status, failed.code) == (grpc.StatusCode.UNAUTHENTICATED, "invalid_id_token")

    id_token, uid = helpers.mint_google_id_token(google)
    linked = UserFactory(email_verified_at=timezone.now())
    SocialIdentity.objects.create(user=linked, provider="google.com", uid=uid)
    from authenticator.flows.account_status import account_set_status

    account_set_status(user=linked, status="blocked", reason="test")
    failed = failure(stub.SignInWithGoogle, pb.SignInWithGoogleRequest(id_token=id_token))
    assert (failed.status, failed.code) == (grpc.StatusCode.PERMISSION_DENIED, "account_blocked")

    failed = failure(stub.SignUp, pb.SignUpRequest(phone_number=PHONE, country_id="GB", name="X", google_continuation="tampered"))
    assert (failed.status, failed.code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_continuation")

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "FIREBASE_PROJECT_ID": ""}
    failed = failure(stub.SignInWithGoogle, pb.SignInWithGoogleRequest(id_token="whatever"))
    assert (failed.status, failed.code) == (grpc.StatusCode.NOT_FOUND, "google_sign_in_disabled")
    assert not LoginState.objects.exists() and not User.objects.filter(phone_number=PHONE).exists()
