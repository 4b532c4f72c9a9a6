"""GET /metrics: Prometheus text, and the numbers the flows, the API and the Tokenizer move."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from authenticator.core.background import wait_idle
from otp import channels
from tests.factories import UserFactory

from .conftest import authenticator_settings

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+447400123456"
ROOT = Path(__file__).resolve().parents[2]


SCRAPE_TOKEN = "scrape-me-9f1c"


@pytest.fixture(autouse=True)
def _metrics_token(settings):
    # /metrics is closed without a token when DEBUG is off, as in these tests.
    authenticator_settings(settings, METRICS_TOKEN=SCRAPE_TOKEN)


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def last_code(to: str) -> str:
    import re

    wait_idle()
    return re.search(r"\b(\d{6})\b", [m.message for m in channels.outbox if m.to == to][-1]).group(1)


def test_metrics_are_served_as_prometheus_text(client):
    client.get("/healthz")
    samples = scrape(client)
    assert value(samples, "authn_http_requests_total", method="GET", route="/healthz", status="200") >= 1
    assert ("authn_http_request_duration_seconds_count", frozenset({("method", "GET"), ("route", "/healthz")})) in samples


def test_requests_are_labelled_by_url_pattern_not_path(client):
    before = scrape(client)
    client.delete("/api/v1/me/sessions/123456789")  # unauthenticated: 401
    client.get("/no/such/page/+447400123456")
    after = scrape(client)
    pattern = "/api/v1/me/sessions/<str:session_id>"
    assert value(after, "authn_http_requests_total", method="DELETE", route=pattern, status="401") - value(
        before, "authn_http_requests_total", method="DELETE", route=pattern, status="401") == 1
    assert value(after, "authn_http_requests_total", method="GET", route="unmatched", status="404") - value(
        before, "authn_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert not any("447400123456" in str(labels) or "123456789" in str(labels) for _, labels in after)


def test_sign_up_and_sign_in_move_the_otp_sign_in_and_tokenizer_counters(client, api):
    before = scrape(client)
    assert api.post("/api/v1/auth/signup", {"phone_number": PHONE, "country_id": "GB", "name": "Ann"}, format="json").status_code == 202
    assert api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": "000000" if last_code(PHONE) != "000000" else "111111"}, format="json").status_code == 400
    assert api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": last_code(PHONE)}, format="json").status_code == 201
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("authn_otp_requests_total", channel="sms", purpose="signup") == 1
    assert delta("authn_otp_failed_total", channel="sms", purpose="signup", reason="invalid") == 1
    assert delta("authn_otp_verified_total", channel="sms", purpose="signup") == 1
    assert delta("authn_sign_ins_total", method="otp_sms") == 1
    assert delta("authn_tokenizer_request_duration_seconds_count", call="issue") == 1
    assert delta("authn_http_requests_total", method="POST", route="/api/v1/auth/signup/verify", status="201") == 1


def test_wrong_codes_count_as_failed_then_locked(client, api):
    UserFactory(phone_number=PHONE)
    before = scrape(client)
    assert api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json").status_code == 202
    code = last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    statuses = [api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": wrong}, format="json").status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("authn_otp_requests_total", channel="sms", purpose="signin") == 1
    assert delta("authn_otp_failed_total", channel="sms", purpose="signin", reason="invalid") == 5
    assert delta("authn_otp_locked_total", channel="sms", purpose="signin") == 1
    assert delta("authn_otp_verified_total", channel="sms", purpose="signin") == 0


def test_tokenizer_errors_are_counted_by_call(client, api, settings, refused_url):
    authenticator_settings(settings, TOKENIZER_URL=refused_url, TOKENIZER_API_KEY="k" * 40, TOKENIZER_RETRIES=0)
    before = scrape(client)
    response = api.post("/api/v1/auth/token/refresh", {"refresh_token": "r" * 43}, format="json")
    assert response.status_code == 503
    after = scrape(client)
    labels = {"call": "refresh", "error": "unavailable"}
    assert value(after, "authn_tokenizer_errors_total", **labels) - value(before, "authn_tokenizer_errors_total", **labels) == 1
    count = {"call": "refresh"}
    assert value(after, "authn_tokenizer_request_duration_seconds_count", **count) - value(
        before, "authn_tokenizer_request_duration_seconds_count", **count) == 1


def test_metrics_are_closed_in_production_without_a_token(client, settings):
    authenticator_settings(settings, METRICS_TOKEN="")
    settings.DEBUG = False
    closed = client.get("/metrics")
    assert closed.status_code == 404 and b"authn_" not in closed.content
    settings.DEBUG = True  # a developer's machine
    assert client.get("/metrics").status_code == 200


STATES = ["unknown", "active", "blocked", "suspended", "pending", "deleted"]


def _user_in(state: str, phone: str, email: str) -> None:
    from django.utils import timezone

    if state != "unknown":
        UserFactory(phone_number=phone, email=email, status={"pending": "unverified"}.get(state, state),
                    email_verified_at=None if state == "pending" else timezone.now())


def test_no_metric_tells_a_known_identifier_from_an_unknown_one(client, api):
    """Sign-up, a sign-in code request and a wrong code, by phone and by email, for each
    kind of account: every sample of /metrics moves the same for all of them."""
    from django.core.cache import cache

    moved = {}
    for i, state in enumerate(STATES):
        phone, email = f"+44740012346{i}", f"{state}@example.com"
        _user_in(state, phone, email)
        cache.clear()  # each row its own per-IP budget
        before = scrape(client)
        api.post("/api/v1/auth/signup", {"phone_number": phone, "country_id": "GB", "name": "X"}, format="json")
        for ident in ({"phone_number": phone}, {"email": email}):
            api.post("/api/v1/auth/otp", ident, format="json")
            wait_idle()
            api.post("/api/v1/auth/otp/verify", {**ident, "otp": "000000"}, format="json")
        api.post("/api/v1/auth/signup/verify", {"phone_number": phone, "otp": "000000"}, format="json")
        wait_idle()
        after = scrape(client)
        moved[state] = {key: after[key] - before.get(key, 0.0) for key in after
                        # durations are the timing proofs' business; _created is when a label set first appeared
                        if key[0].startswith("authn_") and not key[0].startswith("authn_http_request_duration")
                        and not key[0].endswith("_created") and after[key] != before.get(key, 0.0)}
    differ = {state: set(moved[state].items()) ^ set(moved["unknown"].items()) for state in STATES}
    assert not any(differ.values()), differ
    assert moved["unknown"][("authn_otp_failed_total", frozenset({("channel", "email"), ("purpose", "signin"),
                                                                  ("reason", "invalid")}))] == 1


def test_metrics_need_the_bearer_token_when_one_is_configured(client, settings):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-9f1c")
    assert response.status_code == 200
    assert b"authn_http_requests_total" in response.content


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two worker processes count; a third (any worker answering /metrics) sees both."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    bump = "from authenticator.core import metrics; metrics.sign_in(method='google')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", bump], cwd=ROOT, env=env, check=True, timeout=60)
    read = (
        "from prometheus_client import generate_latest; from authenticator.core import metrics;"
        "print(generate_latest(metrics.registry()).decode())"
    )
    done = subprocess.run([sys.executable, "-c", read], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True)
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
    }
    assert samples[("authn_sign_ins_total", frozenset({("method", "google")}))] == 2
