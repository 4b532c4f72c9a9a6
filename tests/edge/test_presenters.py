"""The presenters give exactly what the REST schema describes (authenticator.api.schema):
the same fields, and the values DRF's serializers of that schema render."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from accounts.models import SocialIdentity
from authenticator.api import schema
from authenticator.edge import presenters
from authenticator.flows.common import Requester, sign_in_complete
from tests.factories import LoginStateFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_sign_in_answer_is_the_schemas_user_session_and_tokens():
    user = UserFactory(salutation="Dr", email="ann@example.com")
    result = sign_in_complete(user=user, requester=Requester(platform="ios 18", ip="81.2.69.160", user_agent="a/1"),
                              method="otp_sms")
    answer = presenters.signed_in(result)
    assert answer["user"] == dict(schema.UserOut(result.user).data)
    assert answer["session"] == dict(schema.SessionOut(result.session, context={"current_session_id": result.session.pk}).data)
    assert answer["session"]["current"] is True
    assert answer["tokens"] == dict(schema.TokensOut(result.tokens).data)
    assert set(answer) == set(schema.SignedInOut().fields)


def test_empty_values_are_null_as_in_the_schema():
    user = UserFactory(salutation=None, email=None, email_verified_at=None)
    ended = LoginStateFactory(user=user, logged_in_ip=None, logged_out_at=timezone.now(), status="logged_out")
    assert presenters.user(user) == dict(schema.UserOut(user).data)
    assert presenters.user(user)["email_verified"] is False
    assert presenters.session(ended, "another") == dict(schema.SessionOut(ended, context={"current_session_id": "another"}).data)
    assert set(presenters.profile(user, "new@example.com")) == set(schema.ProfileOut().fields)
    link = SocialIdentity.objects.create(user=user, provider="google.com", uid="g-1", email=None)
    assert presenters.identities([link]) == [dict(item) for item in schema.IdentityOut([link], many=True).data]


def test_times_are_iso_8601_with_z_for_utc_in_any_current_zone():
    moment = datetime.datetime(2026, 12, 1, 12, 30, 5, 123456, tzinfo=datetime.timezone.utc)
    assert presenters.time(moment) == "2026-12-01T12:30:05.123456Z"
    with timezone.override("Europe/Berlin"):
        assert presenters.time(moment) == "2026-12-01T13:30:05.123456+01:00"
    assert presenters.time(None) is None
