"""Delivery records and the in-process path (no broker), against the real PostgreSQL and a
real local SMS gateway: what a code request leaves for support to see, that a record is
sent at most once, retries and giving up, and the purge."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from authenticator.core.background import wait_idle
from authenticator.flows.common import Identifier
from authenticator.flows.sign_in_otp import sign_in_code, sign_in_otp_request
from authenticator.flows.signup import signup_start
from otp.delivery import (
    delivery_attempt,
    delivery_create,
    delivery_supersede,
    seal,
    unseal,
)
from otp.models import Delivery, Otp, OtpDecoy
from otp.services import otp_issue, otps_purge_expired
from tests.factories import UserFactory
from tests.otp import test_channels

http_server = test_channels.http_server
gateway = test_channels.gateway
authn_settings = test_channels.authn_settings

pytestmark = pytest.mark.django_db(transaction=True)

CODE = re.compile(r"\b\d{6}\b")


def only_delivery(**filters) -> Delivery:
    (delivery,) = Delivery.objects.filter(**filters)
    return delivery


def no_code_in(delivery: Delivery) -> None:
    for field in Delivery._meta.concrete_fields:
        value = str(getattr(delivery, field.attname) or "")
        assert not CODE.fullmatch(value) and "code is" not in value, (field.name, value)


def test_a_sign_in_code_leaves_a_sent_record_with_the_providers_id_and_never_the_code(gateway):
    gateway.response_body = b'{"id": "gw-msg-77"}'
    user = UserFactory(phone_number="+447400111222")

    sign_in_otp_request(identifier=Identifier("phone", user.phone_number), ip="81.2.69.160")
    wait_idle()

    [request] = gateway.requests
    sent = json.loads(request.body)
    delivery = only_delivery(user=user)
    otp = Otp.objects.get(user=user)
    assert (delivery.status, delivery.provider, delivery.provider_message_id) == ("sent", "gateway", "gw-msg-77")
    assert (delivery.channel, delivery.purpose, delivery.attempts, delivery.otp_id) == ("sms", "signin", 1, otp.pk)
    assert delivery.to_masked == "+*********222"
    assert delivery.sent_at is not None and delivery.expires_at == otp.expired_at
    # The provider got the record's id as its idempotency key, and the record keeps no code.
    assert request.headers["idempotency-key"] == f"delivery-{delivery.pk}"
    assert CODE.search(sent["message"])
    no_code_in(delivery)


def test_an_unknown_identifier_gets_a_decoy_and_no_record():
    sign_in_otp_request(identifier=Identifier("phone", "+447400999888"), ip="81.2.69.160")
    wait_idle()

    assert Delivery.objects.count() == 0
    assert OtpDecoy.objects.count() == 1


def test_without_a_broker_a_failed_send_is_tried_once_and_recorded_failed(gateway):
    gateway.status = 503
    user = UserFactory()

    sign_in_otp_request(identifier=Identifier("phone", user.phone_number), ip="81.2.69.160")
    wait_idle()

    delivery = only_delivery(user=user)
    assert len(gateway.requests) == 1
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "SMS gateway answered HTTP 503"


def test_a_refused_message_is_undeliverable_at_once_even_with_retries(gateway):
    gateway.status = 400
    user = UserFactory()
    otp, _code = otp_issue(user_id=user.pk, purpose="signin", channel="sms", sent_to=user.phone_number)
    delivery = delivery_create(user_id=user.pk, purpose="signin", channel="sms", to=user.phone_number, otp=otp)

    attempt = delivery_attempt(delivery_id=delivery.pk, sealed=seal(to=user.phone_number, message="m", subject="s"))

    assert (attempt.status, attempt.retry_after) == ("undeliverable", None)
    assert Delivery.objects.get(pk=delivery.pk).status == "undeliverable"


def record(user, *, expires_in: float = 300.0) -> tuple[Delivery, str]:
    otp, code = otp_issue(user_id=user.pk, purpose="signin", channel="sms", sent_to=user.phone_number)
    delivery = delivery_create(user_id=user.pk, purpose="signin", channel="sms", to=user.phone_number, otp=otp,
                               expires_at=timezone.now() + timedelta(seconds=expires_in))
    return delivery, seal(to=user.phone_number, message=f"Your code is {code}", subject="s")


def test_a_record_that_was_sent_is_never_sent_again(gateway):
    delivery, sealed = record(UserFactory())

    first = delivery_attempt(delivery_id=delivery.pk, sealed=sealed)
    again = delivery_attempt(delivery_id=delivery.pk, sealed=sealed)

    assert (first.status, again.status, again.retry_after) == ("sent", "sent", None)
    assert len(gateway.requests) == 1
    assert Delivery.objects.get(pk=delivery.pk).attempts == 1


def test_with_retries_a_failure_goes_back_to_the_queue_then_succeeds(gateway, authn_settings):
    authn_settings(DELIVERY_RETRY_BASE=1.0, DELIVERY_RETRY_MAX=4.0)
    delivery, sealed = record(UserFactory())
    gateway.status = 502

    failed = delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=True)
    row = Delivery.objects.get(pk=delivery.pk)
    assert (failed.status, row.status, row.attempts, row.last_error) == ("queued", "queued", 1, "SMS gateway answered HTTP 502")
    assert 0.8 <= failed.retry_after <= 1.2  # the first backoff, jittered

    second = delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=True)
    assert 1.6 <= second.retry_after <= 2.4  # doubled

    gateway.status = 200
    third = delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=True)
    row = Delivery.objects.get(pk=delivery.pk)
    assert (third.status, row.status, row.attempts, row.last_error) == ("sent", "sent", 3, "")
    assert len(gateway.requests) == 3
    assert len({r.headers["idempotency-key"] for r in gateway.requests}) == 1  # one key for every try


def test_tries_stop_when_the_code_would_expire_before_the_next(gateway, authn_settings):
    authn_settings(DELIVERY_RETRY_BASE=10.0)
    delivery, sealed = record(UserFactory(), expires_in=5)
    gateway.status = 500

    attempt = delivery_attempt(delivery_id=delivery.pk, sealed=sealed, retry=True)

    row = Delivery.objects.get(pk=delivery.pk)
    assert (attempt.status, attempt.retry_after, row.status) == ("failed", None, "failed")
    assert row.last_error.startswith("gave up after 1 tries, the code expires")


def test_an_expired_record_is_not_sent(gateway):
    delivery, sealed = record(UserFactory(), expires_in=-1)

    assert delivery_attempt(delivery_id=delivery.pk, sealed=sealed).status == "failed"
    assert gateway.requests == []
    assert Delivery.objects.get(pk=delivery.pk).last_error == "the code expired before it could be sent"


def test_a_record_another_worker_holds_waits_for_its_lease_then_is_taken_over(gateway):
    delivery, sealed = record(UserFactory())
    lease_until = timezone.now() + timedelta(seconds=3)
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", attempts=1, lease_until=lease_until)

    busy = delivery_attempt(delivery_id=delivery.pk, sealed=sealed)
    assert busy.status == "sending" and 3.0 <= busy.retry_after <= 4.0
    assert gateway.requests == []

    # The holder died mid-send: once its lease is over the record is sent, under the same key.
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert delivery_attempt(delivery_id=delivery.pk, sealed=sealed).status == "sent"
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2
    assert gateway.requests[0].headers["idempotency-key"] == f"delivery-{delivery.pk}"


def test_a_sealed_message_is_unreadable_without_this_secret_key_and_tampering_shows(settings):
    sealed = seal(to="+447400111222", message="Your code is 123456", subject="s")
    assert "123456" not in sealed and "+447400111222" not in sealed
    assert unseal(sealed)["message"] == "Your code is 123456"
    with pytest.raises(ValueError):
        unseal(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"))
    settings.SECRET_KEY = "another-deployment-" + "x" * 40
    with pytest.raises(ValueError):
        unseal(sealed)


def test_a_redelivered_code_job_does_not_text_twice(gateway):
    user = UserFactory()
    kwargs = {"user_id": user.pk, "to": user.phone_number, "identifier": user.phone_number, "channel": "sms",
              "ip": "81.2.69.160", "job_key": "task-1"}

    sign_in_code(**kwargs)
    wait_idle()  # its send (the sends lane) is done
    sign_in_code(**kwargs)  # the same task again: its worker died before acknowledging it
    wait_idle()

    assert len(gateway.requests) == 1
    assert Delivery.objects.filter(job_key="task-1").count() == 1
    assert Otp.objects.filter(user=user).count() == 1


def test_a_redelivered_job_whose_code_nobody_sent_supersedes_it_with_a_new_one(gateway):
    user = UserFactory()
    otp, _code = otp_issue(user_id=user.pk, purpose="signin", channel="sms", sent_to=user.phone_number)
    stale = delivery_create(user_id=user.pk, purpose="signin", channel="sms", to=user.phone_number, otp=otp,
                            job_key="task-2")  # made, then the worker died before queueing its send

    sign_in_code(user_id=user.pk, to=user.phone_number, identifier=user.phone_number, channel="sms", ip=None,
                 job_key="task-2")
    wait_idle()

    stale.refresh_from_db()
    fresh = only_delivery(job_key="task-2")
    assert (stale.status, stale.job_key) == ("failed", "")
    assert stale.last_error.startswith("superseded")
    assert fresh.pk != stale.pk and fresh.status == "sent"
    assert len(gateway.requests) == 1
    # Once a sender has it, a further run of the job leaves it alone.
    assert delivery_supersede(job_key="task-2") is False


def test_a_registered_number_signing_up_gets_a_notice_with_a_record_and_no_code(gateway):
    user = UserFactory(phone_number="+447400333444")

    signup_start(phone_number=user.phone_number, country_id="GB", name="Someone", ip="81.2.69.160")
    wait_idle()

    delivery = only_delivery(user=user)
    assert (delivery.purpose, delivery.status, delivery.otp_id) == ("signup", "sent", None)
    assert "already has an Authenticator account" in json.loads(gateway.requests[0].body)["message"]


def test_the_cli_sign_up_is_told_when_the_send_fails(gateway):
    from authenticator.core.errors import DeliveryUnavailable

    gateway.status = 500
    with pytest.raises(DeliveryUnavailable):
        signup_start(phone_number="+447400555666", country_id="GB", name="Ann", wait=True)
    assert only_delivery(user__phone_number="+447400555666").status == "failed"


def test_records_are_purged_with_their_codes_and_notices_by_age(gateway):
    user = UserFactory()
    otp, _ = otp_issue(user_id=user.pk, purpose="signin", channel="sms", sent_to=user.phone_number)
    with_code = delivery_create(user_id=user.pk, purpose="signin", channel="sms", to=user.phone_number, otp=otp)
    notice = delivery_create(user_id=user.pk, purpose="signup", channel="sms", to=user.phone_number)
    recent_notice = delivery_create(user_id=user.pk, purpose="signup", channel="sms", to=user.phone_number)
    long_ago = timezone.now() - timedelta(days=3)
    Otp.objects.filter(pk=otp.pk).update(expired_at=long_ago)
    Delivery.objects.filter(pk=notice.pk).update(created_at=long_ago)

    assert otps_purge_expired(older_than=timedelta(days=1)) == 1  # the count is of codes

    assert set(Delivery.objects.values_list("pk", flat=True)) == {recent_notice.pk}
    assert not Delivery.objects.filter(pk__in=[with_code.pk, notice.pk]).exists()


def test_the_longest_email_still_gets_a_record():
    # Found by the schema fuzzer: "x@<252 characters>" masks to two characters more.
    user = UserFactory()
    address = "0@" + ".".join(["a" * 63] * 3) + "." + "a" * 60
    assert len(address) == 254
    record = delivery_create(user_id=user.pk, purpose="verify_email", channel="email", to=address)
    assert record.to_masked.startswith("0***@aaa") and len(record.to_masked) == 254


def test_slow_sends_never_delay_the_next_numbers_decoy(gateway):
    """The fourth outside review's oracle: on one pool, a few sends held by a slow provider
    held every thread, so the decoy of the request after an active account's was written
    late — and a guess against it answered ``too_many_attempts`` until it was, telling
    active accounts from all others. Codes and decoys now have a lane of their own."""
    import time

    from authenticator.core import background
    from otp.services import decoy_key

    gateway.hold = True  # the provider takes every message only when released
    try:
        for n in range(background.LANE_WORKERS + 2):  # every sending thread busy, more queued
            user = UserFactory(phone_number=f"+4474001112{n:02d}")
            sign_in_otp_request(identifier=Identifier("phone", user.phone_number), ip="81.2.69.160")
        unknown = "+447400999888"
        sign_in_otp_request(identifier=Identifier("phone", unknown), ip="81.2.69.161")
        deadline = time.monotonic() + 0.5  # a decoy takes milliseconds; the held sends time out later
        while not OtpDecoy.objects.filter(key=decoy_key(unknown)).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert OtpDecoy.objects.filter(key=decoy_key(unknown)).exists(), "the decoy waited behind the sends"
        assert len(gateway.requests) <= background.LANE_WORKERS  # the sends are still held
    finally:
        gateway.release.set()
    wait_idle()
    assert len(gateway.requests) == background.LANE_WORKERS + 2
