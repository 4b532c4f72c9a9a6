"""What every proof and the benchmark share: a real server, a capture SMS gateway, transports.

- ``CaptureGateway``: a tiny HTTP server that plays the SMS provider for
  ``otp.channels.HttpGatewaySmsSender`` (``POST {"to", "message"}``) and keeps what it got,
  so a client in another process (gunicorn) can still read its codes.
- ``Server``: the service under gunicorn in a subprocess, on a free port, with production
  settings (DEBUG off) against the given PostgreSQL and Redis, rate limits raised only
  through the environment.
- ``GrpcService``: the same service's gRPC server (``manage.py grpcserver``) in a
  subprocess, with the same environment; ``running(..., grpc_workers=N)`` starts one
  beside gunicorn, sharing its secret, cache prefix and capture gateway (one deployment).
- ``Transport``: one client call per flow step, answering ``Answer``. ``RestTransport`` is
  REST, ``GrpcTransport`` is gRPC (status name, ``code`` from the trailing metadata);
  ``transport(name, server)`` picks one, so a proof that takes a transport factory runs
  unchanged over either.

Nothing here imports Django: the proofs run as plain scripts and inside pytest alike
(the gRPC client imports only the generated protobuf modules).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from authenticator.grpc.processes import (
    LISTENING as GRPC_LISTENING,  # plain Python, no Django
)

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CODE_RE = re.compile(r"\b(\d{6})\b")

# Limits high enough that a load test or a proof is never stopped by them. They are
# raised through the environment only; the defaults stay as shipped.
UNTHROTTLED = {
    "THROTTLE_AUTH_IP": "1000000/min",
    "THROTTLE_OTP_IP": "1000000/min",
    "THROTTLE_REFRESH_IP": "1000000/min",
    "THROTTLE_USER": "1000000/min",
}


# --- the SMS provider -----------------------------------------------------------------
@dataclass(frozen=True)
class Sms:
    to: str
    message: str
    at: float


class CaptureGateway:
    """Receives the HTTP gateway sender's calls, and mail on a local SMTP server (emails
    are kept as ``Sms`` to the address); ``code_for`` waits for a code."""

    def __init__(self) -> None:
        self.messages: list[Sms] = []
        self._cond = threading.Condition()
        self._smtp: Any = None
        self.smtp_port = 0
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    capture._add(Sms(to=str(body["to"]), message=str(body["message"]), at=time.monotonic()))
                    status = 200
                except (ValueError, KeyError):
                    status = 400
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sms-capture", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/sms"

    @property
    def email_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp_port}"

    def start(self) -> CaptureGateway:
        from email import message_from_bytes, policy

        from aiosmtpd.controller import Controller

        self._thread.start()
        capture = self

        class Mailbox:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mail = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
                body = mail.get_body(preferencelist=("plain",))
                text = body.get_content() if body is not None else ""
                for rcpt in envelope.rcpt_tos:
                    capture._add(Sms(to=rcpt, message=text, at=time.monotonic()))
                return "250 OK"

        self.smtp_port = free_port()
        self._smtp = Controller(Mailbox(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._smtp is not None:
            self._smtp.stop()

    def _add(self, sms: Sms) -> None:
        with self._cond:
            self.messages.append(sms)
            self._cond.notify_all()

    def count_to(self, to: str) -> int:
        with self._cond:
            return sum(1 for m in self.messages if m.to == to)

    def code_for(self, to: str, *, after: int = 0, timeout: float = 10.0) -> str:
        """The code in the first SMS to ``to`` beyond the ``after``-th one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                mine = [m for m in self.messages if m.to == to]
                if len(mine) > after:
                    match = CODE_RE.search(mine[after].message)
                    if not match:
                        raise AssertionError(f"no code in {mine[after].message!r}")
                    return match.group(1)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no SMS #{after + 1} to {to} within {timeout}s")
                self._cond.wait(remaining)


# --- the service under gunicorn -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_environment(database_url: str, redis_url: str, extra: dict[str, str]) -> dict[str, str]:
    """Production settings (DEBUG off) on the given stores; ``extra`` overrides them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update({
        "DEBUG": "0",  # production error handling: no debug pages, no tracebacks
        "SECRET_KEY": "prove-" + secrets.token_hex(24),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": "prove-" + secrets.token_hex(4),
        "HOST": "127.0.0.1",
        # With DEBUG off codes may not go to the console (otp.E004/E005): SMS goes to the
        # capture gateway (``running``, the benchmark), and mail, unless ``running`` gives
        # its SMTP server, to a closed local port — refused, never logged.
        "SMS_SENDER": "otp.channels.HttpGatewaySmsSender",
        "SMS_GATEWAY_URL": "http://127.0.0.1:9/sms",
        "EMAIL_URL": "smtp://127.0.0.1:9",
        # Plain HTTP on loopback, no TLS proxy in front: nothing to redirect to.
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        # The proofs and the benchmark send thousands of codes to numbers of a few ranges:
        # the SMS budgets (on by default) would refuse them. The pumping proof
        # (scripts/prove/pumping.py) turns them on with its own numbers.
        "SMS_BUDGET_PER_COUNTRY_HOUR": "0",
        "SMS_BUDGET_GLOBAL_HOUR": "0",
        "SMS_PREFIX_MAX_NUMBERS": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    })
    return env


def _stop_group(process: subprocess.Popen | None) -> None:
    """SIGTERM the process group (the server and anything it forked), SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Server:
    """The service under gunicorn (a subprocess). ``env`` overrides settings for this run.

    ``grpc`` is the gRPC server started beside it by ``running(..., grpc_workers=N)``."""

    database_url: str
    redis_url: str
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    threads: int = 4
    app: str = "config.wsgi:application"
    log_path: Path | None = None
    process: subprocess.Popen | None = None
    base_url: str = ""
    grpc: GrpcService | None = None
    root: Path = ROOT  # the checkout served (the benchmark serves two side by side)

    def environment(self) -> dict[str, str]:
        return service_environment(self.database_url, self.redis_url, {
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_THREADS": str(self.threads),
            "GUNICORN_ACCESSLOG": os.environ.get("PROVE_ACCESSLOG", ""),
            "GUNICORN_LOGLEVEL": "warning",
            "GUNICORN_MAX_REQUESTS": "0",
            **self.env,
        })

    def start(self, timeout: float = 30.0) -> Server:
        # The port is picked here rather than with PORT=0 so the URL is known without
        # parsing logs; the window between closing the probe socket and gunicorn's bind
        # is tiny, and a clash shows up as a failed start below.
        port = free_port()
        env = self.environment()
        env["PORT"] = str(port)
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix="prove-gunicorn-", suffix=".log")[1])
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.py", self.app],
            cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def server_errors_logged(self) -> list[str]:
        """500s in the server log (Django logs each one), whatever the client saw."""
        text = self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""
        return [line for line in text.splitlines() if "Internal Server Error" in line]

    def stop(self) -> None:
        _stop_group(self.process)




@dataclass
class GrpcService:
    """The service's gRPC server, ``manage.py grpcserver`` (a subprocess: one process, a
    pool of ``workers`` handler threads), on a free port picked by the server itself
    (``--bind 127.0.0.1:0``; the port is read back from its first line)."""

    database_url: str
    redis_url: str
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 8
    grace: float = 5.0
    log_path: Path | None = None
    process: subprocess.Popen | None = None
    target: str = ""  # host:port for grpc channels
    processes: int = 1

    def environment(self) -> dict[str, str]:
        return service_environment(self.database_url, self.redis_url, dict(self.env))

    def start(self, timeout: float = 30.0) -> GrpcService:
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix="prove-grpc-", suffix=".log")[1])
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        start_at = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "grpcserver", "--bind", "127.0.0.1:0", "--workers", str(self.workers),
             "--grace", f"{self.grace:g}", "--processes", str(self.processes)],
            cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"grpcserver exited with {self.process.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(start_at)
                match = GRPC_LISTENING.search(f.read().decode(errors="replace"))
            if match:
                self.target = f"{match.group(1)}:{match.group(2)}"
                if self._serving(timeout=max(0.1, deadline - time.monotonic())):
                    return self
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"grpcserver did not serve within {timeout}s:\n{self.log_tail()}")

    def _serving(self, timeout: float) -> bool:
        """The standard health check answers SERVING (what a Kubernetes probe asks)."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(self.target) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                                   timeout=timeout, wait_for_ready=True)
            except grpc.RpcError:
                return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def server_errors_logged(self) -> list[str]:
        """Calls the server answered INTERNAL (``gRPC <method> failed``, logged with their
        trace) and anything else it logged at ERROR, whatever the client saw."""
        text = self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""
        out = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "Traceback" in line or "ERROR" in line:
                    out.append(line)
                continue
            if isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL"):
                out.append(str(entry.get("message")))
        return out

    def stop(self) -> None:
        _stop_group(self.process)


@contextmanager
def running(database_url: str, redis_url: str, *, env: dict[str, str] | None = None, workers: int = 2,
            threads: int = 4, grpc_workers: int | None = None) -> Iterator[tuple[Server, CaptureGateway]]:
    """A capture gateway and the service wired to it, all stopped on exit.

    With ``grpc_workers`` a gRPC server runs too (``server.grpc``), with the same settings,
    secret and cache prefix as gunicorn: one deployment, so rate-limit counters, OTP
    hashes and tokens are shared across the two transports."""
    gateway = CaptureGateway().start()
    settings = {"SMS_SENDER": "otp.channels.HttpGatewaySmsSender", "SMS_GATEWAY_URL": gateway.url,
                "EMAIL_URL": gateway.email_url, "SECRET_KEY": "prove-" + secrets.token_hex(24),
                "CACHE_KEY_PREFIX": "prove-" + secrets.token_hex(4), **UNTHROTTLED, **(env or {})}
    server = Server(database_url=database_url, redis_url=redis_url, workers=workers, threads=threads, env=settings)
    if grpc_workers:
        server.grpc = GrpcService(database_url=database_url, redis_url=redis_url, workers=grpc_workers, env=settings)
    try:
        server.start()
        if server.grpc is not None:
            server.grpc.start()
        yield server, gateway
    finally:
        if server.grpc is not None:
            server.grpc.stop()
        server.stop()
        gateway.stop()


def database_url_for(name: str, template: str) -> str:
    """``template`` (a postgres:// URL) with its database swapped for ``name``."""
    parts = urlsplit(template)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


# --- transports -----------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One call's outcome, transport-neutral: ``code`` is the domain error code (None on success)."""

    ok: bool
    status: int | str  # HTTP status, or a gRPC status name
    code: str | None
    body: dict[str, Any]
    seconds: float


class Transport(Protocol):
    name: str

    def signup(self, *, phone_number: str, country_id: str, name: str, **extra: Any) -> Answer: ...

    def signup_verify(self, *, phone_number: str, otp: str, device: str = "") -> Answer: ...

    def otp_request(self, **identifier: str) -> Answer: ...

    def otp_verify(self, *, otp: str, device: str = "", **identifier: str) -> Answer: ...

    def close(self) -> None: ...


class RestTransport:
    name = "rest"

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=base_url, headers=headers or {}, timeout=timeout)

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        started = time.perf_counter()
        response = self.client.post(path, json=body, headers=headers)
        seconds = time.perf_counter() - started
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {"_raw": response.text[:200]}
        ok = 200 <= response.status_code < 300
        return Answer(ok=ok, status=response.status_code, code=None if ok else data.get("code"), body=data, seconds=seconds)

    def signup(self, *, phone_number: str, country_id: str, name: str, **extra: Any) -> Answer:
        return self._post("/api/v1/auth/signup", {"phone_number": phone_number, "country_id": country_id, "name": name, **extra})

    def signup_verify(self, *, phone_number: str, otp: str, device: str = "") -> Answer:
        return self._post("/api/v1/auth/signup/verify", {"phone_number": phone_number, "otp": otp, "device": device})

    def otp_request(self, headers: dict[str, str] | None = None, **identifier: str) -> Answer:
        return self._post("/api/v1/auth/otp", dict(identifier), headers)

    def otp_verify(self, *, otp: str, device: str = "", headers: dict[str, str] | None = None, **identifier: str) -> Answer:
        return self._post("/api/v1/auth/otp/verify", {**identifier, "otp": otp, "device": device}, headers)

    def close(self) -> None:
        self.client.close()


# Each client its own connection (grpc would otherwise share one subchannel between
# channels to one target): 50 parallel clients are 50 connections, as over REST.
GRPC_CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


def grpc_answer_of_error(error: Any, seconds: float) -> Answer:
    """An ``Answer`` for a failed call: status name, ``code`` (and field errors,
    retry-after) from the trailing metadata, the detail as REST's ``detail``."""
    trailers = {k: v for k, v in (error.trailing_metadata() or ()) if isinstance(v, str)}
    body: dict[str, Any] = {"code": trailers.get("code"), "detail": error.details()}
    if "errors" in trailers:
        try:
            body["errors"] = json.loads(trailers["errors"])
        except ValueError:
            body["errors"] = trailers["errors"]
    if "retry-after" in trailers:
        body["retry_after"] = trailers["retry-after"]
    return Answer(ok=False, status=error.code().name, code=trailers.get("code"), body=body, seconds=seconds)


class GrpcTransport:
    """The same calls over ``authenticator.v1.Authenticator``. ``headers`` become metadata
    (lower-cased keys: ``X-Forwarded-For`` is ``x-forwarded-for``); ``Answer.status`` is
    the gRPC status name (``OK`` on success) and ``body`` the answer as a dict with the
    proto field names (REST's names)."""

    name = "grpc"

    def __init__(self, target: str, *, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        import grpc

        from authenticator.grpc.v1 import authenticator_pb2, authenticator_pb2_grpc

        self._grpc = grpc
        self.pb = authenticator_pb2
        self.channel = grpc.insecure_channel(target, options=GRPC_CHANNEL_OPTIONS)
        self.stub = authenticator_pb2_grpc.AuthenticatorStub(self.channel)
        self.metadata = self._metadata(headers)
        self.timeout = timeout

    @staticmethod
    def _metadata(headers: dict[str, str] | None) -> list[tuple[str, str]]:
        return [(k.lower(), v) for k, v in (headers or {}).items()]

    def _call(self, method: Any, request: Any, headers: dict[str, str] | None = None) -> Answer:
        from google.protobuf.json_format import MessageToDict

        started = time.perf_counter()
        try:
            response, _call = method.with_call(request, metadata=self.metadata + self._metadata(headers),
                                               timeout=self.timeout)
        except self._grpc.RpcError as error:
            return grpc_answer_of_error(error, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return Answer(ok=True, status="OK", code=None, body=MessageToDict(response, preserving_proto_field_name=True),
                      seconds=seconds)

    def signup(self, *, phone_number: str, country_id: str, name: str, **extra: Any) -> Answer:
        return self._call(self.stub.SignUp, self.pb.SignUpRequest(phone_number=phone_number, country_id=country_id,
                                                                  name=name, **extra))

    def signup_verify(self, *, phone_number: str, otp: str, device: str = "") -> Answer:
        return self._call(self.stub.VerifySignUp, self.pb.VerifySignUpRequest(phone_number=phone_number, otp=otp,
                                                                              device=device))

    def otp_request(self, headers: dict[str, str] | None = None, **identifier: str) -> Answer:
        return self._call(self.stub.RequestOtp, self.pb.RequestOtpRequest(**identifier), headers)

    def otp_verify(self, *, otp: str, device: str = "", headers: dict[str, str] | None = None, **identifier: str) -> Answer:
        return self._call(self.stub.VerifyOtp, self.pb.VerifyOtpRequest(otp=otp, device=device, **identifier), headers)

    def close(self) -> None:
        self.channel.close()


def grpc_target(server: Server | GrpcService) -> str:
    """Where ``server``'s gRPC API listens: a ``GrpcService``, or the one started beside gunicorn."""
    grpc_service = server if isinstance(server, GrpcService) else server.grpc
    if grpc_service is None or not grpc_service.target:
        raise ValueError("no gRPC server: start it with running(..., grpc_workers=N) or GrpcService(...).start()")
    return grpc_service.target


def transport(name: str, server: Server | GrpcService, **kwargs: Any) -> Transport:
    """A client of ``server`` over ``name`` ("rest" or "grpc"), with the same ``Answer`` codes."""
    if name == "rest":
        assert isinstance(server, Server), "REST needs the gunicorn server"
        return RestTransport(server.base_url, **kwargs)
    if name == "grpc":
        return GrpcTransport(grpc_target(server), **kwargs)
    raise ValueError(f"unknown transport {name!r}")


def wrong_code(right: str) -> str:
    """A code that is certainly wrong."""
    return f"{(int(right) + 1) % 10**len(right):0{len(right)}d}"


def unique_phone(n: int, prefix: str = "+44740") -> str:
    """Distinct valid UK mobile numbers (+44 7400 000000 … +44 7409 999999)."""
    return f"{prefix}{n % 10_000_000:07d}"
