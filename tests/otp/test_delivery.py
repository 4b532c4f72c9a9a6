"""deliver, now and on the background pool, against real local servers."""

from __future__ import annotations

import json
import logging
import os
import time
import warnings

import pytest
from django.core import mail

from authenticator.core import background
from authenticator.core.errors import DeliveryUnavailable
from otp import channels
from otp.channels import SmsMessage
from otp.delivery import deliver, mask_recipient
from tests.otp import test_channels

# The real local gateway and the settings override, shared with the channel tests.
http_server = test_channels.http_server
gateway = test_channels.gateway
authn_settings = test_channels.authn_settings

PHONE = "+447700900123"
CODE = "482913"
MESSAGE = f"Your sign-in code is {CODE}"


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


def test_deliver_raises_delivery_unavailable_when_the_gateway_fails(gateway):
    gateway.status = 500

    with pytest.raises(DeliveryUnavailable):
        deliver(channel="sms", to=PHONE, message=MESSAGE)


# --- deliver on the background pool (as the sign-in job runs it) ---------------------------


def deliver_later(*, channel: str, to: str, message: str) -> None:
    background.submit(deliver, name=f"{channel} delivery", channel=channel, to=to, message=message)


def wait_for_deliveries(timeout: float = 5) -> None:
    background.wait_idle(timeout=timeout)


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

    with caplog.at_level(logging.ERROR, logger="authenticator.core.background"):
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
