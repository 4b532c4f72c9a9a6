"""The Tokenizer refusing, hanging, failing or talking nonsense: a 503 in bounded time,
and never a login state without tokens."""

from __future__ import annotations

import time

import pytest

from scripts.prove.fakes import FakeTokenizer, refused_url
from sessions_log.models import LoginState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"
CONNECT, READ, RETRIES = 0.5, 1.0, 1
# Every attempt may take connect + read; between attempts the backoff waits at most
# BACKOFF_BASE * 2**(n-1) (0.1 s here); plus slack for a loaded machine.
BOUND = (1 + RETRIES) * (CONNECT + READ) + 0.1 + 1.0


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient(REMOTE_ADDR="81.2.69.160", HTTP_USER_AGENT="prove-client/1.0")


@pytest.fixture
def fake_tokenizer():
    fake = FakeTokenizer().start()
    yield fake
    fake.mode = "ok"
    fake.stop()


@pytest.mark.parametrize("mode", ["refused", "hang", "500", "junk", "bad_shape"])
def test_tokenizer_fault_gives_503_within_the_timeouts_and_no_login_state(api, settings, fake_tokenizer, mode):
    from authenticator.tokenizer import reset_tokenizer
    from tests.api.conftest import last_code_to

    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TOKENIZER_API_KEY": "k", "TOKENIZER_RETRIES": RETRIES,
                              "TOKENIZER_CONNECT_TIMEOUT": CONNECT, "TOKENIZER_READ_TIMEOUT": READ,
                              "TOKENIZER_URL": refused_url() if mode == "refused" else fake_tokenizer.url}
    reset_tokenizer()
    fake_tokenizer.mode = mode
    UserFactory(phone_number=PHONE)
    assert api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json").status_code == 202
    started = time.monotonic()
    response = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    elapsed = time.monotonic() - started
    print(f"\ntokenizer {mode}: {response.status_code} in {elapsed:.2f}s (bound {BOUND:.1f}s)")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "tokenizer_unavailable"
    assert int(response["Retry-After"]) > 0
    assert elapsed <= BOUND
    assert LoginState.objects.count() == 0
    # The code was not burnt: once the Tokenizer is back, the same code signs in.
    fake_tokenizer.mode = "ok"
    if mode == "refused":
        settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TOKENIZER_URL": fake_tokenizer.url}
        reset_tokenizer()
    again = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": last_code_to(PHONE)}, format="json")
    assert again.status_code == 200, again.content
    assert LoginState.objects.filter(status="active").count() == 1
