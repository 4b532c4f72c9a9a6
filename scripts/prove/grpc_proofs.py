"""The proofs whose clients speak the wire themselves, over gRPC.

``brute_force`` in proofs.py needs only a transport factory, so it runs over gRPC as it
is. Concurrent redemption and enumeration drive their own clients (raw racers released
at a barrier; timed requests with status, body and headers compared), so their gRPC
twins live here: the same plan, the same checks in the database, the same result types.

Racers are separate processes started with "spawn": a gRPC client library already used
in the parent must not be inherited across fork().
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter
from typing import Any

import psycopg

from .harness import GRPC_CHANNEL_OPTIONS, CaptureGateway, unique_phone
from .proofs import (
    Ask,
    Enumeration,
    Redemption,
    TransportFactory,
    VerifyEnumeration,
    enumeration_run,
    sign_up,
    verify_enumeration_run,
)


def _stub(target: str) -> tuple[Any, Any, Any]:
    import grpc

    from authenticator.grpc.v1 import authenticator_pb2, authenticator_pb2_grpc

    channel = grpc.insecure_channel(target, options=GRPC_CHANNEL_OPTIONS)
    grpc.channel_ready_future(channel).result(timeout=30)  # connected before the first race
    return channel, authenticator_pb2_grpc.AuthenticatorStub(channel), authenticator_pb2


def _grpc_redeemer(target: str, barrier: Any, jobs: Any, results: Any) -> None:
    """One client process: one connected channel, released with the others at the barrier."""
    import grpc

    channel, stub, pb = _stub(target)
    while True:
        job = jobs.get()
        if job is None:
            break
        request = pb.VerifyOtpRequest(**job)
        barrier.wait()
        sent = time.monotonic()
        try:
            stub.VerifyOtp(request, timeout=60)
            status, code = "OK", "ok"
        except grpc.RpcError as error:
            trailers = dict(error.trailing_metadata() or ())
            status, code = error.code().name, str(trailers.get("code") or error.code().name)
        except Exception as exc:  # noqa: BLE001 - reported as an answer, counted against us
            status, code = "CLIENT_ERROR", f"client error {type(exc).__name__}"
        results.put((status, code, sent))
    channel.close()


def _trial_rows(db: psycopg.Connection, phone: str, device: str) -> tuple[int, int, int]:
    """Login states, Tokenizer sessions and refresh tokens written for ``device``'s sign-ins."""
    user_id = db.execute("SELECT id FROM users WHERE phone_number = %s", [phone]).fetchone()[0]
    states = db.execute("SELECT count(*) FROM login_states WHERE user_id = %s AND logged_in_on = %s",
                        [user_id, device]).fetchone()[0]
    sessions = db.execute(
        "SELECT count(*) FROM tokenizer_sessions s JOIN login_states l ON s.id = l.id::text "
        "WHERE l.user_id = %s AND l.logged_in_on = %s", [user_id, device]).fetchone()[0]
    refresh = db.execute(
        "SELECT count(*) FROM tokenizer_refresh_tokens r JOIN login_states l ON r.session_id = l.id::text "
        "WHERE l.user_id = %s AND l.logged_in_on = %s", [user_id, device]).fetchone()[0]
    return states, sessions, refresh


def concurrent_redemption_grpc(make: TransportFactory, gateway: CaptureGateway, database_url: str, target: str, *,
                               trials: int = 200, processes: int = 16, seed: int = 1) -> Redemption:
    """``processes`` client processes call VerifyOtp with the same valid code at once, ``trials`` times."""
    ctx = multiprocessing.get_context("spawn")
    barrier, jobs, results = ctx.Barrier(processes), ctx.Queue(), ctx.Queue()
    workers = [ctx.Process(target=_grpc_redeemer, args=(target, barrier, jobs, results), daemon=True)
               for _ in range(processes)]
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
                phone = unique_phone(base + trial, prefix="+44742")  # apart from the REST proof's numbers
                sign_up(tr, gateway, phone)
                seen = gateway.count_to(phone)
                asked = tr.otp_request(phone_number=phone)
                assert asked.ok, asked
                code = gateway.code_for(phone, after=seen)
                device = f"race-grpc-{trial}"
                for _ in workers:
                    jobs.put({"phone_number": phone, "otp": code, "device": device})
                got = [results.get(timeout=120) for _ in workers]
                wins = sum(1 for status, _code, _t in got if status == "OK")
                answers.update(code_ for _s, code_, _t in got)
                sends = [t for _s, _c, t in got]
                out.spread_ms.append((max(sends) - min(sends)) * 1000)
                states, sessions, refresh = _trial_rows(db, phone, device)
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


def enumeration_grpc(target: str, gateway: CaptureGateway, database_url: str, *, n: int = 1000, seed: int = 7,
                     warmup: int = 20) -> Enumeration:
    """Enumeration over gRPC: RequestOtp; the "headers" compared are the keys of the
    initial and trailing metadata."""
    import grpc
    from google.protobuf.json_format import MessageToDict

    channel, stub, pb = _stub(target)

    def ask(body: dict[str, str]) -> tuple[str, Any, tuple[str, ...]]:
        try:
            response, call = stub.RequestOtp.with_call(pb.RequestOtpRequest(**body), timeout=30)
        except grpc.RpcError as error:
            trailers = error.trailing_metadata() or ()
            data = {"code": dict(trailers).get("code"), "detail": error.details()}
            return error.code().name, data, tuple(sorted(k for k, _v in trailers))
        keys = [k for k, _v in (call.initial_metadata() or ())] + [k for k, _v in (call.trailing_metadata() or ())]
        return "OK", MessageToDict(response, preserving_proto_field_name=True), tuple(sorted(keys))

    try:
        return enumeration_run(ask, gateway, database_url, n=n, seed=seed, warmup=warmup,
                               phone_prefix="+44744", email_prefix="g")
    finally:
        channel.close()


def verify_enumeration_grpc(target: str, database_url: str, *, n: int = 1080, seed: int = 11, warmup: int = 20,
                            guesses: int = 4) -> VerifyEnumeration:
    """Verify oracles over gRPC: RequestOtp, then VerifyOtp; the "headers" compared are
    the keys of the trailing metadata, and the domain code and detail the body."""
    import grpc
    from google.protobuf.json_format import MessageToDict

    channel, stub, pb = _stub(target)

    def call(method, message) -> Ask:
        def ask(body: dict[str, str]) -> tuple[str, Any, tuple[str, ...]]:
            try:
                response = method(message(**body), timeout=30)
            except grpc.RpcError as error:
                trailers = error.trailing_metadata() or ()
                data = {"code": dict(trailers).get("code"), "detail": error.details()}
                return error.code().name, data, tuple(sorted(k for k, _v in trailers))
            return "OK", MessageToDict(response, preserving_proto_field_name=True), ()

        return ask

    try:
        return verify_enumeration_run(call(stub.RequestOtp, pb.RequestOtpRequest), call(stub.VerifyOtp, pb.VerifyOtpRequest),
                                      database_url, n=n, seed=seed, warmup=warmup, guesses=guesses, phone_prefix="+44753")
    finally:
        channel.close()
