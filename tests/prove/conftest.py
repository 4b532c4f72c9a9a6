"""A real gunicorn server on the test database, shared by the proofs in this directory.

The proofs (scripts/prove/proofs.py) are the same functions the full-size script runs;
here they run smaller so the suite stays fast (sizes in each test, full sizes in
scripts/prove/run.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scripts.prove.harness import CaptureGateway, Server, running, transport


@dataclass
class Live:
    server: Server
    gateway: CaptureGateway
    database_url: str

    def make(self, **kwargs):
        return transport("rest", self.server, **kwargs)


def test_database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# Proof servers resend after 1 s and cap sends per hour high, so only the wrong-try
# limits (which these proofs are about) stand in the way. Set through the environment.
PROOF_ENV = {"OTP_RESEND_COOLDOWN": "1", "OTP_MAX_PER_HOUR": "100000"}


@pytest.fixture(scope="session")
def live(django_db_setup, django_db_blocker) -> Iterator[Live]:
    url = test_database_url()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with running(url, os.environ["REDIS_URL"], env=PROOF_ENV, workers=4, threads=4) as (server, gateway):
        yield Live(server=server, gateway=gateway, database_url=url)
        assert not server.server_errors_logged(), server.log_tail()


@dataclass
class LiveGrpc(Live):
    """The same deployment with its gRPC server too; ``make`` gives gRPC transports."""

    @property
    def target(self) -> str:
        assert self.server.grpc is not None
        return self.server.grpc.target

    def make(self, **kwargs):
        return transport("grpc", self.server, **kwargs)

    def make_rest(self, **kwargs):
        return transport("rest", self.server, **kwargs)


@pytest.fixture(scope="session")
def live_grpc(django_db_setup, django_db_blocker) -> Iterator[LiveGrpc]:
    """A small gunicorn and a gRPC server (8 handler threads) beside it, one deployment."""
    url = test_database_url()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with running(url, os.environ["REDIS_URL"], env=PROOF_ENV, workers=1, threads=2, grpc_workers=8) as (server, gateway):
        yield LiveGrpc(server=server, gateway=gateway, database_url=url)
        assert server.grpc is not None
        assert not server.grpc.server_errors_logged(), server.grpc.log_tail()
        assert not server.server_errors_logged(), server.log_tail()
