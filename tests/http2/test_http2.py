"""The same Django app over ASGI with hypercorn: HTTP/2 (cleartext and TLS) and HTTP/1.1 on one port."""

from __future__ import annotations

import asyncio
import socket
import ssl

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from django.db import connection

from accounts.models import UserStatus
from tests.cli.conftest import subprocess_env
from tests.http2.conftest import COMMAND, ROOT, stop

pytestmark = [pytest.mark.slow]

PHONE = "+447400123460"


def sign_up_and_sign_in(client: httpx.Client, sms_gateway) -> dict:
    """Sign up, verify, ask for a sign-in code and sign in; every answer must be HTTP/2."""
    answers = []
    response = client.post("/api/v1/auth/signup", json={"phone_number": PHONE, "country_id": "GB", "name": "Eve"})
    answers.append(response)
    assert response.status_code == 202, response.text

    response = client.post("/api/v1/auth/signup/verify",
                           json={"phone_number": PHONE, "otp": sms_gateway.wait_for_code(PHONE), "device": "h2 test"})
    answers.append(response)
    assert response.status_code == 201, response.text
    signed_up = response.json()
    assert signed_up["user"]["status"] == UserStatus.ACTIVE

    response = client.post("/api/v1/auth/otp", json={"phone_number": PHONE})
    answers.append(response)
    assert response.status_code == 202, response.text

    response = client.post("/api/v1/auth/otp/verify", json={"phone_number": PHONE, "otp": sms_gateway.wait_for_code(PHONE, after=1)})
    answers.append(response)
    assert response.status_code == 200, response.text
    signed_in = response.json()
    assert signed_in["user"]["id"] == signed_up["user"]["id"]

    response = client.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {signed_in['tokens']['access_token']}"})
    answers.append(response)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 2

    assert [r.http_version for r in answers] == ["HTTP/2"] * 5
    return signed_in


def test_sign_up_and_sign_in_over_cleartext_http2_with_prior_knowledge(h2_server, sms_gateway):
    server = h2_server()
    with httpx.Client(http1=False, http2=True, base_url=server.base_url, timeout=20) as client:
        sign_up_and_sign_in(client, sms_gateway)
        # A domain error comes back the same way: JSON with its code, over HTTP/2.
        response = client.post("/api/v1/auth/otp/verify", json={"phone_number": PHONE, "otp": "000000"})
        assert response.http_version == "HTTP/2"
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_otp"


def test_the_same_port_answers_http1(h2_server):
    server = h2_server()
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        response = client.post("/api/v1/auth/otp", json={"email": "nobody@example.com"})
    assert (response.http_version, response.status_code) == ("HTTP/1.1", 202)
    assert response.json()["status"] == "otp_sent"


def test_http1_upgrade_to_h2c(h2_server):
    server = h2_server()
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    settings = conn.initiate_upgrade_connection()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"upgrade: h2c" in head.lower()

        # From here on the connection is HTTP/2; the answer to the GET comes on stream 1.
        sock.sendall(conn.data_to_send())
        status, body, ended = None, b"", False
        while not ended:
            for event in conn.receive_data(rest):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == 1:
                    status = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == 1:
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == 1:
                    ended = True
            sock.sendall(conn.data_to_send())
            if not ended:
                rest = sock.recv(65536)
                assert rest, "connection closed before the answer ended"
    assert (status, body) == (b"200", b'{"status": "ok"}')


def alpn_of(port: int, cafile: str, protocols: list[str]) -> str | None:
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(protocols)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.selected_alpn_protocol()


def test_sign_up_and_sign_in_over_tls_with_alpn_h2(h2_server, sms_gateway, self_signed):
    server = h2_server(H2_CERTFILE=str(self_signed.certfile), H2_KEYFILE=str(self_signed.keyfile))
    assert server.scheme == "https"
    cafile = str(self_signed.certfile)
    assert alpn_of(server.port, cafile, ["h2", "http/1.1"]) == "h2"
    assert alpn_of(server.port, cafile, ["http/1.1"]) == "http/1.1"

    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=cafile),
                      base_url=f"https://localhost:{server.port}", timeout=20) as client:
        sign_up_and_sign_in(client, sms_gateway)
    with httpx.Client(verify=ssl.create_default_context(cafile=cafile), base_url=f"https://localhost:{server.port}") as client:
        response = client.get("/healthz")
    assert (response.http_version, response.status_code) == ("HTTP/1.1", 200)


def test_concurrent_streams_share_a_small_database_pool(h2_server, sms_gateway):
    """Django runs each sync view in its own thread; each must give its connection back
    to the pool, or 40 parallel streams over a 3-connection pool would time out."""
    # libpq names the server's connections after PGAPPNAME, so they can be counted.
    server = h2_server(DB_POOL_MAX_SIZE="3", DB_POOL_TIMEOUT="5", PGAPPNAME="h2-pool-test")
    with httpx.Client(http1=False, http2=True, base_url=server.base_url, timeout=20) as client:
        token = sign_up_and_sign_in(client, sms_gateway)["tokens"]["access_token"]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(http1=False, http2=True, base_url=server.base_url, timeout=30,
                                     limits=httpx.Limits(max_connections=1)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            return await asyncio.gather(*(client.get("/api/v1/me/sessions", headers=headers) for _ in range(40)))

    responses = asyncio.run(burst())
    assert [(r.http_version, r.status_code) for r in responses] == [("HTTP/2", 200)] * 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'h2-pool-test'")
        opened = cursor.fetchone()[0]
    assert 1 <= opened <= 3  # never more than the pool holds


def test_half_a_tls_configuration_refuses_to_start(self_signed):
    import subprocess

    env = subprocess_env(H2_BIND="127.0.0.1:0", H2_CERTFILE=str(self_signed.certfile))
    run = subprocess.run(COMMAND, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "Set both H2_CERTFILE and H2_KEYFILE for TLS, or neither for cleartext." in run.stderr


def test_sigterm_stops_the_server_cleanly(h2_server):
    server = h2_server()
    with httpx.Client(http1=False, http2=True, base_url=server.base_url) as client:
        assert client.get("/healthz").status_code == 200
    stop(server)
    log = "".join(server.log)
    assert server.process.returncode == 0, log
    assert "Lifespan" not in log and "Traceback" not in log
