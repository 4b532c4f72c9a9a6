"""The admin's SMS page: spend per country (an inline SVG chart and a table) and the trips."""

from __future__ import annotations

import pytest
from django.test import Client

from authenticator.core.budgets import sms_budget_take
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/admin/authenticator/smsbudgettrip/"


def test_the_page_charts_spend_per_country_and_lists_what_tripped(admin_client_, settings):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "SMS_BUDGET_COUNTRY_OVERRIDES": "NG:2", "SMS_PREFIX_MAX_NUMBERS": 0}
    for n in range(3):
        sms_budget_take(phone=f"+44740012{n:04d}", country="GB", ip="203.0.113.1")
    for n in range(3):  # the third is refused: NG's budget trips
        sms_budget_take(phone=f"+23480312{n:05d}", country="NG", ip="203.0.113.1")
    response = admin_client_.get(PAGE)
    assert response.status_code == 200
    section = response.content.decode().split('<div class="module" id="sms-spend">', 1)[1].split("<h2>Budgets that tripped", 1)[0]
    chart = section.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "<rect" in chart and "GB" in chart and "NG" in chart
    # Drawn on the server: no script, nothing loaded from elsewhere.
    assert "<script" not in section and "http" not in chart.replace('xmlns="http://www.w3.org/2000/svg"', "")
    rows = {row["country"]: row for row in response.context["spend_rows"]}
    assert (rows["GB"]["this_hour"], rows["GB"]["budget"]) == (3, 500)
    assert (rows["NG"]["this_hour"], rows["NG"]["budget"], rows["NG"]["tripped"]) == (2, 2, True)
    trips = list(response.context["cl"].result_list)
    assert [(t.budget, t.scope, t.limit) for t in trips] == [("country", "NG", 2)]


def test_only_staff_with_the_permission_see_it(support):
    assert support.get(PAGE).status_code == 403  # support staff: not granted (see docs/support/admin.md)
    outsider = Client()
    outsider.force_login(UserFactory(phone_number="+447400900777"))
    assert outsider.get(PAGE).status_code == 302  # to the admin's sign-in
