"""Deliveries on the broker, proved with real workers (``deploy/entrypoint.sh worker``) on
the real Redis, the real PostgreSQL and a real local SMS gateway that honours
``Idempotency-Key`` (tests/worker/gateway.py):

- the answer only publishes, one task of one shape for a known and an unknown identifier;
- the provider down for a few seconds, then back: every code asked for meanwhile that is
  still valid arrives exactly once (and works), a code that expired meanwhile never goes;
- a pool process SIGKILLed mid-send, and a whole worker SIGKILLed mid-send: no code lost,
  none sent twice;
- SIGTERM drains: the running send finishes before the worker exits.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from authenticator.core import background
from authenticator.flows.common import Identifier
from authenticator.flows.delivery import SEND_TASK
from authenticator.flows.sign_in_otp import sign_in_otp_request
from otp.delivery import delivery_create, seal
from otp.models import DELIVERY_DONE, Delivery, Otp, OtpDecoy
from otp.services import otp_check, otp_issue
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

IP = "81.2.69.160"


def ask_codes(users) -> None:
    for user in users:
        sign_in_otp_request(identifier=Identifier("phone", user.phone_number), ip=IP)


def wait_done(users, timeout: float = 40.0) -> list[Delivery]:
    """Every user's delivery record in a final status (sent, delivered, failed, ...)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(Delivery.objects.filter(user__in=users, job_key__gt="").order_by("user_id"))
        if len(rows) == len(users) and all(row.status in DELIVERY_DONE for row in rows):
            return rows
        assert time.monotonic() < deadline, [(r.to_masked, r.status, r.attempts, r.last_error) for r in rows]
        time.sleep(0.2)


def assert_each_got_one_working_code(users, gateway) -> None:
    for user in users:
        sms = gateway.sms_to(user.phone_number)
        assert len(sms) == 1, (user.phone_number, sms)
        # Every try to this phone carried the same message: a resend is the same code.
        assert {r.message for r in gateway.requests_to(user.phone_number)} == {sms[0].message}
        otp_check(user_id=user.pk, purpose="signin", channel="sms", code=gateway.code_of(sms[0]), ip=IP)


def queued_tasks(broker, queue: str = "authn-test") -> list[tuple[str, dict]]:
    """The tasks waiting in ``queue`` (kombu's Redis transport: a list of JSON envelopes)."""
    out = []
    for raw in broker.lrange(queue, 0, -1):
        envelope = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        out.append((envelope["headers"]["task"], kwargs))
    return out


def metric(worker, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5).read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == want:
            total += float(match.group(2))
    return total


def test_the_answer_only_publishes_one_task_of_one_shape_for_known_and_unknown(broker):
    known = UserFactory(phone_number="+447400200001")
    api = APIClient(REMOTE_ADDR=IP)

    answers = [api.post("/api/v1/auth/otp", {"phone_number": phone}, format="json")
               for phone in (known.phone_number, "+447400200002")]

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    tasks = queued_tasks(broker)
    assert [name for name, _ in tasks] == ["authn.sign_in_code", "authn.sign_in_code"]
    # LPUSH: the newest first. Same keys; only an active account's carries its id and address.
    unknown, mine = (kwargs for _, kwargs in tasks)
    assert set(mine) == set(unknown) == {"user_id", "to", "identifier", "channel", "ip"}
    assert (mine["user_id"], unknown["user_id"], unknown["to"]) == (known.pk, None, None)
    # Nothing was written before the answer: the worker makes the code (or the decoy).
    assert (Otp.objects.count(), OtpDecoy.objects.count(), Delivery.objects.count()) == (0, 0, 0)


def test_provider_down_then_back_every_valid_code_arrives_once(start_worker, gateway, broker):
    worker = start_worker()
    gateway.down()
    users = [UserFactory() for _ in range(8)]
    started = time.monotonic()
    ask_codes(users)
    # One more message whose code runs out during the outage: it must never go.
    late = UserFactory()
    otp, code = otp_issue(user_id=late.pk, purpose="signin", channel="sms", sent_to=late.phone_number)
    short = delivery_create(user_id=late.pk, purpose="signin", channel="sms", to=late.phone_number, otp=otp,
                            expires_at=timezone.now() + timedelta(seconds=2))
    background.enqueue(SEND_TASK, delivery_id=short.pk,
                       sealed=seal(to=late.phone_number, message=f"Your code is {code}", subject="s"))

    time.sleep(4)  # the outage: every try is refused
    assert gateway.requests == []
    tried = list(Delivery.objects.filter(user__in=users).values_list("attempts", "status", "last_error"))
    assert len(tried) == len(users) and all(n >= 1 and s in ("queued", "sending") for n, s, _ in tried), tried
    gateway.up()
    back = time.monotonic()

    rows = wait_done(users)
    took = time.monotonic() - back
    assert [row.status for row in rows] == ["sent"] * len(users)
    assert_each_got_one_working_code(users, gateway)
    assert all(row.attempts >= 2 for row in rows)
    short.refresh_from_db()
    assert short.status == "failed" and gateway.sms_to(late.phone_number) == []
    sent = metric(worker, "authn_delivery_sends_total", channel="sms", outcome="sent")
    errors = metric(worker, "authn_delivery_sends_total", channel="sms", outcome="error")
    assert sent == len(users) and errors >= len(users)
    print(f"\nprovider down {back - started:.1f} s: {len(users)} codes asked, {len(gateway.sms)} SMS sent "
          f"({len(gateway.requests)} provider calls after it came back, {errors:.0f} refused tries), all within "
          f"{took:.1f} s of its return; tries per code {sorted(r.attempts for r in rows)}; "
          f"the code that expired meanwhile: {short.status}, never sent")


def test_a_pool_process_killed_mid_send_loses_no_code_and_sends_none_twice(start_worker, gateway, broker):
    worker = start_worker(concurrency=2)
    gateway.hold()
    users = [UserFactory() for _ in range(4)]
    ask_codes(users)
    gateway.wait_for_requests(1)  # a send has reached the provider and waits for its answer
    time.sleep(0.3)
    in_flight = len(gateway.requests)
    pids = worker.pool_pids()
    assert pids
    for pid in pids:
        os_kill(pid)
    gateway.release()

    rows = wait_done(users)
    assert [row.status for row in rows] == ["sent"] * len(users)
    assert_each_got_one_working_code(users, gateway)
    assert worker.process.poll() is None  # the worker went on, with new pool processes
    resent = len(gateway.requests) - len(gateway.sms)
    assert resent >= 1  # the killed send was tried again, under its key, and not sent again
    print(f"\n{len(pids)} pool processes SIGKILLed with {in_flight} sends in flight: {len(users)} codes, "
          f"{len(gateway.sms)} SMS sent, {resent} repeated calls absorbed by their idempotency key; "
          f"tries per code {sorted(r.attempts for r in rows)}")


def os_kill(pid: int) -> None:
    import os

    os.kill(pid, signal.SIGKILL)


def test_a_whole_worker_killed_mid_send_leaves_its_tasks_to_another(start_worker, gateway, broker):
    first = start_worker(concurrency=1, CELERY_VISIBILITY_TIMEOUT="3")
    gateway.hold()
    users = [UserFactory() for _ in range(2)]
    ask_codes(users)
    gateway.wait_for_requests(1)
    first.kill()  # the node is gone: main process and pool, nothing acknowledged
    gateway.release()
    killed_at = time.monotonic()

    start_worker(concurrency=1, CELERY_VISIBILITY_TIMEOUT="3")
    rows = wait_done(users, timeout=60)
    assert [row.status for row in rows] == ["sent"] * len(users)
    assert_each_got_one_working_code(users, gateway)
    print(f"\nworker SIGKILLed mid-send: {len(users)} codes sent once each by the next worker "
          f"{time.monotonic() - killed_at:.1f} s later ({len(gateway.requests)} provider calls)")


def test_sigterm_drains_the_running_send_then_exits(start_worker, gateway, broker):
    worker = start_worker(concurrency=1, SMS_TIMEOUT="10")  # the held send must not time out meanwhile
    assert worker.heartbeat.exists()
    gateway.hold()
    user = UserFactory()
    ask_codes([user])
    gateway.wait_for_requests(1)

    worker.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert worker.process.poll() is None  # warm shutdown: waiting for the send
    assert not worker.heartbeat.exists()  # no longer healthy: nothing should count on it
    gateway.release()

    assert worker.process.wait(timeout=20) == 0
    (row,) = Delivery.objects.filter(user=user)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(gateway.requests) == 1


def test_a_sign_up_through_the_worker_sends_a_code_that_verifies(start_worker, gateway, broker):
    start_worker(concurrency=1)
    api = APIClient(REMOTE_ADDR=IP)
    phone = "+447400200003"

    answer = api.post("/api/v1/auth/signup", {"phone_number": phone, "country_id": "GB", "name": "Ann"}, format="json")
    assert answer.status_code == 202

    deadline = time.monotonic() + 20
    while not gateway.sms_to(phone):
        assert time.monotonic() < deadline, "no sign-up SMS"
        time.sleep(0.1)
    (sms,) = gateway.sms_to(phone)
    verified = api.post("/api/v1/auth/signup/verify", {"phone_number": phone, "otp": gateway.code_of(sms)}, format="json")
    assert verified.status_code == 201, verified.content
    (row,) = Delivery.objects.filter(user__phone_number=phone)
    assert (row.purpose, row.status, row.provider, row.attempts) == ("signup", "sent", "gateway", 1)
    assert row.job_key  # made by the worker's task
