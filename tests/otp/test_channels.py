"""SMS senders and email, against real local HTTP and SMTP servers; the start-up checks."""

from __future__ import annotations

import base64
import email
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured

from authenticator.core.errors import DeliveryUnavailable
from otp import channels
from otp.channels import (
    ConsoleSmsSender,
    HttpGatewaySmsSender,
    OutboxSmsSender,
    SmsMessage,
    SmsSender,
    TwilioSmsSender,
    send_email,
    sms_sender,
)
from otp.checks import check_sms_sender, check_sms_sender_deploy

PHONE = "+447700900123"
MESSAGE = "Your code is 123456"


# --- Real local servers ----------------------------------------------------------------


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class RecordingHttpServer:
    """An HTTP/1.1 server on 127.0.0.1 that records requests and answers as told."""

    url: str = ""
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: int = 200
    response_body: bytes = b'{"ok": true}'
    # When set, the server holds every answer until ``release`` is set (timeouts, async).
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    received: threading.Event = field(default_factory=threading.Event)


def free_port() -> int:
    """A port nothing listens on (bound, then closed): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server() -> Iterator[RecordingHttpServer]:
    state = RecordingHttpServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection pooling is observable

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(ReceivedRequest(
                method="POST", path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                body=body, client_port=self.client_address[1],
            ))
            state.received.set()
            if state.hold:
                state.release.wait(10)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.response_body)))
            self.end_headers()
            self.wfile.write(state.response_body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def authn_settings(settings) -> Callable[..., None]:
    """Override keys of settings.AUTHENTICATOR for one test."""

    def override(**values: Any) -> None:
        settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, **values}

    return override


@pytest.fixture
def gateway(http_server: RecordingHttpServer, authn_settings) -> RecordingHttpServer:
    authn_settings(
        SMS_SENDER="otp.channels.HttpGatewaySmsSender",
        SMS_GATEWAY_URL=f"{http_server.url}/sms/send",
        SMS_GATEWAY_KEY="gw-secret",
        SMS_TIMEOUT=2.0,
    )
    return http_server


class SmtpRecorder:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.refuse_recipients = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def use_smtp(settings, port: int, timeout: float = 2.0) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = timeout


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpRecorder]:
    recorder = SmtpRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_smtp(settings, controller.port)
    try:
        yield recorder
    finally:
        controller.stop()


# --- Console and outbox ----------------------------------------------------------------


def test_console_sender_prints_recipient_and_message_to_stdout(capsys):
    ConsoleSmsSender().send(to=PHONE, message=MESSAGE)

    assert capsys.readouterr().out == f"SMS to {PHONE}: {MESSAGE}\n"


def test_outbox_sender_keeps_every_message_from_concurrent_threads():
    sender = OutboxSmsSender()

    def burst(n: int) -> None:
        for i in range(50):
            sender.send(to=f"+4477009{n:02d}{i:03d}", message=f"m{n}-{i}")

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(channels.outbox) == 400
    assert {m.message for m in channels.outbox} == {f"m{n}-{i}" for n in range(8) for i in range(50)}


def test_outbox_is_empty_at_the_start_of_each_test_and_records_in_order():
    assert channels.outbox == []
    sms_sender().send(to=PHONE, message="first")
    sms_sender().send(to="+15005550006", message="second")

    assert channels.outbox == [SmsMessage(to=PHONE, message="first"), SmsMessage(to="+15005550006", message="second")]


# --- Choosing the sender ---------------------------------------------------------------


def test_test_settings_select_the_outbox_sender():
    assert isinstance(sms_sender(), OutboxSmsSender)


def test_sms_sender_is_one_instance_per_configured_path(authn_settings):
    first = sms_sender()
    assert sms_sender() is first

    authn_settings(SMS_SENDER="otp.channels.ConsoleSmsSender")
    console = sms_sender()

    assert isinstance(console, ConsoleSmsSender)
    assert isinstance(console, SmsSender)
    assert sms_sender() is console


def test_sms_sender_with_unimportable_path_is_improperly_configured(authn_settings):
    authn_settings(SMS_SENDER="otp.channels.NoSuchSender")

    with pytest.raises(ImproperlyConfigured, match="otp.channels.NoSuchSender"):
        sms_sender()


# --- Generic HTTP gateway --------------------------------------------------------------


def test_gateway_posts_exact_json_with_bearer_key(gateway):
    sms_sender().send(to=PHONE, message=MESSAGE)

    [request] = gateway.requests
    assert request.method == "POST"
    assert request.path == "/sms/send"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer gw-secret"
    assert json.loads(request.body) == {"to": PHONE, "message": MESSAGE}


def test_gateway_without_key_sends_no_authorization_header(gateway, authn_settings):
    authn_settings(SMS_GATEWAY_KEY="")

    sms_sender().send(to=PHONE, message=MESSAGE)

    [request] = gateway.requests
    assert "authorization" not in request.headers
    assert json.loads(request.body) == {"to": PHONE, "message": MESSAGE}


@pytest.mark.parametrize("status", [201, 202, 204])
def test_gateway_accepts_any_2xx(gateway, status):
    gateway.status = status
    gateway.response_body = b""

    sms_sender().send(to=PHONE, message=MESSAGE)

    assert len(gateway.requests) == 1


@pytest.mark.parametrize("status", [500, 503, 400, 401, 302])
def test_gateway_non_2xx_is_delivery_unavailable_and_not_retried(gateway, status, caplog):
    gateway.status = status

    with caplog.at_level(logging.WARNING, logger="otp.channels"), pytest.raises(DeliveryUnavailable):
        sms_sender().send(to=PHONE, message=MESSAGE)

    assert len(gateway.requests) == 1
    assert f"SMS gateway answered HTTP {status}" in caplog.text
    assert MESSAGE not in caplog.text and PHONE not in caplog.text


def test_gateway_refused_connection_is_delivery_unavailable(authn_settings):
    authn_settings(
        SMS_SENDER="otp.channels.HttpGatewaySmsSender",
        SMS_GATEWAY_URL=f"http://127.0.0.1:{free_port()}/sms",
    )

    with pytest.raises(DeliveryUnavailable) as raised:
        sms_sender().send(to=PHONE, message=MESSAGE)

    assert raised.value.code == "delivery_unavailable"
    assert raised.value.http_status == 503


def test_gateway_timeout_is_delivery_unavailable_within_sms_timeout(gateway, authn_settings):
    authn_settings(SMS_TIMEOUT=0.3)
    gateway.hold = True

    started = time.monotonic()
    with pytest.raises(DeliveryUnavailable):
        sms_sender().send(to=PHONE, message=MESSAGE)

    assert time.monotonic() - started < 2
    assert len(gateway.requests) == 1


def test_gateway_reuses_its_pooled_connection_across_sends(gateway):
    sender = sms_sender()
    sender.send(to=PHONE, message="one")
    sender.send(to=PHONE, message="two")

    assert [json.loads(r.body)["message"] for r in gateway.requests] == ["one", "two"]
    assert gateway.requests[0].client_port == gateway.requests[1].client_port


def test_gateway_without_url_is_improperly_configured(authn_settings):
    authn_settings(SMS_SENDER="otp.channels.HttpGatewaySmsSender", SMS_GATEWAY_URL="")

    with pytest.raises(ImproperlyConfigured):
        sms_sender().send(to=PHONE, message=MESSAGE)


# --- Twilio ------------------------------------------------------------------------------


@pytest.fixture
def twilio(http_server: RecordingHttpServer, authn_settings) -> RecordingHttpServer:
    authn_settings(
        SMS_SENDER="otp.channels.TwilioSmsSender",
        TWILIO_ACCOUNT_SID="AC0123456789abcdef",
        TWILIO_AUTH_TOKEN="twilio-token",
        TWILIO_FROM="+15005550006",
        TWILIO_API_URL=http_server.url + "/",
        SMS_TIMEOUT=2.0,
    )
    http_server.status = 201
    http_server.response_body = b'{"sid": "SM123", "status": "queued"}'
    return http_server


def test_twilio_posts_form_to_messages_endpoint_with_basic_auth(twilio):
    sms_sender().send(to=PHONE, message=MESSAGE)

    [request] = twilio.requests
    assert request.path == "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(b"AC0123456789abcdef:twilio-token").decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert parse_qs(request.body.decode(), strict_parsing=True) == {
        "To": [PHONE], "From": ["+15005550006"], "Body": [MESSAGE],
    }


def test_twilio_error_is_delivery_unavailable_and_logs_only_twilio_code(twilio, caplog):
    twilio.status = 400
    twilio.response_body = json.dumps({
        "code": 21211, "message": f"The 'To' number {PHONE} is not a valid phone number.", "status": 400,
    }).encode()

    with caplog.at_level(logging.WARNING, logger="otp.channels"), pytest.raises(DeliveryUnavailable):
        sms_sender().send(to=PHONE, message=MESSAGE)

    assert "Twilio answered HTTP 400 (Twilio error 21211)" in caplog.text
    assert PHONE not in caplog.text and MESSAGE not in caplog.text


def test_twilio_server_error_without_json_is_delivery_unavailable(twilio):
    twilio.status = 502
    twilio.response_body = b"<html>Bad gateway</html>"

    with pytest.raises(DeliveryUnavailable):
        sms_sender().send(to=PHONE, message=MESSAGE)


def test_twilio_refused_connection_is_delivery_unavailable(twilio, authn_settings):
    authn_settings(TWILIO_API_URL=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(DeliveryUnavailable):
        sms_sender().send(to=PHONE, message=MESSAGE)
    assert twilio.requests == []


# --- Email -------------------------------------------------------------------------------


def test_send_email_goes_through_djangos_configured_backend(settings):
    send_email(to="jane@example.com", subject="Your code", body=MESSAGE)

    [sent] = mail.outbox
    assert sent.to == ["jane@example.com"]
    assert sent.subject == "Your code"
    assert sent.body == MESSAGE
    assert sent.from_email == settings.DEFAULT_FROM_EMAIL


def test_send_email_through_a_real_smtp_server(smtp_server, settings):
    send_email(to="jane@example.com", subject="Your sign-in code", body=MESSAGE)

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["jane@example.com"]
    assert envelope.mail_from == "no-reply@localhost"
    received = email.message_from_bytes(envelope.original_content)
    assert received["To"] == "jane@example.com"
    assert received["Subject"] == "Your sign-in code"
    assert received["From"] == settings.DEFAULT_FROM_EMAIL
    # smtplib ends the DATA with CRLF; the text itself arrives unchanged.
    assert received.get_payload(decode=True).decode() == f"{MESSAGE}\r\n"


def test_send_email_with_smtp_server_down_is_delivery_unavailable(settings):
    use_smtp(settings, free_port())

    with pytest.raises(DeliveryUnavailable):
        send_email(to="jane@example.com", subject="Your code", body=MESSAGE)


def test_send_email_to_silent_smtp_server_times_out_as_delivery_unavailable(settings):
    # The kernel completes the handshake from the backlog; no greeting ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        use_smtp(settings, silent.getsockname()[1], timeout=0.5)

        started = time.monotonic()
        with pytest.raises(DeliveryUnavailable):
            send_email(to="jane@example.com", subject="Your code", body=MESSAGE)

    assert time.monotonic() - started < 3


def test_send_email_refused_recipient_is_delivery_unavailable(smtp_server):
    smtp_server.refuse_recipients = True

    with pytest.raises(DeliveryUnavailable):
        send_email(to="nobody@example.com", subject="Your code", body=MESSAGE)
    assert smtp_server.envelopes == []


# --- System checks -------------------------------------------------------------------------


def check_ids(*messages_lists: list) -> list[str]:
    return [message.id for messages in messages_lists for message in messages]


def test_checks_pass_for_the_embedded_default_and_the_test_outbox(authn_settings):
    assert check_sms_sender() == []
    authn_settings(SMS_SENDER="otp.channels.ConsoleSmsSender")
    assert check_sms_sender() == []


@pytest.mark.parametrize("path", ["otp.channels.NoSuchSender", "nowhere.Sender", "not a path", "otp.channels.outbox"])
def test_check_rejects_a_sender_that_is_not_an_importable_class(authn_settings, path):
    authn_settings(SMS_SENDER=path)

    assert check_ids(check_sms_sender()) == ["otp.E001"]


@pytest.mark.parametrize("url", ["", "127.0.0.1:9000/sms", "ftp://gateway.example/sms", "http://"])
def test_check_rejects_gateway_sender_without_http_url(authn_settings, url):
    authn_settings(SMS_SENDER="otp.channels.HttpGatewaySmsSender", SMS_GATEWAY_URL=url)

    assert check_ids(check_sms_sender()) == ["otp.E002"]


def test_check_accepts_gateway_sender_with_url(authn_settings):
    authn_settings(SMS_SENDER="otp.channels.HttpGatewaySmsSender", SMS_GATEWAY_URL="https://sms.example/send")

    assert check_sms_sender() == []


def test_check_names_every_missing_twilio_setting(authn_settings):
    authn_settings(
        SMS_SENDER="otp.channels.TwilioSmsSender",
        TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="", TWILIO_FROM="",
    )

    [error] = check_sms_sender()

    assert error.id == "otp.E003"
    assert "TWILIO_AUTH_TOKEN" in error.msg and "TWILIO_FROM" in error.msg
    assert "TWILIO_ACCOUNT_SID" not in error.msg


def test_check_accepts_complete_twilio_settings(authn_settings):
    authn_settings(
        SMS_SENDER="otp.channels.TwilioSmsSender",
        TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="token", TWILIO_FROM="+15005550006",
    )

    assert check_sms_sender() == []


class GatewaySubclass(HttpGatewaySmsSender):
    pass


def test_check_applies_to_subclasses_of_the_shipped_senders(authn_settings):
    authn_settings(SMS_SENDER=f"{__name__}.GatewaySubclass", SMS_GATEWAY_URL="")

    assert check_ids(check_sms_sender()) == ["otp.E002"]


def test_checks_are_registered_from_the_app_config():
    # Asserted on the registry rather than through run_checks(), which would also run
    # every other app's checks.
    assert check_sms_sender in registry.get_checks(include_deployment_checks=False)
    assert check_sms_sender_deploy not in registry.get_checks(include_deployment_checks=False)
    assert check_sms_sender_deploy in registry.get_checks(include_deployment_checks=True)


def test_deploy_check_warns_when_codes_only_reach_the_console(settings, authn_settings):
    settings.DEBUG = False
    authn_settings(SMS_SENDER="otp.channels.ConsoleSmsSender")

    assert check_ids(check_sms_sender_deploy()) == ["otp.W001"]
    authn_settings(SMS_SENDER="otp.channels.OutboxSmsSender")
    assert check_ids(check_sms_sender_deploy()) == ["otp.W001"]

    settings.DEBUG = True
    assert check_sms_sender_deploy() == []
    settings.DEBUG = False

    authn_settings(SMS_SENDER="otp.channels.TwilioSmsSender")
    assert check_sms_sender_deploy() == []


def test_shipped_senders_satisfy_the_protocol():
    # The Protocol is what flows depend on; the shipped senders must keep matching it.
    for cls in (ConsoleSmsSender, OutboxSmsSender, HttpGatewaySmsSender, TwilioSmsSender):
        assert isinstance(cls(), SmsSender), cls

