"""Support sees why each session ended: on the user's page and in the login-state list."""

from __future__ import annotations

import pytest

from accounts.models import UserStatus
from sessions_log.models import EndedReason, LoginStatus
from tests.factories import LoginStateFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_reason_a_session_ended_shows_on_the_users_page_and_the_list(support):
    user = UserFactory(status=UserStatus.ACTIVE)
    LoginStateFactory(user=user, status=LoginStatus.REVOKED, ended_reason=EndedReason.REFRESH_REUSED)

    page = support.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    listing = support.get("/admin/sessions_log/loginstate/", {"ended_reason": EndedReason.REFRESH_REUSED}).content.decode()

    assert "Refresh token reused" in page
    assert "Refresh token reused" in listing
