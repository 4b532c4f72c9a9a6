"""Hostile input at every endpoint of the live server; phone spellings that mean one number."""

from __future__ import annotations

import os

import pytest

from scripts.prove.harness import running
from scripts.prove.proofs import SPELLINGS, hostile_input, phone_spellings, sign_up

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.slow
def test_hostile_input_never_gets_a_server_error_and_errors_stay_json(live):
    tr = live.make()
    token = sign_up(tr, live.gateway, "+447400555000").body["tokens"]["access_token"]
    tr.close()
    result = hostile_input(live.server.base_url, bearer=token, full=False)
    print(f"\nhostile input: {result.requests} requests, statuses {result.statuses}")
    assert result.server_errors == []
    assert result.not_json == []
    assert set(result.statuses) <= {200, 202, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429, 431, 414}, result.statuses


def test_equivalent_phone_spellings_are_one_number_and_share_one_send_limit(live):
    # Its own server with the shipped 60 s resend cooldown (the shared one resends after 1 s).
    with running(live.database_url, os.environ["REDIS_URL"], workers=1, threads=2) as (server, _gateway):
        result = phone_spellings(server.base_url, live.database_url)
    assert result.first_status == 202
    assert result.later_statuses == {spelling: 429 for spelling in SPELLINGS}
    assert result.stored == ["+447400123456"]
