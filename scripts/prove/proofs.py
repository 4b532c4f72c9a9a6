"""The security proofs as functions: each drives a running server and returns its figures.

Each takes a ``Transport`` factory (REST today; gRPC plugs into ``harness.transport``),
the capture gateway and the database URL (to check what was written). The same functions
run small in the test suite (tests/prove/) and full size from scripts/prove/run.py.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import random
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg

from .harness import Answer, CaptureGateway, Transport, unique_phone, wrong_code
from .oracles import Probe, answers_alike

TransportFactory = Callable[..., Transport]


def sign_up(tr: Transport, gateway: CaptureGateway, phone: str, **extra: Any) -> Answer:
    """A full sign-up over ``tr``; the account is active afterwards."""
    before = gateway.count_to(phone)
    started = tr.signup(phone_number=phone, country_id="GB", name="Prove", **extra)
    assert started.ok, started
    done = tr.signup_verify(phone_number=phone, otp=gateway.code_for(phone, after=before), device="prove")
    assert done.ok, done
    return done


# --- brute force ---------------------------------------------------------------------
@dataclass
class BruteForce:
    per_code_allowed: dict[str, list[int]] = field(default_factory=dict)  # channel -> wrong guesses each code compared
    parallel_allowed: int = 0  # of the parallel burst with rotating X-Forwarded-For
    parallel_answers: dict[str, int] = field(default_factory=dict)
    right_code_after_lockout: list[str] = field(default_factory=list)  # answers to the real code
    codes_sent: int = 0
    owner_fresh_code_after_attack: str = ""  # the owner's next code, after a code was guessed to its limit
    owner_email_while_phone_locked: str = ""  # the other channel, once the phone's ceiling is reached
    owner_phone_after_support_reset: str = ""  # the way back past the ceiling

    @property
    def max_per_code(self) -> int:
        return max((n for codes in self.per_code_allowed.values() for n in codes), default=0)

    @property
    def per_channel_allowed(self) -> dict[str, int]:
        return {channel: sum(codes) for channel, codes in self.per_code_allowed.items()}

    @property
    def account_allowed(self) -> int:  # every guess compared, over every code of the account
        return sum(self.per_channel_allowed.values())


def brute_force(make: TransportFactory, gateway: CaptureGateway, *, phone: str, email: str, parallel: int = 50,
                expire: Callable[[], None] | None = None, resend_wait: float = 1.05, max_codes: int = 40,
                verify_email: Callable[[], None] | None = None,
                support_reset: Callable[[str], None] | None = None,
                owner_elsewhere: Callable[[], None] | None = None) -> BruteForce:
    """An attacker who knows the victim's number and email: guess each code until it is
    locked, resend at once and guess again — the phone until three fresh codes in a row
    are born locked, then the email the same way. Codes are let expire between rounds
    (``expire`` moves the clock in the database, as an attacker who waits would); one
    fresh code is guessed as a parallel burst from rotating X-Forwarded-For addresses.
    Meanwhile the owner: asks for a fresh code after the first attacked one and signs in;
    signs in by email while the phone is locked; and, once support has reset the phone's
    count (``support_reset(channel)``, what the admin's reset does), by phone again.

    Owner and attacker reach the server from one address here; ``owner_elsewhere`` moves
    the owner's sign-ins to an address of their own (as a victim at home is), since past
    the ceiling an address the account signed in from keeps one try per code.

    ``invalid_otp`` answers are counted as guesses the server compared: an upper bound
    (an unusable code also answers ``invalid_otp``), which is what a proof needs.
    The server must run with OTP_RESEND_COOLDOWN=1 and a high OTP_MAX_PER_HOUR, so that
    only the wrong-try limits stand between the attacker and the account.
    """
    tr = make()
    result = BruteForce()
    sign_up(tr, gateway, phone, email=email)
    if owner_elsewhere is not None:
        owner_elsewhere()
    if verify_email is not None:  # codes go to an email only once it is verified
        verify_email()

    def fresh_code(ident: dict[str, str], to: str) -> str:
        seen = gateway.count_to(to)
        time.sleep(resend_wait)  # the resend cooldown
        asked = tr.otp_request(**ident)
        assert asked.ok, asked
        result.codes_sent += 1
        return gateway.code_for(to, after=seen)

    def owner_signs_in(ident: dict[str, str], to: str) -> str:
        answer = tr.otp_verify(otp=fresh_code(ident, to), device="owner", **ident)
        if owner_elsewhere is not None:
            owner_elsewhere()
        return "ok" if answer.ok else str(answer.code)

    for channel, ident, to in (("sms", {"phone_number": phone}, phone), ("email", {"email": email}, email)):
        codes = result.per_code_allowed[channel] = []
        locked_in_a_row = 0
        for n in range(max_codes):
            if n >= 1 and expire is not None:
                expire()
            code = fresh_code(ident, to)
            guess = wrong_code(code)
            if channel == "sms" and n == 2:  # a fresh code, guessed in parallel, each from a different claimed address
                answers = _parallel_guesses(make, ident, guess, parallel)
                result.parallel_answers = dict(Counter(answers))
                allowed = result.parallel_allowed = answers.count("invalid_otp")
            else:
                allowed = 0
                while True:
                    answer = tr.otp_verify(otp=guess, **ident)
                    if answer.code != "invalid_otp":
                        assert answer.code == "too_many_attempts", answer
                        break
                    allowed += 1
                    assert allowed <= 1000, "no lockout at all"
            codes.append(allowed)
            right = tr.otp_verify(otp=code, **ident)
            assert not right.ok, f"the real code worked after lockout: {right}"
            result.right_code_after_lockout.append(str(right.code))
            if channel == "sms" and n == 0:
                result.owner_fresh_code_after_attack = owner_signs_in(ident, to)
            locked_in_a_row = locked_in_a_row + 1 if allowed == 0 else 0
            if locked_in_a_row >= 3:
                break
        if channel == "sms":
            result.owner_email_while_phone_locked = owner_signs_in({"email": email}, email)
    if support_reset is not None:
        support_reset("sms")
        result.owner_phone_after_support_reset = owner_signs_in({"phone_number": phone}, phone)
    tr.close()
    return result


def support_reset_of(database_url: str, phone: str) -> Callable[[str], None]:
    """Support's reset of a channel's wrong-code count, as the admin's form makes it
    (otp.services.otp_lockout_reset: a row with the reason)."""

    def reset(channel: str) -> None:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("INSERT INTO otp_lockout_resets (id, user_id, channel, reason, actor_label, reset_at) "
                       "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint, id, %s, 'owner verified', 'proof', "
                       "now() FROM users WHERE phone_number = %s", [channel, phone])

    return reset


def owner_elsewhere_of(database_url: str, phone: str, address: str = "192.0.2.7") -> Callable[[], None]:
    """The owner's sign-ins, as made from their own address rather than the attacker's."""

    def move() -> None:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("UPDATE login_states SET logged_in_ip = %s WHERE user_id = (SELECT id FROM users "
                       "WHERE phone_number = %s)", (address, phone))

    return move


def email_verified_of(database_url: str, phone: str) -> Callable[[], None]:
    """Mark the account's email verified, as its owner confirming it through /me would."""

    def verify() -> None:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("UPDATE users SET email_verified_at = now() WHERE phone_number = %s", (phone,))

    return verify


def expire_codes_of(database_url: str, phone: str) -> Callable[[], None]:
    """Time travel for one account: its live codes reach their expiry now."""

    def expire() -> None:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("UPDATE otps SET expired_at = now() - interval '1 second' WHERE consumed_at IS NULL AND "
                       "expired_at > now() AND user_id = (SELECT id FROM users WHERE phone_number = %s)", [phone])

    return expire


def _parallel_guesses(make: TransportFactory, ident: dict[str, str], guess: str, n: int) -> list[str]:
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        client = make()
        try:
            barrier.wait()
            spoof = {"X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"}
            return str(client.otp_verify(otp=guess, headers=spoof, **ident).code)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


# --- concurrent redemption ------------------------------------------------------------
@dataclass
class Redemption:
    trials: int = 0
    processes: int = 0
    exactly_one_success: int = 0
    successes_per_trial: list[int] = field(default_factory=list)
    login_states_per_trial: list[int] = field(default_factory=list)
    token_sessions_per_trial: list[int] = field(default_factory=list)
    refresh_tokens_per_trial: list[int] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    spread_ms: list[float] = field(default_factory=list)  # first to last send, per trial

    @property
    def all_good(self) -> bool:
        return (self.exactly_one_success == self.trials and set(self.login_states_per_trial) == {1}
                and set(self.token_sessions_per_trial) == {1} and set(self.refresh_tokens_per_trial) == {1})


def _redeemer(base_url: str, barrier: Any, jobs: Any, results: Any) -> None:
    """One client process: a kept-alive connection, released with the others at the barrier."""
    parts = urlsplit(base_url)
    import http.client

    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    while True:
        job = jobs.get()
        if job is None:
            break
        body = json.dumps(job).encode()
        conn.connect() if conn.sock is None else None
        barrier.wait()
        sent = time.monotonic()
        try:
            conn.request("POST", "/api/v1/auth/otp/verify", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            status = response.status
            code = "ok" if status < 300 else json.loads(data).get("code", str(status))
        except Exception as exc:  # noqa: BLE001 - reported as an answer, counted against us
            conn.close()
            status, code = 0, f"client error {type(exc).__name__}"
        results.put((status, code, sent))
    conn.close()


def concurrent_redemption(make: TransportFactory, gateway: CaptureGateway, database_url: str, base_url: str, *,
                          trials: int = 200, processes: int = 16, seed: int = 1) -> Redemption:
    """``processes`` client processes post the same valid code at once, ``trials`` times."""
    ctx = multiprocessing.get_context("fork")
    barrier, jobs, results = ctx.Barrier(processes), ctx.Queue(), ctx.Queue()
    workers = [ctx.Process(target=_redeemer, args=(base_url, barrier, jobs, results), daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    out = Redemption(processes=processes)
    answers: Counter[str] = Counter()
    tr = make()
    rng = random.Random(seed)
    base = rng.randrange(1_000_000, 9_000_000)
    try:
        with psycopg.connect(database_url, autocommit=True) as db:
            for trial in range(trials):
                phone = unique_phone(base + trial)
                sign_up(tr, gateway, phone)
                seen = gateway.count_to(phone)
                assert tr.otp_request(phone_number=phone).ok
                code = gateway.code_for(phone, after=seen)
                for _ in workers:
                    jobs.put({"phone_number": phone, "otp": code, "device": f"race-{trial}"})
                got = [results.get(timeout=120) for _ in workers]
                wins = sum(1 for status, _code, _t in got if status == 200)
                answers.update(code_ for _s, code_, _t in got)
                sends = [t for _s, _c, t in got]
                out.spread_ms.append((max(sends) - min(sends)) * 1000)
                user_id = db.execute("SELECT id FROM users WHERE phone_number = %s", [phone]).fetchone()[0]
                states = db.execute("SELECT count(*) FROM login_states WHERE user_id = %s AND logged_in_on = %s",
                                    [user_id, f"race-{trial}"]).fetchone()[0]
                sessions = db.execute(
                    "SELECT count(*) FROM tokenizer_sessions s JOIN login_states l ON s.id = l.id::text "
                    "WHERE l.user_id = %s AND l.logged_in_on = %s", [user_id, f"race-{trial}"]).fetchone()[0]
                refresh = db.execute(
                    "SELECT count(*) FROM tokenizer_refresh_tokens r JOIN login_states l ON r.session_id = l.id::text "
                    "WHERE l.user_id = %s AND l.logged_in_on = %s", [user_id, f"race-{trial}"]).fetchone()[0]
                out.trials += 1
                out.exactly_one_success += wins == 1
                out.successes_per_trial.append(wins)
                out.login_states_per_trial.append(states)
                out.token_sessions_per_trial.append(sessions)
                out.refresh_tokens_per_trial.append(refresh)
    finally:
        for _ in workers:
            jobs.put(None)
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
        tr.close()
    out.answers = dict(answers)
    return out


# --- enumeration ----------------------------------------------------------------------
@dataclass
class Enumeration:
    requests: int = 0
    statuses: dict[str, list[int]] = field(default_factory=dict)  # kind -> distinct statuses
    body_shapes: dict[str, list[str]] = field(default_factory=dict)  # kind -> distinct shapes
    medians_ms: dict[str, float] = field(default_factory=dict)
    gap_ms: dict[str, float] = field(default_factory=dict)  # median(known) - median(unknown)
    sent_to_unknown: int = 0

    @property
    def identical(self) -> bool:
        return all(len(v) == 1 for v in self.statuses.values()) and all(len(v) == 1 for v in self.body_shapes.values())

    @property
    def worst_gap_ms(self) -> float:
        return max((abs(v) for v in self.gap_ms.values()), default=0.0)


def _shape(status: int | str, body: dict[str, Any], headers: tuple[str, ...]) -> str:
    return json.dumps({"status": status, "body": body, "headers": headers}, sort_keys=True)


def seed_active_users(database_url: str, phones: list[str], emails: list[str | None]) -> None:
    """Active users straight into the table (COPY), with Sonyflake-shaped ids."""
    from scripts.bench.seed import copy_users

    with psycopg.connect(database_url) as db:
        copy_users(db, list(zip(phones, emails, strict=True)))
        db.commit()


Ask = Callable[[dict[str, str]], tuple[Any, Any, tuple[str, ...]]]


def enumeration_run(ask: Ask, gateway: CaptureGateway, database_url: str, *, n: int, seed: int, warmup: int,
                    phone_prefix: str, email_prefix: str) -> Enumeration:
    """``n`` sign-in code requests through ``ask``, interleaved at random: known/unknown x
    phone/email. ``ask(body)`` makes one request and returns its status, its body and the
    names of its headers (or metadata keys), whatever the transport. The timing and the
    comparison are the oracle proof's core (oracles.answers_alike), with two states."""
    rng = random.Random(seed)
    per = n // 4
    base = rng.randrange(1_000_000, 8_000_000)
    tag = f"{rng.randrange(16**6):06x}"
    # Numbers of their own (per transport), minus any an earlier run left in the database.
    candidates = [unique_phone(base + i, prefix=phone_prefix) for i in range(3 * per)]
    with psycopg.connect(database_url) as db:
        taken = {row[0] for row in db.execute("SELECT phone_number FROM users WHERE phone_number = ANY(%s)", [candidates])}
    free = [p for p in candidates if p not in taken]
    known_phones, unknown_phones = free[:per], free[per:2 * per]
    known_emails = [f"{email_prefix}known{i}.{tag}@example.com" for i in range(per)]
    unknown_emails = [f"{email_prefix}nobody{i}.{tag}@example.com" for i in range(per)]
    seed_active_users(database_url, known_phones, known_emails)
    plan = ([Probe("known_phone", {"phone_number": p}) for p in known_phones]
            + [Probe("unknown_phone", {"phone_number": p}) for p in unknown_phones]
            + [Probe("known_email", {"email": e}) for e in known_emails]
            + [Probe("unknown_email", {"email": e}) for e in unknown_emails])
    warm = [Probe("warmup", {"email": f"warm{i}.{tag}@example.org"}) for i in range(warmup)]
    alike = answers_alike(lambda _endpoint, body: _shape(*ask(body)), "otp", plan, seed=rng.randrange(2**32), warmup=warm)
    out = Enumeration(requests=alike.probes)
    for channel in ("phone", "email"):
        shapes = {shape for kind in (f"known_{channel}", f"unknown_{channel}") for answer in alike.shapes[kind]
                  for shape in json.loads(answer)}
        out.body_shapes[channel] = sorted(shapes)
        out.statuses[channel] = sorted({json.loads(shape)["status"] for shape in shapes})
    out.medians_ms = alike.medians_ms
    out.gap_ms = {
        "phone": out.medians_ms["known_phone"] - out.medians_ms["unknown_phone"],
        "email": out.medians_ms["known_email"] - out.medians_ms["unknown_email"],
    }
    time.sleep(0.5)
    unknown = set(unknown_phones)
    out.sent_to_unknown = sum(1 for m in gateway.messages if m.to in unknown)
    return out


def enumeration(base_url: str, gateway: CaptureGateway, database_url: str, *, n: int = 1000, seed: int = 7,
                warmup: int = 20) -> Enumeration:
    """Enumeration over REST: POST /auth/otp; headers compared by name (not date, length)."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=30) as client:
        def ask(body: dict[str, str]) -> tuple[int, Any, tuple[str, ...]]:
            response = client.post("/api/v1/auth/otp", json=body)
            headers = tuple(sorted(h for h in response.headers if h not in ("date", "content-length")))
            return response.status_code, response.json(), headers

        return enumeration_run(ask, gateway, database_url, n=n, seed=seed, warmup=warmup,
                               phone_prefix="+44743", email_prefix="")


# --- verify oracles ---------------------------------------------------------------------
VERIFY_KINDS = ("unknown_phone", "active_phone", "blocked_phone", "suspended_phone", "deleted_phone", "pending_phone",
                "unknown_email", "verified_email", "unverified_email")


@dataclass
class VerifyEnumeration:
    requests: int = 0
    shapes: list[str] = field(default_factory=list)  # distinct status/body/header names over every kind
    medians_ms: dict[str, float] = field(default_factory=dict)

    @property
    def gap_ms(self) -> float:  # the slowest kind's median minus the fastest's
        return max(self.medians_ms.values()) - min(self.medians_ms.values())


def verify_enumeration_run(request: Ask, verify: Ask, database_url: str, *, n: int, seed: int, warmup: int,
                           guesses: int, phone_prefix: str) -> VerifyEnumeration:
    """Wrong guesses through ``verify(body)``, interleaved at random over identifiers of
    every kind in VERIFY_KINDS, each of which first asked for a code through
    ``request(body)`` (real or decoy, made in the background: not timed). ``guesses`` per
    identifier stay under the per-code limit, so every answer should be the same
    ``invalid_otp`` — and take the same time. Both return (status, body, header names)."""
    rng = random.Random(seed)
    per_kind = max(1, n // len(VERIFY_KINDS) // guesses)
    tag = f"{rng.randrange(16**6):06x}"
    base = rng.randrange(1_000_000, 8_000_000)
    candidates = [unique_phone(base + i, prefix=phone_prefix) for i in range(3 * len(VERIFY_KINDS) * per_kind)]
    with psycopg.connect(database_url) as db:
        taken = {row[0] for row in db.execute("SELECT phone_number FROM users WHERE phone_number = ANY(%s)", [candidates])}
    free = iter(p for p in candidates if p not in taken)
    idents: dict[str, list[dict[str, str]]] = {}
    accounts: list[tuple[str, str, str]] = []  # phone, email, kind
    for kind in VERIFY_KINDS:
        idents[kind] = []
        for i in range(per_kind):
            phone, email = next(free), f"v{i}.{kind}.{tag}@example.com"
            if not kind.startswith("unknown_"):
                accounts.append((phone, email, kind))
            idents[kind].append({"email": email} if kind.endswith("_email") else {"phone_number": phone})
    seed_active_users(database_url, [a[0] for a in accounts], [a[1] for a in accounts])
    statuses = {"blocked_phone": "blocked", "suspended_phone": "suspended", "deleted_phone": "deleted",
                "pending_phone": "unverified"}
    with psycopg.connect(database_url, autocommit=True) as db:
        for phone, _email, kind in accounts:
            if kind in statuses:
                db.execute("UPDATE users SET status = %s WHERE phone_number = %s", [statuses[kind], phone])
            elif kind == "verified_email":
                db.execute("UPDATE users SET email_verified_at = now() WHERE phone_number = %s", [phone])
    plan = [(kind, ident) for kind, some in idents.items() for ident in some for _ in range(guesses)]
    rng.shuffle(plan)
    times: dict[str, list[float]] = {kind: [] for kind in VERIFY_KINDS}
    shapes: set[str] = set()
    for i in range(warmup):  # connections, imports, caches: not part of the figure
        verify({"email": f"warm{i}.{tag}@example.org", "otp": "000000"})
    for some in idents.values():
        for ident in some:
            asked = request(ident)
            assert asked[0] in (202, "OK"), asked
    time.sleep(1.0)  # the codes and decoys are written after the answers
    for kind, ident in plan:
        started = time.perf_counter()
        status, data, header_names = verify({**ident, "otp": "000000"})
        times[kind].append(time.perf_counter() - started)
        shapes.add(_shape(status, data, header_names))
    out = VerifyEnumeration(requests=len(plan), shapes=sorted(shapes))
    out.medians_ms = {kind: statistics.median(v) * 1000 for kind, v in times.items()}
    return out


def verify_enumeration(base_url: str, database_url: str, *, n: int = 1080, seed: int = 11, warmup: int = 20,
                       guesses: int = 4) -> VerifyEnumeration:
    """Verify oracles over REST: POST /auth/otp, then POST /auth/otp/verify."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=30) as client:
        def post(path: str) -> Ask:
            def ask(body: dict[str, str]) -> tuple[int, Any, tuple[str, ...]]:
                response = client.post(path, json=body)
                headers = tuple(sorted(h for h in response.headers if h not in ("date", "content-length")))
                return response.status_code, response.json(), headers

            return ask

        return verify_enumeration_run(post("/api/v1/auth/otp"), post("/api/v1/auth/otp/verify"), database_url, n=n,
                                      seed=seed, warmup=warmup, guesses=guesses, phone_prefix="+44752")


# --- hostile input --------------------------------------------------------------------
PUBLIC_POSTS = ["/api/v1/auth/signup", "/api/v1/auth/signup/verify", "/api/v1/auth/otp", "/api/v1/auth/otp/verify",
                "/api/v1/auth/token/refresh", "/api/v1/auth/google"]
AUTH_CALLS = [("POST", "/api/v1/auth/signout"), ("GET", "/api/v1/me"), ("PATCH", "/api/v1/me"),
              ("POST", "/api/v1/me/email/verify"), ("GET", "/api/v1/me/sessions"), ("DELETE", "/api/v1/me/sessions/1")]
FIELDS = ["phone_number", "country_id", "name", "salutation", "email", "otp", "device", "refresh_token", "id_token",
          "all", "google_continuation"]
SQL = ["' OR '1'='1", "'; DROP TABLE users; --", "1; SELECT pg_sleep(5)--", "\" OR \"\"=\"", "%' AND 1=0 UNION SELECT NULL--",
       "1)) OR ((1=1", "$$; COPY users TO PROGRAM 'id'; $$"]
WEIRD = ["\x00", "a\x00b", "\u202e+447400123456", "\u200f\u200e", "١٢٣٤٥٦", "۱۲۳۴۵۶", "１２３４５６", "＋４４７４００１２３４５６",
         "\ud83d\ude00" * 50, "\ufeff", "\\u0000", "../../etc/passwd", "<script>alert(1)</script>", "%00", "\r\nX-Injected: 1",
         "A" * 10_000, " ", ""]
WRONG_TYPES: list[Any] = [None, True, 0, -1, 2**70, 1.5e308, [], {}, ["x"] * 3, {"$gt": ""}, list(range(10_000))]


@dataclass
class Hostile:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    not_json: list[str] = field(default_factory=list)


def hostile_input(base_url: str, *, bearer: str | None = None, seed: int = 3, full: bool = True) -> Hostile:
    """Everything a hostile client may send, at every endpoint: no 5xx, JSON errors."""
    import httpx

    out = Hostile()
    statuses: Counter[int] = Counter()
    auth = {"Authorization": f"Bearer {bearer}"} if bearer else {}

    def send(label: str, method: str, path: str, **kwargs: Any) -> None:
        try:
            try:
                response = client.request(method, path, **kwargs)
            except httpx.RemoteProtocolError:
                # A kept-alive connection the server closed after refusing an oversized
                # body (413 without reading it): retry once on a fresh one, as clients do.
                response = client.request(method, path, **kwargs)
        except (UnicodeEncodeError, httpx.LocalProtocolError):
            return  # the client refuses to send it; raw-socket cases below cover bytes
        except httpx.TransportError as exc:  # the server dropped us: as bad as a 500
            out.requests += 1
            out.server_errors.append(f"{label} -> {type(exc).__name__}")
            return
        record(label, response)

    def record(label: str, response: httpx.Response, json_expected: bool = True) -> None:
        out.requests += 1
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            out.server_errors.append(f"{label} -> {response.status_code} {response.text[:120]!r}")
        elif json_expected and response.status_code not in (204,) and "json" not in response.headers.get("content-type", ""):
            out.not_json.append(f"{label} -> {response.status_code} {response.headers.get('content-type')}")

    values: list[Any] = SQL + WEIRD + WRONG_TYPES
    if not full:
        values = SQL[:3] + WEIRD[:8] + WRONG_TYPES[:6] + [list(range(10_000))]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for path in PUBLIC_POSTS:
            for field_name in FIELDS:
                for value in values:
                    body = {"phone_number": "+447400123456", "country_id": "GB", "name": "A", "otp": "123456",
                            field_name: value}
                    send(f"POST {path} {field_name}={str(value)[:30]!r}", "POST", path, json=body)
            for raw in [b"\x00", b"{\"phone_number\": \"\\u0000\"}", b"[" + b"1," * 9_999 + b"1]", b"{" * 5000,
                        b"\"" + b"a" * 100 + b"\"", b"\xff\xfe", b"{\"a\":" * 100 + b"1" + b"}" * 100, b"", b"null",
                        # Well-formed but deeper than the json module can recurse (RecursionError).
                        b"[" * 5000 + b"]" * 5000, b"{\"a\":" * 5000 + b"1" + b"}" * 5000]:
                send(f"POST {path} raw {raw[:20]!r}", "POST", path, content=raw, headers={"Content-Type": "application/json"})
            for ctype in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", ""]:
                send(f"POST {path} as {ctype}", "POST", path, content=b"phone_number=1", headers={"Content-Type": ctype})
            big = b'{"name": "' + b"a" * 2_000_000 + b'"}'
            # The server answers 413 without reading 2 MB and closes that connection: own client.
            with httpx.Client(base_url=base_url, timeout=30) as once:
                try:
                    record(f"POST {path} 2 MB body", once.post(path, content=big, headers={"Content-Type": "application/json"}))
                except httpx.TransportError as exc:
                    out.requests += 1
                    out.server_errors.append(f"POST {path} 2 MB body -> {type(exc).__name__}")
        for method, path in AUTH_CALLS:
            for value in (values if full else values[:6]):
                send(f"{method} {path} {str(value)[:30]!r}", method, path,
                     json={"name": value, "email": value, "otp": value, "all": value}, headers=auth)
            deep_jwt = "eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(b"[" * 1200 + b"]" * 1200).decode().rstrip("=") + ".c2ln"
            for token in ["x", "a.b.c", "\x00", "é" * 10, "A" * 5000, "' OR 1=1 --", "Bearer", "Bearer x y", deep_jwt]:
                send(f"{method} {path} token {token[:10]!r}", method, path, headers={"Authorization": f"Bearer {token}"})
    for label, raw in _raw_requests():
        out.requests += 1
        status = _send_raw(base_url, raw)
        statuses[status] += 1
        if status >= 500 or status == 0:
            out.server_errors.append(f"raw {label} -> {status}")
    out.statuses = dict(sorted(statuses.items()))
    return out


def _raw_requests() -> list[tuple[str, bytes]]:
    body = b'{"phone_number": "+447400123456"}'

    def post(path: bytes = b"/api/v1/auth/otp", headers: bytes = b"", payload: bytes = body) -> bytes:
        return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + headers
                + b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)

    return [
        ("huge URL", post(b"/api/v1/auth/otp?" + b"a" * 100_000)),
        ("huge header", post(headers=b"X-Big: " + b"a" * 100_000 + b"\r\n")),
        ("many headers", post(headers=b"".join(b"X-H%d: 1\r\n" % i for i in range(500)))),
        ("NUL in path", post(b"/api/v1/auth/otp\x00")),
        ("NUL in header", post(headers=b"X-Forwarded-For: 1.2.3.4\x00\r\n")),
        ("non-UTF-8 path", post(b"/api/v1/\xff\xfe")),
        ("percent NUL path", post(b"/api/v1/me/sessions/%00")),
        ("non-ASCII authorization", post(b"/api/v1/me", b"Authorization: Bearer \xc3\xa9\xff\r\n")),
        ("bad Host", post(headers=b"Host: evil.example\r\n")),
        ("lying Content-Length", (b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: 100000\r\n\r\n{}")),
        ("chunked garbage", b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("X-Forwarded-For junk", post(headers=b"X-Forwarded-For: ' OR 1=1, \xff, ::::, 999.1.1.1\r\n")),
    ]


def _send_raw(base_url: str, raw: bytes) -> int:
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed on us mid-send: read what it answered
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, OSError):
            pass
    if not data:
        return 400  # closed without an answer: a refusal, not a server error
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


# --- equivalent spellings -------------------------------------------------------------
SPELLINGS = [
    "+447400123456", "+44 7400 123456", "+44 (0) 7400-123-456", "+44.7400.123.456", "07400 123456", "0044 7400 123456",
    "+٤٤٧٤٠٠١٢٣٤٥٦", "+۴۴۷۴۰۰۱۲۳۴۵۶", "٠٧٤٠٠١٢٣٤٥٦", "＋４４７４００１２３４５６", "\u202e+447400123456\u200f",
    "\u200e+44\u00a07400\u00a0123456", "\ufeff+447400123456", "+44\u20117400\u2011123456",
]


@dataclass
class Spellings:
    spellings: int = 0
    first_status: int = 0
    later_statuses: dict[str, int] = field(default_factory=dict)  # spelling -> status of a second sign-up
    stored: list[str] = field(default_factory=list)  # the numbers in the users table afterwards

    @property
    def one_number_one_key(self) -> bool:
        # 429 means the send limit for the *normalised* number refused it: the same key.
        return self.first_status == 202 and set(self.later_statuses.values()) == {429} and len(self.stored) == 1


def phone_spellings(base_url: str, database_url: str) -> Spellings:
    """One sign-up, then every other spelling of the number: each must hit the same limit."""
    import httpx

    out = Spellings(spellings=len(SPELLINGS))
    with httpx.Client(base_url=base_url, timeout=30) as client, psycopg.connect(database_url, autocommit=True) as db:
        first = client.post("/api/v1/auth/signup", json={"phone_number": "07400 123456", "country_id": "GB", "name": "A"})
        out.first_status = first.status_code
        for spelling in SPELLINGS:
            response = client.post("/api/v1/auth/signup", json={"phone_number": spelling, "country_id": "GB", "name": "A"})
            out.later_statuses[spelling] = response.status_code
        out.stored = [row[0] for row in db.execute("SELECT phone_number FROM users WHERE phone_number LIKE '+447400%'")]
    return out
