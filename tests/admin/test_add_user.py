from __future__ import annotations

import pytest

from accounts.models import StatusHistory, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_adding_a_user_in_the_admin_normalises_the_phone_and_writes_the_first_history_row(client):
    boss = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(boss)
    response = client.post("/admin/accounts/user/add/", {
        "phone_number": "07400 555666", "country_id": "GB", "name": "New Staff",
        "password1": "a-long-passphrase-for-staff", "password2": "a-long-passphrase-for-staff",
    })
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(phone_number="+447400555666")
    (row,) = StatusHistory.objects.filter(user=user)
    assert (row.previous_status, row.status, row.actor_id, row.actor_label) == (None, "unverified", boss.pk, "admin")
