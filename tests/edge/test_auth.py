"""Bearer tokens → the caller, for every transport (authenticator.edge.auth)."""

from __future__ import annotations

import pytest

from accounts.models import User, UserStatus
from authenticator.core.errors import InvalidToken
from authenticator.edge.auth import MAX_TOKEN_LENGTH, bearer_caller
from authenticator.flows.common import Requester, sign_in_complete
from authenticator.flows.tokens import sign_out
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in():
    return sign_in_complete(user=UserFactory(), requester=Requester(platform="ios", ip="81.2.69.160"), method="otp_sms")


def test_a_live_access_token_names_its_user_and_session():
    result = signed_in()
    for header in (f"Bearer {result.tokens.access_token}", f"bearer {result.tokens.access_token}".encode()):
        caller = bearer_caller(authorization=header)
        assert caller.user == result.user
        assert caller.session_id == str(result.session.pk)


@pytest.mark.parametrize("header", [None, "", b"", "Basic dXNlcjpwYXNz", "Token abc"])
def test_no_bearer_credentials_is_no_caller(header):
    assert bearer_caller(authorization=header) is None


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer " + "a" * (MAX_TOKEN_LENGTH + 1),
                                    "Bearer not-a-token", b"Bearer \xff\xfe", "Bearer \u20ac"])
def test_a_malformed_or_unknown_token_is_invalid(header):
    with pytest.raises(InvalidToken):
        bearer_caller(authorization=header)


def test_a_token_of_an_ended_session_or_an_inactive_user_is_invalid():
    result = signed_in()
    header = f"Bearer {result.tokens.access_token}"
    User.objects.filter(pk=result.user.pk).update(status=UserStatus.BLOCKED)
    with pytest.raises(InvalidToken):
        bearer_caller(authorization=header)
    other = signed_in()
    sign_out(user=other.user, session_id=str(other.session.pk))
    with pytest.raises(InvalidToken):
        bearer_caller(authorization=f"Bearer {other.tokens.access_token}")
