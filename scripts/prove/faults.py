"""Faults under load: PostgreSQL, Redis and the Tokenizer failing while clients work.

    .venv/bin/python -m scripts.prove.faults [--only tokenizer,postgres,redis] [--real]

By default PostgreSQL and Redis "fail" behind a TCP proxy this script controls (the
service connects through it): ``down`` drops every connection and refuses new ones,
``kill_one`` drops one connection (a killed backend). That proves the service's side
without touching the machine's shared servers. ``--real`` instead restarts the real
PostgreSQL cluster (``pg_ctlcluster ... restart``), kills a real backend
(``pg_terminate_backend``) and stops/starts the real Redis — only on a machine of your own.

Scenarios and what must hold:

- postgres: sign-ups run from several clients; one backend is killed, then the database
  is down for ``--pg-down`` seconds. Every sign-up the service acknowledged (201) exists
  afterwards; answers while it is down are 503, never 500; the first success comes
  within 5 s of it being back.
- redis: Redis is down for ``--redis-down`` seconds (60 by default) while clients sign in
  and an attacker guesses codes: no 5xx, and the wrong-try lockout (kept in PostgreSQL)
  still holds — at most 5 guesses per code.
- tokenizer: the Tokenizer refuses connections, hangs, answers 500 and answers junk while
  clients sign in: each sign-in answers 503 within the configured timeouts, and no login
  state is left without tokens (none is written).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from .fakes import FakeTokenizer, TcpProxy, refused_url
from .harness import running, transport, unique_phone, wrong_code
from .proofs import sign_up

PROOF_ENV = {"OTP_RESEND_COOLDOWN": "1", "OTP_MAX_PER_HOUR": "100000"}
# Sign-up numbers (+44 742x xxxxxx) start at a random point: reruns rarely reuse one.
START = random.SystemRandom().randrange(7_000_000)


def via(url: str, port: int) -> str:
    """``url`` with its host:port replaced by the local proxy's."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{auth}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


@dataclass
class Load:
    """Clients hammering one flow in threads; answers are recorded with their time."""

    answers: list[tuple[float, int, str]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, code: str, phone: str | None = None) -> None:
        with self.lock:
            self.answers.append((time.monotonic(), status, code))
            if phone and status == 201:
                self.acknowledged.append(phone)


def _sign_up_loop(load: Load, base_url: str, gateway, first: int) -> None:
    n = first
    with httpx.Client(base_url=base_url, timeout=20) as client:
        while not load.stop.is_set():
            n += 1
            phone = unique_phone(n, prefix="+44742")
            try:
                seen = gateway.count_to(phone)
                r = client.post("/api/v1/auth/signup", json={"phone_number": phone, "country_id": "GB", "name": "F"})
                load.record(r.status_code, _code(r))
                if r.status_code != 202:
                    time.sleep(0.05)
                    continue
                code = gateway.code_for(phone, after=seen, timeout=10)
                r = client.post("/api/v1/auth/signup/verify", json={"phone_number": phone, "otp": code})
                load.record(r.status_code, _code(r), phone)
            except (httpx.HTTPError, TimeoutError, AssertionError) as exc:
                # AssertionError: an SMS without a code (a number signed up by an earlier run)
                load.record(0 if not isinstance(exc, AssertionError) else -1, type(exc).__name__)


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", "")) if response.content else ""
    except ValueError:
        return "not json"


def postgres(args: argparse.Namespace) -> bool:
    target = urlsplit(args.database_url)
    proxy = None if args.real else TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    url = args.database_url if args.real else via(args.database_url, proxy.port)
    env = {**PROOF_ENV, "DB_POOL_TIMEOUT": "2", "DB_CONNECT_TIMEOUT": "2"}
    with running(url, args.redis_url, env=env, workers=2, threads=4) as (server, gateway):
        load = Load()
        threads = [threading.Thread(target=_sign_up_loop, args=(load, server.base_url, gateway, START + i * 100_000))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(3)
        print("  killing one database connection (a backend)")
        if args.real:
            with psycopg.connect(args.database_url, autocommit=True) as db:
                db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend' LIMIT 1")
        else:
            proxy.kill_one()
        time.sleep(2)
        print(f"  PostgreSQL down for {args.pg_down:.0f}s")
        down_at = time.monotonic()
        if args.real:
            cluster = os.listdir("/etc/postgresql")[0]
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "stop"], check=True)
        else:
            proxy.down()
        time.sleep(args.pg_down)
        if args.real:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start"], check=True)
        else:
            proxy.up()
        up_at = time.monotonic()
        print("  PostgreSQL back")
        time.sleep(8)
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        logged = server.server_errors_logged()
    if proxy:
        proxy.stop()
    during = Counter(status for at, status, _ in load.answers if down_at + 0.5 <= at <= up_at)
    first_ok = min((at for at, status, _ in load.answers if at > up_at and status in (201, 202)), default=None)
    with psycopg.connect(args.database_url, autocommit=True) as db:
        present = {row[0] for row in db.execute("SELECT phone_number FROM users WHERE phone_number = ANY(%s) AND status = 'active'",
                                                 [load.acknowledged])}
    missing = [p for p in load.acknowledged if p not in present]
    recovery = (first_ok - up_at) if first_ok else float("inf")
    total = Counter(status for _, status, _ in load.answers)
    ok = (not missing and not during.get(500) and recovery <= 5.0 and not any(s >= 500 and s != 503 for s in total)
          and not total.get(0) and not logged)
    print(f"[{'PASS' if ok else 'FAIL'}] postgres ({'real restart' if args.real else 'proxy'}): acknowledged sign-ups "
          f"{len(load.acknowledged)}, missing afterwards {len(missing)}; answers while down {dict(during)}; "
          f"first success {recovery:.2f}s after it was back (goal <= 5 s); all answers {dict(total)}; "
          f"500s logged {len(logged)}")
    return ok


def redis_(args: argparse.Namespace) -> bool:
    target = urlsplit(args.redis_url)
    proxy = None if args.real else TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    url = args.redis_url if args.real else via(args.redis_url, proxy.port)
    with running(args.database_url, url, env=PROOF_ENV, workers=2, threads=4) as (server, gateway):
        tr = transport("rest", server)
        phone = unique_phone(6_000_000 + int(time.time()) % 1_000_000)
        sign_up(tr, gateway, phone)
        load = Load()
        threads = [threading.Thread(target=_sign_up_loop, args=(load, server.base_url, gateway, START + 1_000_000 + i * 100_000))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(2)
        print(f"  Redis down for {args.redis_down:.0f}s")
        if args.real:
            subprocess.run(["redis-cli", "-p", str(target.port or 6379), "shutdown", "nosave"], check=False)
        else:
            proxy.down()
        # While it is down: a fresh code, then guesses until refused.
        seen = gateway.count_to(phone)
        asked = tr.otp_request(phone_number=phone)
        code = gateway.code_for(phone, after=seen, timeout=15)
        guesses = Counter()
        for _ in range(20):
            guesses[str(tr.otp_verify(otp=wrong_code(code), phone_number=phone).code)] += 1
        right = tr.otp_verify(otp=code, phone_number=phone)
        time.sleep(max(0.0, args.redis_down - 5))
        if args.real:
            subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(target.port or 6379),
                            "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"],
                           check=True)
        else:
            proxy.up()
        time.sleep(3)
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        tr.close()
        logged = server.server_errors_logged()
    if proxy:
        proxy.stop()
    total = Counter(status for _, status, _ in load.answers)
    server_errors = sum(n for s, n in total.items() if s >= 500 or s == 0)
    ok = asked.ok and guesses.get("invalid_otp", 0) <= 5 and right.code == "too_many_attempts" and not server_errors and not logged
    print(f"[{'PASS' if ok else 'FAIL'}] redis ({'real stop' if args.real else 'proxy'}) down {args.redis_down:.0f}s: "
          f"client answers {dict(total)} (5xx/transport errors {server_errors}); code request while down {asked.status}; "
          f"20 wrong guesses -> {dict(guesses)}; the right code afterwards -> {right.code}; 500s logged {len(logged)}")
    return ok


def tokenizer(args: argparse.Namespace) -> bool:
    fake = FakeTokenizer().start()
    connect, read, retries = 0.5, 1.0, 1
    bound = (1 + retries) * (connect + read) + 0.1 + 1.0
    results = {}
    ok = True
    for mode in ("refused", "hang", "500", "junk", "bad_shape"):
        fake.mode = mode
        env = {**PROOF_ENV, "TOKENIZER_URL": refused_url() if mode == "refused" else fake.url, "TOKENIZER_API_KEY": "k",
               "TOKENIZER_CONNECT_TIMEOUT": str(connect), "TOKENIZER_READ_TIMEOUT": str(read), "TOKENIZER_RETRIES": str(retries)}
        with running(args.database_url, args.redis_url, env=env, workers=2, threads=4) as (server, gateway):
            phones = [unique_phone(8_000_000 + (int(time.time()) % 100_000) * 10 + i) for i in range(args.clients)]
            with psycopg.connect(args.database_url) as db:
                from scripts.bench.seed import copy_users

                user_ids = copy_users(db, [(p, None) for p in phones])
                db.commit()
            answers: list[tuple[int, str, float]] = []

            def one(phone: str, answers: list = answers) -> None:
                tr = transport("rest", server)
                seen = gateway.count_to(phone)
                tr.otp_request(phone_number=phone)
                code = gateway.code_for(phone, after=seen)
                a = tr.otp_verify(otp=code, phone_number=phone)
                answers.append((a.status, str(a.code), a.seconds))
                tr.close()

            threads = [threading.Thread(target=one, args=(p,)) for p in phones]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            logged = server.server_errors_logged()
        with psycopg.connect(args.database_url, autocommit=True) as db:
            states = db.execute("SELECT count(*) FROM login_states WHERE user_id = ANY(%s)", [user_ids]).fetchone()[0]
        slowest = max((s for _, _, s in answers), default=0.0)
        good = (len(answers) == len(phones) and all(st == 503 and c == "tokenizer_unavailable" for st, c, _ in answers)
                and slowest <= bound and states == 0 and not logged)
        ok &= good
        results[mode] = good
        print(f"[{'PASS' if good else 'FAIL'}] tokenizer {mode}: {len(answers)} sign-ins -> {dict(Counter((s, c) for s, c, _ in answers))}; "
              f"slowest {slowest:.2f}s (bound {bound:.1f}s); login states written {states}; 500s logged {len(logged)}")
    fake.mode = "ok"
    fake.stop()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--only", default="tokenizer,postgres,redis")
    parser.add_argument("--real", action="store_true", help="restart the real PostgreSQL / Redis (your own machine only)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pg-down", type=float, default=10.0)
    parser.add_argument("--redis-down", type=float, default=60.0)
    args = parser.parse_args()
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints where every thread is
    from .run import prepare_database

    prepare_database(args.database_url)
    only = args.only.split(",")
    ok = True
    for name, fn in (("tokenizer", tokenizer), ("postgres", postgres), ("redis", redis_)):
        if name in only:
            print(f"== {name}")
            ok &= fn(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
