from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from authenticator.core.background import wait_idle


@pytest.fixture
def api() -> APIClient:
    return APIClient(REMOTE_ADDR="81.2.69.160", HTTP_USER_AGENT="pytest-client/1.0")


def last_code_to(to: str) -> str:
    """The code in the latest SMS (or email) sent to ``to``; fails if none was sent."""
    from django.core import mail

    from otp import channels

    wait_idle()
    texts = [m.message for m in channels.outbox if m.to == to] + [m.body for m in mail.outbox if to in m.to]
    assert texts, f"nothing was sent to {to}"
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, f"no code in {texts[-1]!r}"
    return match.group(1)


def sent_to(to: str) -> list[str]:
    from django.core import mail

    from otp import channels

    wait_idle()
    return [m.message for m in channels.outbox if m.to == to] + [m.body for m in mail.outbox if to in m.to]


def sign_up(api: APIClient, phone: str = "+447400123456", country: str = "GB", **extra) -> dict:
    response = api.post("/api/v1/auth/signup", {"phone_number": phone, "country_id": country, "name": "Ann", **extra}, format="json")
    assert response.status_code == 202, response.content
    response = api.post("/api/v1/auth/signup/verify", {"phone_number": phone, "otp": last_code_to(phone), "device": "ios 18"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()
