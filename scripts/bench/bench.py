"""Benchmark: the service's full flows against the framework's limit, in one run.

    make bench                      # 10,000 seeded users, 16 virtual users, 20 s per phase
    make bench BENCH_ARGS="--users 1000000 --duration 60"

1. Prepares a benchmark database of its own (``authn_bench_<users>``, beside DATABASE_URL's
   database): migrates it and seeds ``--users`` users, as many login states and OTP rows
   (COPY). Seeding is done once per size; later runs reuse it.
2. Starts a capture SMS gateway (asyncio, in this process) and the service under gunicorn
   on PostgreSQL and Redis, with the in-process Tokenizer and the HTTP gateway sender.
   Rate limits are raised through the environment only.
3. Phase "service": ``--vus`` virtual users run, for ``--duration`` seconds, full flows:
   OTP sign-in (otp request + otp/verify) of seeded users, then (for half as long) sign-up
   (signup + signup/verify) of new numbers.
4. Phase "grpc": the same virtual users run the same flows over gRPC (grpc.aio, one
   channel and connection per virtual user, as each REST virtual user has its own httpx
   client) against ``manage.py grpcserver`` with the same settings and the same shape as
   gunicorn: ``--processes`` = gunicorn's ``--workers``, ``--workers`` (threads) = its
   ``--threads``, on one port (``--grpc-processes`` / ``--grpc-threads`` change it).
   Both servers stay up and the two transports take turns (``--rounds`` each, in ABBA
   order), so load from elsewhere on a shared machine falls on both alike.
5. Phase "limit": the same virtual users post to a bare Django + DRF endpoint doing one
   indexed SELECT, one INSERT and one Redis round trip (scripts/bench/baseline.py), under
   the same gunicorn configuration: the framework's limit for one sign-in step.
6. Prints flows/s, requests/s, p50/p95/p99 per step, errors, the ratio of sign-in
   flows/s to the limit's flows/s, and gRPC sign-in flows/s against REST's.

The load generator is an asyncio client (httpx, grpc.aio) in this process, on the same
machine as the server: on a 2-core machine they share the cores, which the output says.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg

from authenticator.grpc.v1 import authenticator_pb2 as pb
from authenticator.grpc.v1 import authenticator_pb2_grpc
from scripts.prove.harness import (
    GRPC_CHANNEL_OPTIONS,
    ROOT,
    UNTHROTTLED,
    GrpcService,
    Server,
    database_url_for,
    unique_phone,
)

from .seed import seed, seed_phone
from .wire import CountingProxy

CODE_RE = re.compile(rb"\b(\d{6})\b")
# New numbers for sign-ups (+44 741x xxxxxx), from a random point so reruns on the same
# database rarely meet numbers signed up before (those would get no code).
NEW_PHONES = itertools.count(random.SystemRandom().randrange(9_000_000))


# --- capture SMS gateway on the client's own event loop ---------------------------------
class AsyncCapture:
    """A minimal HTTP/1.1 server for HttpGatewaySmsSender's POSTs; codes wake their waiters."""

    def __init__(self) -> None:
        self.codes: dict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self.port = 0
        self.received = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._server = server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b"{}"
                data = json.loads(body)
                match = CODE_RE.search(data.get("message", "").encode())
                if match:
                    self.codes[data["to"]].put_nowait(match.group(1).decode())
                self.received += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def code_for(self, to: str, timeout: float = 10.0) -> str:
        return await asyncio.wait_for(self.codes[to].get(), timeout)


# --- figures ------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    flows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    turns: list[float] = field(default_factory=list)  # flows/s of each turn it took

    def flows_per_s(self, kind: str) -> float:
        return self.flows[kind] / self.seconds if self.seconds else 0.0

    def report(self) -> list[str]:
        lines = [(f"  {self.name}: {self.seconds:.1f}s, {self.requests} requests ({self.requests / self.seconds:.1f} req/s), "
                  f"errors {dict(self.errors) or 0}")]
        for kind, n in sorted(self.flows.items()):
            lines.append(f"    flows {kind}: {n} ({self.flows_per_s(kind):.1f}/s)")
        for step, values in sorted(self.steps.items()):
            lines.append(f"    step {step:<16} n={len(values):<6} p50 {pct(values, 50):6.1f} ms  p95 {pct(values, 95):6.1f} ms  "
                         f"p99 {pct(values, 99):6.1f} ms")
        return lines


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


# --- where the machine's CPU goes, per phase -----------------------------------------------
class CpuSampler:
    """Samples /proc twice a second and charges each process's CPU time to the phase
    running at the time, by kind: the service, PostgreSQL, Redis, this load generator.
    Linux only (elsewhere it reports nothing)."""

    KINDS = (("baseline", "limit server"), ("gunicorn", "gunicorn"), ("grpcserver", "gRPC server"),
             ("postgres", "PostgreSQL"), ("redis-server", "Redis"))

    def __init__(self) -> None:
        self.current: str | None = None
        self.used: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.seconds: dict[str, float] = defaultdict(float)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def start(self) -> None:
        if os.path.isdir("/proc/self"):
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _kind(self, pid: str, cmdline: str) -> str | None:
        if pid == str(os.getpid()):
            return "load generator"
        for needle, kind in self.KINDS:
            if needle in cmdline:
                return kind
        return None

    def _read(self) -> dict[str, tuple[str, float]]:
        seen = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            kind = self._kind(pid, cmdline)
            if kind:
                seen[pid] = (kind, (int(fields[11]) + int(fields[12])) / self._tick)
        return seen

    def _run(self) -> None:
        before, at = self._read(), time.monotonic()
        while not self._stop.wait(0.5):
            now, t = self._read(), time.monotonic()
            phase = self.current
            if phase is not None:
                self.seconds[phase] += t - at
                for pid, (kind, cpu) in now.items():
                    if pid in before:
                        self.used[phase][kind] += max(0.0, cpu - before[pid][1])
            before, at = now, t

    def report(self) -> list[str]:
        lines = []
        for phase, used in self.used.items():
            seconds = self.seconds[phase] or 1.0
            cores = ", ".join(f"{kind} {cpu / seconds:.2f}" for kind, cpu in sorted(used.items(), key=lambda kv: -kv[1]))
            lines.append(f"  {phase}: {sum(used.values()) / seconds:.2f} of {os.cpu_count()} cores ({cores})")
        return lines


CPU = CpuSampler()


# --- one virtual user's client, per transport ---------------------------------------------
REST_CALLS = {"signup": ("/api/v1/auth/signup", 202), "signup/verify": ("/api/v1/auth/signup/verify", 201),
              "otp": ("/api/v1/auth/otp", 202), "otp/verify": ("/api/v1/auth/otp/verify", 200), "floor": ("/floor", 202)}


class RestClient:
    """A step is one POST; it failed unless the status is the step's success status."""

    failures: tuple[type[Exception], ...] = (httpx.HTTPError,)

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def call(self, step: str, body: dict[str, Any]) -> str | None:
        """None on success, else what went wrong (status and code)."""
        path, ok = REST_CALLS[step]
        response = await self.http.post(path, json=body)
        if response.status_code == ok:
            return None
        return f"{response.status_code} {response.json().get('code') if response.content else ''}"

    async def aclose(self) -> None:
        await self.http.aclose()


class GrpcClient:
    """A step is one unary RPC on this virtual user's own channel (its own connection)."""

    failures: tuple[type[Exception], ...] = ()  # every failure is an AioRpcError with a status

    def __init__(self, target: str) -> None:
        self.channel = grpc.aio.insecure_channel(target, options=GRPC_CHANNEL_OPTIONS)
        stub = authenticator_pb2_grpc.AuthenticatorStub(self.channel)
        self.calls = {"signup": (stub.SignUp, pb.SignUpRequest), "signup/verify": (stub.VerifySignUp, pb.VerifySignUpRequest),
                      "otp": (stub.RequestOtp, pb.RequestOtpRequest), "otp/verify": (stub.VerifyOtp, pb.VerifyOtpRequest)}

    async def call(self, step: str, body: dict[str, Any]) -> str | None:
        method, message = self.calls[step]
        try:
            await method(message(**body), timeout=30)
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name} {dict(error.trailing_metadata() or ()).get('code') or ''}"
        return None

    async def aclose(self) -> None:
        await self.channel.close()


Client = RestClient | GrpcClient


# --- virtual users ------------------------------------------------------------------------
async def timed(phase: Phase, client: Client, step: str, body: dict[str, Any]) -> bool:
    started = time.perf_counter()
    try:
        error = await client.call(step, body)
    except client.failures as exc:
        phase.errors[f"{step}: {type(exc).__name__}"] += 1
        return False
    phase.steps[step].append(time.perf_counter() - started)
    phase.requests += 1
    if error is not None:
        phase.errors[f"{step}: {error}"] += 1
        return False
    return True


async def service_vu(n: int, phase: Phase, client: Client, capture: AsyncCapture, deadline: float, users: int,
                     signup_share: float, rng: random.Random, vus: int, offset: int) -> None:
    """Full flows in a loop. Sign-ins take seeded users from this VU's own slice, in turn,
    so no two VUs race for one account and the 1 s resend cooldown is never hit."""
    try:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            if rng.random() < signup_share:
                phone = unique_phone(next(NEW_PHONES), prefix="+44741")
                started = time.perf_counter()
                if not await timed(phase, client, "signup", {"phone_number": phone, "country_id": "GB", "name": "Bench"}):
                    continue
                try:
                    code = await capture.code_for(phone)
                except TimeoutError:
                    phase.errors["signup: no code within 10 s"] += 1
                    continue
                if not await timed(phase, client, "signup/verify", {"phone_number": phone, "otp": code, "device": "bench"}):
                    continue
                phase.steps["flow signup"].append(time.perf_counter() - started)
                phase.flows["signup"] += 1
            else:
                phone = seed_phone(n + vus * ((offset + i) % max(1, users // vus)))
                started = time.perf_counter()
                if not await timed(phase, client, "otp", {"phone_number": phone}):
                    continue
                try:
                    code = await capture.code_for(phone)
                except TimeoutError:
                    phase.errors["otp: no code within 10 s"] += 1
                    continue
                waited = time.perf_counter()
                if not await timed(phase, client, "otp/verify", {"phone_number": phone, "otp": code, "device": "bench"}):
                    continue
                phase.steps["flow signin"].append(time.perf_counter() - started)
                phase.steps["code delivery"].append(waited - started)
                phase.flows["signin"] += 1
    finally:
        await client.aclose()


async def limit_vu(phase: Phase, base_url: str, deadline: float, users: int, rng: random.Random) -> None:
    client = RestClient(base_url)
    try:
        while time.monotonic() < deadline:
            if await timed(phase, client, "floor", {"phone_number": seed_phone(rng.randrange(users))}):
                phase.flows["floor"] += 1
    finally:
        await client.aclose()


async def run_phase(name: str | Phase, vus: int, duration: float, make) -> Phase:
    """``vus`` virtual users for ``duration`` seconds; given a ``Phase``, adds to its figures."""
    phase = name if isinstance(name, Phase) else Phase(name)
    started = time.monotonic()
    deadline = started + duration
    CPU.current = None if phase.name == "warm-up" else phase.name
    flows_before = sum(phase.flows.values())
    try:
        await asyncio.gather(*(make(n, phase, deadline) for n in range(vus)))
    finally:
        CPU.current = None
    seconds = time.monotonic() - started
    phase.seconds += seconds
    phase.turns.append((sum(phase.flows.values()) - flows_before) / seconds)
    return phase


async def alternate(phases: list[tuple[Phase, Any]], vus: int, duration: float, rounds: int) -> None:
    """Each phase runs ``duration`` seconds in all, in ``rounds`` turns taken in ABBA
    order, so load from elsewhere on the machine falls on every phase alike."""
    for r in range(rounds):
        for phase, make in (phases if r % 2 == 0 else phases[::-1]):
            await run_phase(phase, vus, duration / rounds, make(r))


# --- the run ------------------------------------------------------------------------------
def prepare(database_url: str, users: int, root: Path = ROOT) -> dict[str, float]:
    from scripts.prove.run import prepare_database

    prepare_database(database_url, root)
    with psycopg.connect(database_url, autocommit=True) as db:
        from .baseline import TABLE_DDL

        db.execute(TABLE_DDL)
    return seed(database_url, users)


def server_common(args: argparse.Namespace) -> dict[str, str]:
    """Settings the service and the limit endpoint share: the same pool, the same timeout."""
    return {"DB_POOL_MAX_SIZE": str(args.threads + 2), "GUNICORN_TIMEOUT": "60"}


def service_settings(args: argparse.Namespace, capture: AsyncCapture) -> dict[str, str]:
    """The service's environment: limits raised through the environment only, SMS to the
    capture gateway, the in-process Tokenizer, errors-only logs."""
    return {
        **UNTHROTTLED, **server_common(args), "SMS_SENDER": "otp.channels.HttpGatewaySmsSender",
        "SMS_GATEWAY_URL": capture.url, "OTP_RESEND_COOLDOWN": "1", "OTP_MAX_PER_HOUR": "1000000",
        "OTP_ACCOUNT_MAX_FAILURES": "1000000", "TOKENIZER_URL": "", "LOG_LEVEL": "ERROR",
    }


async def bench(args: argparse.Namespace) -> int:
    database_url = database_url_for(args.db_name or f"authn_bench_{args.users}", args.database_url)
    print(f"== database {database_url.rsplit('/', 1)[1]}: seeding {args.users:,} users (+ login states, OTP rows) if missing")
    seeded = prepare(database_url, args.users)
    print(f"   rows: users {seeded['users']:,}, login_states {seeded['login_states']:,}, otps {seeded['otps']:,} "
          f"({seeded['seconds']:.1f}s)")
    capture = AsyncCapture()
    await capture.start()
    common = server_common(args)
    service_env = service_settings(args, capture)
    service = Server(database_url=database_url, redis_url=args.redis_url, workers=args.workers, threads=args.threads,
                     env=service_env)
    # The same shape as gunicorn: as many processes, as many threads each, one port; each
    # process grows its own database pool to its threads + background.
    grpc_processes = args.grpc_processes or args.workers
    per_process = args.grpc_threads or args.threads
    grpc_servers = [GrpcService(database_url=database_url, redis_url=args.redis_url, workers=per_process,
                                processes=grpc_processes, env=service_env)]
    limit = Server(database_url=database_url, redis_url=args.redis_url, workers=args.workers, threads=args.threads,
                   app="scripts.bench.baseline:application", env={**common, "DJANGO_SETTINGS_MODULE": "scripts.bench.baseline"})
    cpus = os.cpu_count()
    grpc_shape = f"grpcserver --processes {grpc_processes} --workers {per_process} (threads each), one port"
    print(f"== machine: {cpus} CPU cores shared by gunicorn ({args.workers} workers x {args.threads} threads), PostgreSQL, Redis "
          f"and this load generator (one asyncio process, {args.vus} virtual users): figures are a lower bound.")
    print(f"== gRPC: {grpc_shape}; one channel (connection) per virtual user; REST and gRPC take turns "
          f"({args.rounds} rounds each, ABBA order) so load from elsewhere falls on both alike")
    phases = set(args.phases.split(","))
    rng = random.Random(args.seed)
    offset = rng.randrange(1_000_000)

    def flows(share: float, shift: int, client_for=lambda n: RestClient(service.base_url)):
        return lambda n, ph, dl: service_vu(n, ph, client_for(n), capture, dl, args.users, share, rng, args.vus,
                                            offset + shift)

    def grpc_client(n: int) -> GrpcClient:
        return GrpcClient(grpc_servers[n % len(grpc_servers)].target)

    svc = Phase("service: OTP sign-in (request + verify)")
    sup = Phase("service: sign-up (signup + verify)")
    gsvc = Phase("grpc: OTP sign-in (RequestOtp + VerifyOtp)")
    gsup = Phase("grpc: sign-up (SignUp + VerifySignUp)")
    try:
        # Both servers are up (idle ones cost no CPU); the transports take turns.
        await asyncio.to_thread(service.start)
        for grpc_server in grpc_servers:
            await asyncio.to_thread(grpc_server.start)
        # Warm up: imports, pools, first queries — not measured.
        signin = [(svc, lambda r: flows(0.0, 100 + 1000 * r))] if "rest" in phases else []
        signup = [(sup, lambda r: flows(1.0, 0))] if "rest" in phases else []
        if "rest" in phases:
            await run_phase("warm-up", args.vus, min(3.0, args.duration), flows(0.5, 0))
        if "grpc" in phases:
            await run_phase("warm-up", args.vus, min(3.0, args.duration), flows(0.5, 0, grpc_client))
            signin.append((gsvc, lambda r: flows(0.0, 600 + 1000 * r, grpc_client)))
            signup.append((gsup, lambda r: flows(1.0, 0, grpc_client)))
        # Each turn starts the virtual users at other seeded users (see service_vu).
        await alternate(signin, args.vus, args.duration, args.rounds)
        await alternate(signup, args.vus, args.duration / 2, args.rounds)
    finally:
        for grpc_server in grpc_servers:
            await asyncio.to_thread(grpc_server.stop)
        await asyncio.to_thread(service.stop)
    grpc_logged = [line for grpc_server in grpc_servers for line in grpc_server.server_errors_logged()]
    statements, per_kind = await statements_per_sign_in(args, database_url, service_env, capture)
    floor = Phase("limit (bare Django + DRF: 1 SELECT, 1 INSERT, 1 Redis)")
    if "limit" in phases:
        await asyncio.to_thread(limit.start)
        try:
            await run_phase("warm-up", args.vus, min(3.0, args.duration),
                            lambda n, ph, dl: limit_vu(ph, limit.base_url, dl, args.users, rng))
            await run_phase(floor, args.vus, args.duration, lambda n, ph, dl: limit_vu(ph, limit.base_url, dl, args.users, rng))
        finally:
            await asyncio.to_thread(limit.stop)
    print("== CPU by phase (cores in use, sampled from /proc)")
    print("\n".join(CPU.report()))
    print("== results")
    for phase in (svc, sup, gsvc, gsup, floor):
        if phase.seconds:
            print("\n".join(phase.report()))
    signin = svc.flows_per_s("signin")
    limit_rate = floor.flows_per_s("floor")
    ratio = signin / limit_rate if limit_rate else 0.0
    verify_p99 = pct(svc.steps.get("otp/verify", []), 99)
    request_p99 = pct(svc.steps.get("otp", []), 99)
    grpc_signin = gsvc.flows_per_s("signin")
    grpc_vs_rest = grpc_signin / signin if signin else 0.0
    errors = (sum(svc.errors.values()) + sum(sup.errors.values()) + sum(gsvc.errors.values()) + sum(gsup.errors.values())
              + sum(floor.errors.values()) + len(grpc_logged))
    print("== against the targets")
    print(f"  full OTP sign-in flows/s: {signin:.1f} vs the limit's {limit_rate:.1f}/s -> {ratio * 100:.0f} % (target >= 40 %)")
    print(f"  p99 at {args.vus} virtual users: otp request {request_p99:.1f} ms, otp verify {verify_p99:.1f} ms (target <= 50 ms)")
    print(f"  sign-up flows/s: {sup.flows_per_s('signup'):.1f}; errors in all phases: {errors}")
    print(f"  SQL statements per full sign-in, on the wire: {statements:g} ({kinds(per_kind)}); "
          "Django's count: tests/api/test_budgets.py")
    print(f"  gRPC vs REST, full OTP sign-in flows/s: {grpc_signin:.1f} vs {signin:.1f} -> {grpc_vs_rest:.2f}x "
          f"({'faster' if grpc_vs_rest > 1 else 'not faster'}); p99 otp {pct(gsvc.steps.get('otp', []), 99):.1f} vs "
          f"{request_p99:.1f} ms, verify {pct(gsvc.steps.get('otp/verify', []), 99):.1f} vs {verify_p99:.1f} ms; "
          f"sign-up flows/s {gsup.flows_per_s('signup'):.1f} vs {sup.flows_per_s('signup'):.1f}; gRPC server: {grpc_shape}")
    if grpc_logged:
        print(f"  gRPC server logged {len(grpc_logged)} errors: {grpc_logged[:3]}")
    print(json.dumps({"users": args.users, "vus": args.vus, "duration": args.duration, "signin_flows_per_s": round(signin, 2),
                      "signup_flows_per_s": round(sup.flows_per_s("signup"), 2), "limit_flows_per_s": round(limit_rate, 2),
                      "ratio": round(ratio, 3), "signin_rps": round(svc.requests / svc.seconds, 1),
                      "otp_p99_ms": round(request_p99, 1), "verify_p99_ms": round(verify_p99, 1),
                      "grpc_signin_flows_per_s": round(grpc_signin, 2), "grpc_signup_flows_per_s": round(gsup.flows_per_s("signup"), 2),
                      "grpc_vs_rest": round(grpc_vs_rest, 3), "grpc_processes": grpc_processes,
                      "grpc_threads_per_process": per_process, "statements_per_sign_in": statements, "errors": errors}))
    return 0 if not errors else 1


# --- SQL statements per sign-in, counted on the wire -----------------------------------------
async def statements_per_sign_in(args: argparse.Namespace, database_url: str, env: dict[str, str], capture: AsyncCapture,
                                 root: Path = ROOT, flows: int = 20) -> tuple[float, dict[str, float]]:
    """Statements PostgreSQL runs per full OTP sign-in (request, the background job that
    makes the code, verify), all kinds counted (BEGIN and COMMIT too): ``flows`` sign-ins
    one after another against a server of checkout ``root`` (one worker, its own pool)
    whose every connection goes through a ``CountingProxy``."""
    proxy = CountingProxy(database_url).start()
    server = Server(database_url=proxy.url, redis_url=args.redis_url, workers=1, threads=2, env=env, root=root)
    phase = Phase("count")
    try:
        await asyncio.to_thread(server.start)
        client = RestClient(server.base_url)
        try:
            async def sign_in(i: int) -> None:
                phone = seed_phone(args.users - 1 - i)  # the far end of the table: no other phase's users
                if not await timed(phase, client, "otp", {"phone_number": phone}):
                    return
                code = await capture.code_for(phone)
                if await timed(phase, client, "otp/verify", {"phone_number": phone, "otp": code, "device": "bench"}):
                    phase.flows["signin"] += 1

            for i in range(2):  # warm-up: the pool's connections, the first queries
                await sign_in(i)
            await asyncio.sleep(0.5)
            proxy.reset()
            for i in range(2, 2 + flows):
                await sign_in(i)
            counts = proxy.snapshot()
            while True:  # until the last background job is done
                await asyncio.sleep(0.5)
                if (now := proxy.snapshot()) == counts:
                    break
                counts = now
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)
        proxy.stop()
    done = phase.flows["signin"] - min(2, phase.flows["signin"])
    if phase.errors or not done:
        raise RuntimeError(f"counting run failed: {dict(phase.errors)}")
    return sum(counts.values()) / done, {kind: n / done for kind, n in sorted(counts.items())}


def commit_of(root: Path) -> str:
    """The checkout's commit, short hash and subject."""
    done = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False)
    return done.stdout.strip()[:90]


def kinds(per_kind: dict[str, float]) -> str:
    return ", ".join(f"{kind} {n:g}" for kind, n in per_kind.items())


async def compare(args: argparse.Namespace) -> int:
    """``--baseline-dir DIR``: this checkout's full OTP sign-in against checkout DIR's, in
    one run. Each has its own database (``--db-name`` and ``--db-name``_base, migrated by
    its own checkout, seeded alike) and its own gunicorn (same shape, same PostgreSQL and
    Redis); both servers stay up and take turns (``--rounds`` each, ABBA order), so load
    from elsewhere on the machine falls on both alike. Then each one's statements per
    sign-in are counted on the wire (``statements_per_sign_in``)."""
    checkouts = (("change", Path(args.change_dir or ROOT).resolve()), ("baseline", Path(args.baseline_dir).resolve()))
    name = args.db_name or f"authn_bench_{args.users}"
    capture = AsyncCapture()
    await capture.start()
    service_env = service_settings(args, capture)
    rng = random.Random(args.seed)
    offset = rng.randrange(1_000_000)
    servers: list[Server] = []
    turns: list[tuple[Phase, Any]] = []
    databases = {}
    cpus = os.cpu_count()
    print(f"== machine: {cpus} CPU cores shared by two gunicorns ({args.workers} workers x {args.threads} threads each, "
          f"one idle while the other is measured), PostgreSQL, Redis and this load generator ({args.vus} virtual users)")
    try:
        for k, (label, root) in enumerate(checkouts):
            commit = commit_of(root)  # before any load: blocking the loop here costs nothing
            databases[label] = database_url_for(name if label == "change" else f"{name}_base", args.database_url)
            print(f"== {label}: {root} at {commit}")
            seeded = prepare(databases[label], args.users, root)
            print(f"   database {databases[label].rsplit('/', 1)[1]}: users {seeded['users']:,}, "
                  f"login_states {seeded['login_states']:,}, otps {seeded['otps']:,}")
            server = Server(database_url=databases[label], redis_url=args.redis_url, workers=args.workers,
                            threads=args.threads, env=service_env, root=root)
            await asyncio.to_thread(server.start)
            servers.append(server)

            # The two take other seeded users in every turn (500 apart), so no code meant
            # for one checkout's turn is ever taken for the other's.
            def flows(r: int, server=server, k=k):
                return lambda n, ph, dl: service_vu(n, ph, RestClient(server.base_url), capture, dl, args.users, 0.0, rng,
                                                    args.vus, offset + 100 + 1000 * r + 500 * k)

            await run_phase("warm-up", args.vus, min(3.0, args.duration), flows(99))
            turns.append((Phase(f"{label}: OTP sign-in (request + verify)"), flows))
        print(f"== both up; they take turns, {args.rounds} rounds in ABBA order, {args.duration:g}s each in all")
        await alternate(turns, args.vus, args.duration, args.rounds)
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)
    print("== SQL statements per full OTP sign-in, counted on the wire")
    statements = {}
    for label, root in checkouts:
        statements[label] = await statements_per_sign_in(args, databases[label], service_env, capture, root)
        print(f"  {label}: {statements[label][0]:g} ({kinds(statements[label][1])})")
    print("== CPU by phase (cores in use, sampled from /proc)")
    print("\n".join(CPU.report()))
    print("== results")
    for phase, _ in turns:
        print("\n".join(phase.report()))
    (change, _), (baseline, _) = turns
    rate, base_rate = change.flows_per_s("signin"), baseline.flows_per_s("signin")
    delta = (rate / base_rate - 1) * 100 if base_rate else 0.0
    errors = sum(sum(phase.errors.values()) for phase, _ in turns)
    print("== change against baseline (targets: sign-in flows/s within 5 % of the baseline's, statements no more)")
    print(f"  full OTP sign-in flows/s: change {rate:.1f} vs baseline {base_rate:.1f} -> {delta:+.1f} %")
    # Each round's two turns ran back to back: their ratio is what load from elsewhere
    # disturbs least. The spread of those ratios says how far to trust the total.
    ratios = sorted((c / b - 1) * 100 for c, b in zip(change.turns, baseline.turns, strict=True) if b)
    if ratios:
        print(f"  per round (change/baseline - 1): median {ratios[len(ratios) // 2]:+.1f} %, "
              f"from {ratios[0]:+.1f} to {ratios[-1]:+.1f} % ({', '.join(f'{r:+.0f}' for r in ratios)})")
    for step in ("otp", "otp/verify"):
        print(f"  p50/p99 {step}: change {pct(change.steps.get(step, []), 50):.1f}/{pct(change.steps.get(step, []), 99):.1f} ms "
              f"vs baseline {pct(baseline.steps.get(step, []), 50):.1f}/{pct(baseline.steps.get(step, []), 99):.1f} ms")
    print(f"  SQL statements per full sign-in: change {statements['change'][0]:g} vs baseline {statements['baseline'][0]:g}")
    print(f"  errors: {errors}")
    print(json.dumps({"users": args.users, "vus": args.vus, "duration": args.duration, "rounds": args.rounds,
                      "signin_flows_per_s": {"change": round(rate, 2), "baseline": round(base_rate, 2)},
                      "change_pct": round(delta, 1),
                      "round_change_pct_median": round(ratios[len(ratios) // 2], 1) if ratios else None,
                      "statements_per_sign_in": {"change": statements["change"][0], "baseline": statements["baseline"][0]},
                      "errors": errors}))
    return 0 if not errors else 1


async def scale(args: argparse.Namespace) -> int:
    """``--scale 10000,1000000``: the same sign-in flows against databases of each size,
    servers for every size up at once and the sizes taking turns (ABBA), so the drop
    from the small table to the large one is measured in one run, not across runs that
    the machine's drift between them would blur."""
    sizes = [int(n) for n in args.scale.split(",")]
    phases_wanted = set(args.phases.split(",")) & {"rest", "grpc"}
    capture = AsyncCapture()
    await capture.start()
    service_env = service_settings(args, capture)
    rng = random.Random(args.seed)
    offset = rng.randrange(1_000_000)
    servers: list[Any] = []
    turns: list[tuple[Phase, Any]] = []
    try:
        for users in sizes:
            database_url = database_url_for(f"authn_bench_{users}", args.database_url)
            print(f"== database {database_url.rsplit('/', 1)[1]}: seeding {users:,} users (+ login states, OTP rows) if missing")
            seeded = prepare(database_url, users)
            print(f"   rows: users {seeded['users']:,}, login_states {seeded['login_states']:,}, otps {seeded['otps']:,}")
            for transport in sorted(phases_wanted, reverse=True):  # rest, then grpc
                if transport == "rest":
                    server = Server(database_url=database_url, redis_url=args.redis_url, workers=args.workers,
                                    threads=args.threads, env=service_env)
                else:
                    server = GrpcService(database_url=database_url, redis_url=args.redis_url,
                                         workers=args.grpc_threads or args.threads,
                                         processes=args.grpc_processes or args.workers, env=service_env)
                await asyncio.to_thread(server.start)
                servers.append(server)

                def client(n: int, server=server, transport=transport) -> Client:
                    return RestClient(server.base_url) if transport == "rest" else GrpcClient(server.target)

                def flows(r: int, users=users, client=client):
                    return lambda n, ph, dl: service_vu(n, ph, client(n), capture, dl, users, 0.0, rng, args.vus,
                                                        offset + 100 + 1000 * r)

                await run_phase("warm-up", args.vus, min(3.0, args.duration), flows(99))
                turns.append((Phase(f"{transport}: OTP sign-in, {users:,} users"), flows))
        print(f"== {len(turns)} phases take turns, {args.rounds} rounds in ABBA order, {args.duration:g}s each in all")
        await alternate(turns, args.vus, args.duration, args.rounds)
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)
    print("== CPU by phase (cores in use, sampled from /proc)")
    print("\n".join(CPU.report()))
    print("== results")
    for phase, _ in turns:
        print("\n".join(phase.report()))
    print("== throughput against the smallest table (target: no more than 10 % lower)")
    summary = {}
    for transport in sorted(phases_wanted, reverse=True):
        rates = [(phase.name, phase.flows_per_s("signin")) for phase, _ in turns if phase.name.startswith(transport)]
        base = rates[0][1]
        for name, rate in rates:
            change = (rate / base - 1) * 100 if base else 0.0
            print(f"  {name}: {rate:.1f} flows/s ({change:+.1f} %)")
            summary[name] = round(rate, 2)
    errors = sum(sum(phase.errors.values()) for phase, _ in turns)
    print(json.dumps({"scale": sizes, "vus": args.vus, "duration": args.duration, "signin_flows_per_s": summary, "errors": errors}))
    return 0 if not errors else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/authn_bench"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8"))
    parser.add_argument("--users", type=int, default=10_000, help="seeded users (and login states, OTP rows)")
    parser.add_argument("--vus", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--grpc-threads", type=int, default=0, help="gRPC handler threads per process (default: --threads)")
    parser.add_argument("--rounds", type=int, default=4, help="turns REST and gRPC take within each phase's duration")
    parser.add_argument("--grpc-processes", type=int, default=0, help="gRPC server processes (default: --workers)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-name", default="", help="the benchmark database (default: authn_bench_<users>)")
    parser.add_argument("--baseline-dir", default="",
                        help="another checkout (say, today's main): its OTP sign-in against this one's, taking turns "
                        "(REST only; its database is <db-name>_base)")
    parser.add_argument("--change-dir", default="", help="with --baseline-dir: the checkout measured against it (default: this one)")
    parser.add_argument("--phases", default="rest,grpc,limit",
                        help="which to run, comma-separated: rest, grpc, limit (all by default; a partial run has no ratio)")
    parser.add_argument("--scale", default="",
                        help="comma-separated table sizes, e.g. 10000,1000000: sign-in flows on each, taking turns "
                        "(no limit or sign-up phase)")
    args = parser.parse_args()
    CPU.start()
    try:
        return asyncio.run(compare(args) if args.baseline_dir else scale(args) if args.scale else bench(args))
    finally:
        CPU.stop()


if __name__ == "__main__":
    sys.exit(main())
