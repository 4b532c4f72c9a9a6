"""The pumping proof at CI size (scripts/prove/pumping.py runs issue 13's full size):
a live gunicorn deployment with the budgets on, attacked over many numbers of a few
ranges in five countries from many addresses through a trusted proxy while people of an
allowed country sign up — with Redis, and with Redis unreachable."""

from __future__ import annotations

import io
import logging
import os

import pytest

from scripts.prove.harness import free_port, running
from scripts.prove.pumping import BUDGET_ENV, report, simulate

from .conftest import test_database_url as database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("redis", ["up", "unreachable"])
def test_a_pumping_attack_sends_no_more_than_the_budgets_and_people_still_sign_up(django_db_setup, redis):
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redis_url = os.environ["REDIS_URL"] if redis == "up" else f"redis://127.0.0.1:{free_port()}/0"
    with running(database_url(), redis_url, env=BUDGET_ENV, workers=2, threads=4) as (server, gateway):
        figures = simulate(server.base_url, gateway, requests=1_500, numbers=80, prefixes=10, addresses=100,
                           legit=30, clients=6)
        assert not server.server_errors_logged(), server.log_tail()
    printed = io.StringIO()
    holds = report(figures, out=printed)
    print(printed.getvalue())
    assert holds, printed.getvalue()
    assert figures.sms_per_country["NG"] == figures.sms_per_country["PK"] == 0  # not texted at all
    assert figures.sms_per_country["LV"] <= 20 * figures.hours and figures.sms_per_country["US"] <= 100 * figures.hours
    assert figures.answers["429 sms_budget_exceeded"] > 0 and figures.answers["400 invalid_request"] > 0
    assert figures.legit_tried == 30
