"""Run every security proof at full size against a live server and print the figures.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/authn_prove REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python -m scripts.prove.run [--only brute,redeem,enum,verify,hostile,spellings,fuzz]
    ... -m scripts.prove.run --transport grpc      # brute, redeem, enum, verify over gRPC

Sizes (issue defaults): 50 parallel guesses; 200 trials x 16 processes; 1,000 interleaved
sign-in requests; every hostile input at every endpoint; schemathesis with 200 examples
per operation. With ``--transport grpc`` a gRPC server (``manage.py grpcserver``, 16
handler threads, as many as gunicorn's 4 workers x 4 threads) runs beside gunicorn with
the same settings, and the proofs that are about the flows (brute force, redemption,
enumeration) run over it; hostile input, spellings and fuzz are REST-only (they are about
HTTP parsing and the OpenAPI schema). The database is migrated first; the proofs add rows to it (fresh phone
numbers each run), so point it at a scratch database, never at real data.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .grpc_proofs import (
    concurrent_redemption_grpc,
    enumeration_grpc,
    verify_enumeration_grpc,
)
from .harness import PYTHON, ROOT, grpc_target, running, transport, unique_phone
from .proofs import (
    SPELLINGS,
    brute_force,
    concurrent_redemption,
    email_verified_of,
    enumeration,
    expire_codes_of,
    hostile_input,
    owner_elsewhere_of,
    phone_spellings,
    sign_up,
    support_reset_of,
    verify_enumeration,
)

PROOF_ENV = {"OTP_RESEND_COOLDOWN": "1", "OTP_MAX_PER_HOUR": "100000"}
ALL = ("brute", "redeem", "enum", "verify", "hostile", "spellings", "fuzz")
OVER_GRPC = ("brute", "redeem", "enum", "verify")  # the others are about HTTP itself
WORKERS, THREADS = 4, 4


def prepare_database(database_url: str, root: Path = ROOT) -> None:
    """Create the database if missing, and migrate it (with the migrations of checkout ``root``)."""
    import psycopg

    from .harness import database_url_for

    name = database_url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(database_url_for("postgres", database_url), autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            db.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=root, env=env, check=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--only", default=None, help=f"default: {','.join(ALL)} (rest), {','.join(OVER_GRPC)} (grpc)")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--transport", default="rest", choices=("rest", "grpc"))
    args = parser.parse_args()
    if not args.database_url or not args.redis_url:
        parser.error("DATABASE_URL and REDIS_URL (or --database-url / --redis-url) are required")
    grpc = args.transport == "grpc"
    only = set((args.only or ",".join(OVER_GRPC if grpc else ALL)).split(","))
    if grpc and only - set(OVER_GRPC):
        print(f"[SKIP] over gRPC: {sorted(only - set(OVER_GRPC))} are REST-only proofs; run them with --transport rest")
        only &= set(OVER_GRPC)
    prepare_database(args.database_url)
    run_id = int(time.time()) % 1_000_000
    ok = True
    with running(args.database_url, args.redis_url, env=PROOF_ENV, workers=WORKERS, threads=THREADS,
                 grpc_workers=WORKERS * THREADS if grpc else None) as (server, gateway):
        print(f"server: gunicorn {WORKERS} workers x {THREADS} threads at {server.base_url}; log {server.log_path}")
        if server.grpc is not None:
            print(f"server: gRPC (one process, {server.grpc.workers} handler threads) at {server.grpc.target}; "
                  f"log {server.grpc.log_path}; proofs over {args.transport}")

        def make(**kw):
            return transport(args.transport, server, **kw)

        if "brute" in only:
            phone = unique_phone(3_000_000 + run_id)
            r = brute_force(make, gateway, phone=phone, email=f"victim{run_id}@example.com", parallel=50,
                            expire=expire_codes_of(args.database_url, phone),
                            verify_email=email_verified_of(args.database_url, phone),
                            support_reset=support_reset_of(args.database_url, phone),
                            owner_elsewhere=owner_elsewhere_of(args.database_url, phone))
            owner = (r.owner_fresh_code_after_attack, r.owner_email_while_phone_locked, r.owner_phone_after_support_reset)
            good = (r.max_per_code <= 5 and r.parallel_allowed <= 5 and r.account_allowed <= 100
                    and all(n <= 50 for n in r.per_channel_allowed.values()) and owner == ("ok", "ok", "ok"))
            ok &= good
            print(f"[{verdict(good)}] brute force: guesses one code allowed: max {r.max_per_code} (per code {r.per_code_allowed}); "
                  f"parallel burst of 50 with rotating X-Forwarded-For: {r.parallel_allowed} compared {r.parallel_answers}; "
                  f"one account allowed {r.account_allowed} in all over {r.codes_sent} codes, per channel {r.per_channel_allowed} "
                  f"(limit 100 wrong tries per 30 days, 50 per channel); the right code after lockout: "
                  f"{sorted(set(r.right_code_after_lockout))}; the owner: fresh code after an attack {owner[0]}, "
                  f"email while the phone is locked {owner[1]}, phone after support's reset {owner[2]}")
        if "redeem" in only:
            started = time.monotonic()
            if grpc:
                r = concurrent_redemption_grpc(make, gateway, args.database_url, grpc_target(server), trials=args.trials,
                                               processes=args.processes, seed=run_id)
            else:
                r = concurrent_redemption(make, gateway, args.database_url, server.base_url, trials=args.trials,
                                          processes=args.processes, seed=run_id)
            ok &= r.all_good
            spread = sorted(r.spread_ms)
            print(f"[{verdict(r.all_good)}] concurrent redemption: {r.processes} processes x {r.trials} trials: "
                  f"exactly one success in {r.exactly_one_success}/{r.trials}; login states per trial {sorted(set(r.login_states_per_trial))}; "
                  f"token issues per trial {sorted(set(r.token_sessions_per_trial))}; refresh tokens {sorted(set(r.refresh_tokens_per_trial))}; "
                  f"answers {r.answers}; release spread p50 {spread[len(spread) // 2]:.1f} ms; {time.monotonic() - started:.0f}s")
        if "enum" in only:
            if grpc:
                r = enumeration_grpc(grpc_target(server), gateway, args.database_url, n=args.requests, seed=run_id)
            else:
                r = enumeration(server.base_url, gateway, args.database_url, n=args.requests, seed=run_id)
            good = r.identical and r.sent_to_unknown == 0 and r.worst_gap_ms <= 5.0
            ok &= good
            print(f"[{verdict(good)}] enumeration: {r.requests} interleaved requests; statuses {r.statuses}; "
                  f"body shapes per channel {[len(v) for v in r.body_shapes.values()]}; medians ms "
                  f"{ {k: round(v, 2) for k, v in r.medians_ms.items()} }; median gap known-unknown ms "
                  f"{ {k: round(v, 2) for k, v in r.gap_ms.items()} } (goal <= 5)")
        if "verify" in only:
            if grpc:
                r = verify_enumeration_grpc(grpc_target(server), args.database_url, n=args.requests * 2, seed=run_id)
            else:
                r = verify_enumeration(server.base_url, args.database_url, n=args.requests * 2, seed=run_id)
            good = len(r.shapes) == 1 and r.gap_ms <= 5.0
            ok &= good
            print(f"[{verdict(good)}] verify oracles: {r.requests} interleaved wrong guesses over {len(r.medians_ms)} "
                  f"identifier states; distinct answers {len(r.shapes)}; medians ms "
                  f"{ {k: round(v, 2) for k, v in r.medians_ms.items()} }; slowest - fastest {r.gap_ms:.2f} ms (goal <= 5)")
        if "hostile" in only:
            tr = make()
            token = sign_up(tr, gateway, unique_phone(4_000_000 + run_id)).body["tokens"]["access_token"]
            tr.close()
            r = hostile_input(server.base_url, bearer=token, full=True)
            good = not r.server_errors and not r.not_json
            ok &= good
            print(f"[{verdict(good)}] hostile input: {r.requests} requests; statuses {r.statuses}; "
                  f"server errors {len(r.server_errors)} {r.server_errors[:5]}; non-JSON errors {len(r.not_json)} {r.not_json[:5]}")
        logged = server.server_errors_logged()
        ok &= not logged
        print(f"[{verdict(not logged)}] 500s logged by the server: {len(logged)}")
        if server.grpc is not None:
            logged = server.grpc.server_errors_logged()
            ok &= not logged
            print(f"[{verdict(not logged)}] errors logged by the gRPC server (INTERNAL answers): {len(logged)} {logged[:3]}")
    if "spellings" in only:
        # The shipped 60 s resend cooldown: the proof is that every spelling hits it.
        with running(args.database_url, args.redis_url, workers=1, threads=2) as (server, _gateway):
            r = phone_spellings(server.base_url, args.database_url)
            good = r.one_number_one_key and not server.server_errors_logged()
            ok &= good
            print(f"[{verdict(good)}] phone spellings: {len(SPELLINGS)} spellings of +447400123456 -> numbers stored {r.stored}; "
                  f"second sign-up statuses {sorted(set(r.later_statuses.values()))} (429 = same rate-limit key)")
    if "fuzz" in only:
        from .fuzz import main as fuzz_main

        sys.argv = [sys.argv[0], "--database-url", args.database_url, "--redis-url", args.redis_url,
                    "--seed", str(args.seed), "--max-examples", str(args.max_examples)]
        ok &= fuzz_main() == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
