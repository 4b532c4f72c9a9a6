"""Fuzz the served OpenAPI schema with schemathesis: every check, a fixed seed.

Runs two passes against a live gunicorn server:

1. every REST operation except sign-out, with a valid bearer token (so authenticated
   operations are reached, not just refused);
2. sign-out on its own, with a token of its own (it ends the session, and with
   ``all=true`` every session — it would turn pass 1 into a run of 401s).

Both must finish with no failure of any check: no 5xx, no response that contradicts the
schema (status, content type, headers, body), invalid data refused, valid data accepted.

    python -m scripts.prove.fuzz --max-examples 200 --seed 20251125
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .harness import PYTHON, ROOT, RestTransport, running, unique_phone
from .proofs import sign_up

# The schema's own auth-free operations are fuzzed with the header too: the bearer is
# simply ignored there (authentication_classes = []).
SIGN_OUT = "POST /api/v1/auth/signout"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass
class FuzzRun:
    name: str
    exit_code: int
    seconds: float
    output: str

    @property
    def summary(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        tail = [line for line in lines if any(w in line for w in ("passed", "failed", "error", "Test cases", "Failures"))]
        return "\n".join(tail[-8:])


def schemathesis_run(base_url: str, *, token: str, seed: int, max_examples: int, name: str,
                     include: str | None = None, exclude: str | None = None, workers: int = 2,
                     phases: str = "examples,coverage,fuzzing", timeout: float = 3600) -> FuzzRun:
    argv = [
        PYTHON, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{base_url}/api/schema/?format=json",
        "--url", base_url,
        "--checks", "all",
        "--seed", str(seed),
        "--max-examples", str(max_examples),
        "--workers", str(workers),
        "--phases", phases,
        "--header", f"Authorization: Bearer {token}",
        "--request-timeout", "30",
        "--suppress-health-check", "too_slow,filter_too_much",
        "--no-color",
    ]
    if include:
        argv += ["--include-name", include]
    if exclude:
        argv += ["--exclude-name", exclude]
    started = time.monotonic()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return FuzzRun(name=name, exit_code=done.returncode, seconds=time.monotonic() - started,
                   output=done.stdout + done.stderr)


def fuzz(base_url: str, gateway, *, seed: int, max_examples: int, workers: int = 2, phone_seed: int = 0) -> list[FuzzRun]:
    tr = RestTransport(base_url)
    main_token = sign_up(tr, gateway, unique_phone(9_000_000 + phone_seed)).body["tokens"]["access_token"]
    signout_token = sign_up(tr, gateway, unique_phone(9_000_001 + phone_seed)).body["tokens"]["access_token"]
    tr.close()
    return [
        schemathesis_run(base_url, token=main_token, seed=seed, max_examples=max_examples, name="all but sign-out",
                         exclude=SIGN_OUT, workers=workers),
        schemathesis_run(base_url, token=signout_token, seed=seed, max_examples=max_examples, name="sign-out",
                         include=SIGN_OUT, workers=1),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from .run import prepare_database

    prepare_database(args.database_url)
    with running(args.database_url, args.redis_url, env={"OTP_RESEND_COOLDOWN": "1", "OTP_MAX_PER_HOUR": "100000"},
                 workers=2, threads=4) as (server, gateway):
        runs = fuzz(server.base_url, gateway, seed=args.seed, max_examples=args.max_examples, workers=args.workers,
                    phone_seed=int(time.time()) % 100_000)
        logged = server.server_errors_logged()
    failed = False
    for run in runs:
        print(f"== schemathesis pass '{run.name}': exit {run.exit_code} in {run.seconds:.0f}s "
              f"(seed {args.seed}, {args.max_examples} examples per operation, all checks)")
        print(run.output if run.exit_code else run.summary)
        failed |= run.exit_code != 0
    print(f"500s logged by the server: {len(logged)}")
    return 1 if failed or logged else 0


if __name__ == "__main__":
    sys.exit(main())
