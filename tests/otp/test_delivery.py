"""deliver (now) and deliver_later (from the delivery pool), against real local servers."""

from __future__ import annotations

import json
import logging
import os
import time
import warnings

import pytest
from django.core import mail

from authenticator import background
from authenticator.errors import DeliveryUnavailable
from otp import channels
from otp.channels import SmsMessage
from otp.delivery import deliver, deliver_later, mask_recipient, wait_for_deliveries
from tests.otp import test_channels
from tests.otp.test_channels import free_port, use_smtp

# The real local gateway and the settings override, shared with the channel tests.
http_server = test_channels.http_server
gateway = test_channels.gateway
authn_settings = test_channels.authn_settings

PHONE = "+447700900123"
CODE = "482913"
MESSAGE = f"Your sign-in code is {CODE}"


class ExplodingSmsSender:
    """A sender with a bug whose exception quotes its arguments."""

    def send(self, *, to: str, message: str) -> None:
        raise RuntimeError(f"cannot encode {message!r} for {to}")


# --- deliver ---------------------------------------------------------------------------


def test_deliver_sms_goes_to_the_configured_sender():
    deliver(channel="sms", to=PHONE, message=MESSAGE)

    assert channels.outbox == [SmsMessage(to=PHONE, message=MESSAGE)]
    assert mail.outbox == []


def test_deliver_email_sends_mail_with_the_subject():
    deliver(channel="email", to="jane@example.com", message=MESSAGE, subject="Your sign-in code")

    [sent] = mail.outbox
    assert (sent.to, sent.subject, sent.body) == (["jane@example.com"], "Your sign-in code", MESSAGE)
    assert channels.outbox == []


def test_deliver_email_default_subject():
    deliver(channel="email", to="jane@example.com", message=MESSAGE)

    assert mail.outbox[0].subject == "Your code"


def test_deliver_unknown_channel_is_a_value_error():
    with pytest.raises(ValueError, match="carrier-pigeon"):
        deliver(channel="carrier-pigeon", to=PHONE, message=MESSAGE)
    with pytest.raises(ValueError):
        deliver_later(channel="push", to=PHONE, message=MESSAGE)


def test_deliver_raises_delivery_unavailable_when_the_gateway_fails(gateway):
    gateway.status = 500

    with pytest.raises(DeliveryUnavailable):
        deliver(channel="sms", to=PHONE, message=MESSAGE)


# --- deliver_later -----------------------------------------------------------------------


def test_deliver_later_then_wait_delivers_to_the_outbox():
    deliver_later(channel="sms", to=PHONE, message=MESSAGE)
    deliver_later(channel="email", to="jane@example.com", message=MESSAGE, subject="Code")

    wait_for_deliveries()

    assert channels.outbox == [SmsMessage(to=PHONE, message=MESSAGE)]
    assert [(m.to, m.subject, m.body) for m in mail.outbox] == [(["jane@example.com"], "Code", MESSAGE)]


def test_deliver_later_returns_before_the_provider_answers(gateway):
    gateway.hold = True  # the gateway takes as long as the test says

    started = time.monotonic()
    deliver_later(channel="sms", to=PHONE, message=MESSAGE)
    elapsed = time.monotonic() - started

    assert elapsed < 0.2
    assert gateway.received.wait(5), "the background send never reached the gateway"
    with pytest.raises(TimeoutError):
        wait_for_deliveries(timeout=0.2)

    gateway.release.set()
    wait_for_deliveries()
    [request] = gateway.requests
    assert json.loads(request.body) == {"to": PHONE, "message": MESSAGE}


def test_deliver_later_takes_as_long_for_a_failing_provider_as_for_a_working_one(gateway, authn_settings):
    # The enumeration-safe request must not reveal, by its time, whether a send happened
    # or how it went: here the provider refuses connections and queueing still returns at once.
    authn_settings(SMS_GATEWAY_URL=f"http://127.0.0.1:{free_port()}/sms", SMS_TIMEOUT=1.0)

    started = time.monotonic()
    for _ in range(8):
        deliver_later(channel="sms", to=PHONE, message=MESSAGE)
    assert time.monotonic() - started < 0.2

    wait_for_deliveries()


def test_background_failure_is_logged_without_code_or_full_number(gateway, caplog):
    gateway.status = 500

    with caplog.at_level(logging.WARNING):
        deliver_later(channel="sms", to=PHONE, message=MESSAGE)
        wait_for_deliveries()  # does not raise: the failure stays in the worker

    assert len(gateway.requests) == 1
    assert "Background sms delivery to +*********123 failed" in caplog.text
    assert CODE not in caplog.text
    assert PHONE not in caplog.text and "7700900" not in caplog.text


def test_background_email_failure_is_logged_with_masked_address(settings, caplog):
    use_smtp(settings, free_port())

    with caplog.at_level(logging.WARNING):
        deliver_later(channel="email", to="jane.doe@example.com", message=MESSAGE)
        wait_for_deliveries()

    assert "Background email delivery to j***@example.com failed" in caplog.text
    assert "jane.doe" not in caplog.text and CODE not in caplog.text


def test_background_crash_is_logged_with_traceback_scrubbed_of_code_and_number(authn_settings, caplog):
    authn_settings(SMS_SENDER=f"{__name__}.ExplodingSmsSender")

    with caplog.at_level(logging.ERROR, logger="authenticator.background"):
        deliver_later(channel="sms", to=PHONE, message=MESSAGE)
        wait_for_deliveries()

    [record] = [r for r in caplog.records if r.name == "otp.delivery"]
    assert record.levelno == logging.ERROR
    text = record.getMessage()
    assert "RuntimeError: cannot encode '[message]' for +*********123" in text
    assert "Traceback" in text
    assert CODE not in caplog.text and PHONE not in caplog.text


def test_delivery_pool_runs_at_most_four_sends_at_once(gateway):
    gateway.hold = True
    for i in range(6):
        deliver_later(channel="sms", to=PHONE, message=f"m{i}")

    deadline = time.monotonic() + 5
    while len(gateway.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a fifth send to arrive if the pool allowed it
    assert len(gateway.requests) == 4

    gateway.release.set()
    wait_for_deliveries()
    assert sorted(json.loads(r.body)["message"] for r in gateway.requests) == [f"m{i}" for i in range(6)]


def test_full_delivery_queue_drops_and_logs_instead_of_growing(gateway, monkeypatch, caplog):
    monkeypatch.setattr(background, "MAX_PENDING", 2)
    gateway.hold = True

    with caplog.at_level(logging.ERROR, logger="authenticator.background"):
        for i in range(3):
            deliver_later(channel="sms", to=PHONE, message=f"m{i}")

    assert "background queue full (2 pending); dropped sms delivery" in caplog.text
    assert PHONE not in caplog.text
    gateway.release.set()
    wait_for_deliveries()
    assert sorted(json.loads(r.body)["message"] for r in gateway.requests) == ["m0", "m1"]


def test_delivery_pool_is_recreated_in_a_forked_child():
    deliver_later(channel="sms", to=PHONE, message="parent")
    wait_for_deliveries()  # the parent's pool now has a live worker thread

    with warnings.catch_warnings():
        # Python warns that forking a threaded process may deadlock; the after-fork hook
        # exists precisely so that it does not.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: no pytest, no cleanup, only an exit status
        status = 1
        try:
            channels.outbox.clear()
            deliver_later(channel="sms", to=PHONE, message="child")
            wait_for_deliveries(timeout=5)
            status = 0 if channels.outbox == [SmsMessage(to=PHONE, message="child")] else 2
        finally:
            os._exit(status)

    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert channels.outbox == [SmsMessage(to=PHONE, message="parent")]


def test_wait_for_deliveries_returns_at_once_when_nothing_is_queued():
    started = time.monotonic()
    wait_for_deliveries(timeout=1)
    assert time.monotonic() - started < 0.1


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("to", "masked"), [
    ("+447700900123", "+*********123"),
    ("+15005550006", "+********006"),
    ("+3912345", "+*****45"),
    ("jane@example.com", "j***@example.com"),
    ("@example.com", "***@example.com"),
])
def test_mask_recipient_keeps_only_the_tail_of_a_number_and_the_domain_of_an_email(to, masked):
    assert mask_recipient(to) == masked
