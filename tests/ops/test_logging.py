"""Structured JSON logs with a request id, and nothing secret or personal in them."""

from __future__ import annotations

import logging
import re

import pytest

from authenticator.core.background import wait_idle
from authenticator.core.logging import redact
from otp import channels

from .conftest import TOKENIZER_API_KEY

PHONE = "+447400123456"


# -- the line -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_request_writes_one_json_access_line_with_its_request_id(client, json_log):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-42.abc")
    assert response["X-Request-ID"] == "req-42.abc"
    [line] = [e for e in json_log.lines() if e["logger"] == "authenticator.access"]
    assert line["request_id"] == "req-42.abc"
    assert (line["level"], line["method"], line["path"], line["route"], line["status"]) == ("INFO", "GET", "/healthz", "/healthz", 200)
    assert line["message"] == "GET /healthz 200"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["", "has spaces", "x" * 200, "new\nline", "<script>"])
def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one(client, json_log, given):
    headers = {"HTTP_X_REQUEST_ID": given} if given else {}
    response = client.get("/healthz", **headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    [line] = [e for e in json_log.lines() if e["logger"] == "authenticator.access"]
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_lines_logged_while_a_request_runs_carry_its_request_id(client, json_log, settings, refused_url):
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "TOKENIZER_URL": refused_url, "TOKENIZER_API_KEY": "k" * 40, "TOKENIZER_RETRIES": 0}
    response = client.get("/readyz", HTTP_X_REQUEST_ID="probe-7")
    assert response.status_code == 503
    lines = json_log.lines()
    inner = [e for e in lines if e["logger"] == "authenticator.ops"]
    assert inner and all(e["request_id"] == "probe-7" for e in inner)
    assert [e["status"] for e in lines if e["logger"] == "authenticator.access"] == [503]
    # Outside a request there is no id.
    logging.getLogger("authenticator.test").warning("after the request")
    assert json_log.lines()[-1]["request_id"] == "-"


def test_an_exception_is_one_line_with_its_traceback_redacted(json_log):
    try:
        raise ValueError(f"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl for {PHONE}")
    except ValueError:
        logging.getLogger("authenticator.test").exception("failed for %s", PHONE)
    [line] = json_log.lines()
    assert line["message"] == "failed for +*********456"
    assert "Traceback" in line["exc"] and "ValueError: token [jwt] for +*********456" in line["exc"]
    assert PHONE not in json_log.text and "eyJzdWIiOiIxIn0" not in json_log.text


# -- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to +447400123456 now", "to +*********456 now"),
        ("to +44 7400 123456", "to +*********456"),
        ("to +1 (415) 555-0132", "to +********132"),
        ("local 07400 123456", "local ********456"),
        ("digits 447400123456", "digits *********456"),
        ("mail Ann.Lee+x@Example.co.uk", "mail A***@Example.co.uk"),
        ("code 123456 sent", "code ****** sent"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        ("header bearer s3cr3t-t0ken", "header bearer [redacted]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", "jwt [jwt] end"),
        ("refresh Qm9vZ3l3b29neS1yZWZyZXNoLXRva2VuLTEyMzQ1Njc4OQ", "refresh [secret]"),
        ('{"otp": "654321", "api_key": "k-1"}', '{"otp": "[redacted]", "api_key": "[redacted]"}'),
        ("password=hunter2&x=1", "password=[redacted]&x=1"),
        # What must stay readable: ids, times, counts, addresses, table names.
        ("user 100564821174440795 at 2026-11-25 18:21:08", "user 100564821174440795 at 2026-11-25 18:21:08"),
        ("took 12.5 ms, 3 rows, 81.2.69.160:8000", "took 12.5 ms, 3 rows, 81.2.69.160:8000"),
        ("FROM authenticator_tokenizerrefreshtoken_table_x", "FROM authenticator_tokenizerrefreshtoken_table_x"),
    ],
)
def test_redact_masks_secrets_and_personal_data(text, expected):
    assert redact(text) == expected


def test_the_filter_masks_arguments_not_only_the_format(json_log):
    logging.getLogger("otp.test").info("sent %s to %s (%s)", "123456", PHONE, {"email": "ann@example.com"})
    [line] = json_log.lines()
    assert line["message"] == "sent ****** to +*********456 ({'email': 'a***@example.com'})"


# -- the whole service at DEBUG: no code, token, key or phone number in any line ----------------


@pytest.mark.django_db(transaction=True)
def test_no_otp_token_api_key_or_phone_number_reaches_a_log_line(api, settings, http_tokenizer, debug_log):
    settings.DEBUG = True  # Django then logs every SQL statement with its parameters, too
    secrets: list[str] = [TOKENIZER_API_KEY]

    def code_sent_to(to: str) -> str:
        wait_idle()
        code = re.search(r"\b(\d{6})\b", [m.message for m in channels.outbox if m.to == to][-1]).group(1)
        secrets.append(code)
        return code

    signup = api.post("/api/v1/auth/signup", {"phone_number": "07400 123456", "country_id": "GB", "name": "Ann", "email": "ann.lee@example.com"}, format="json")
    assert signup.status_code == 202, signup.content
    verified = api.post("/api/v1/auth/signup/verify", {"phone_number": PHONE, "otp": code_sent_to(PHONE), "device": "ios 18"}, format="json")
    assert verified.status_code == 201, verified.content
    first = verified.json()["tokens"]

    assert api.post("/api/v1/auth/otp", {"phone_number": PHONE}, format="json").status_code == 202
    wrong = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": "999999" if code_sent_to(PHONE) != "999999" else "888888"}, format="json")
    assert wrong.status_code == 400
    signed_in = api.post("/api/v1/auth/otp/verify", {"phone_number": PHONE, "otp": secrets[-1], "device": "android 15"}, format="json")
    assert signed_in.status_code == 200, signed_in.content
    second = signed_in.json()["tokens"]

    refreshed = api.post("/api/v1/auth/token/refresh", {"refresh_token": second["refresh_token"]}, format="json")
    assert refreshed.status_code == 200, refreshed.content
    third = refreshed.json()["tokens"]
    reused = api.post("/api/v1/auth/token/refresh", {"refresh_token": second["refresh_token"]}, format="json")
    assert reused.status_code == 401
    me = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}")
    assert me.status_code == 200, me.content
    bad = api.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer not-a-real-token-0123456789abcdef")
    assert bad.status_code == 401
    assert api.post("/api/v1/auth/signout", {"all": True}, format="json", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}").status_code == 204
    wait_idle()

    for pair in (first, second, third):
        secrets += [pair["access_token"], pair["refresh_token"]]
    phones = [PHONE, PHONE[1:], "07400123456", "07400 123456", "7400123456"]
    text = debug_log.text
    lines = debug_log.lines()  # every line is one JSON object
    # The capture really saw the service at work: SQL, the Tokenizer server, access lines.
    loggers = {line["logger"] for line in lines}
    assert {"django.db.backends", "authenticator.access", "urllib3.connectionpool"} <= loggers, loggers
    assert sum(1 for line in lines if line["logger"] == "authenticator.access") >= 10
    assert any("tokenizer" in line["message"] for line in lines if line["logger"] == "django.db.backends")
    leaked = [s for s in secrets + phones + ["ann.lee@example.com"] if s in text]
    assert leaked == [], [line for line in text.splitlines() if any(s in line for s in leaked)][:5]
