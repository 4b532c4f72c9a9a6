"""The admin's user search: whatever staff type, the answer is a page, never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Characters Python calls digits that int() refuses (superscripts, circled numbers), other
# scripts' digits that int() reads, and the spellings of numbers staff really type.
TRICKY = ["²", "¹²³", "⑦", "12²", "+44 ²", "٣", "৩৪৫", "𝟙𝟚", "0x1F", "9" * 40, "9" * 19, "\u0000", "%", "+", "  "]


@pytest.fixture
def people(db):
    UserFactory(phone_number="+447400123456", name="Ann", email="ann@example.com")


@pytest.mark.parametrize("term", TRICKY)
def test_search_for_odd_digits_answers_a_page(admin_client_, people, term):
    response = admin_client_.get("/admin/accounts/user/", {"q": term})
    assert response.status_code == 200, (term, response.status_code)


def test_search_by_a_digit_string_still_finds_by_id(admin_client_, people):
    from accounts.models import User

    ann = User.objects.get(phone_number="+447400123456")
    response = admin_client_.get("/admin/accounts/user/", {"q": str(ann.pk)})
    assert response.status_code == 200
    assert ann.phone_number in response.content.decode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(term=st.text(max_size=40))
def test_search_fuzz_never_500(admin_client_, people, term):
    response = admin_client_.get("/admin/accounts/user/", {"q": term})
    assert response.status_code == 200, (term, response.status_code)
