"""A simulated SMS pumping attack against a live deployment, and what it cost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/authn_prove REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python -m scripts.prove.pumping [--requests 20000] [--redis-unreachable]

The attack (issue 13's sizes by default): 20,000 sign-up and sign-in code requests over
200 numbers in 20 prefix ranges of 5 countries (GB, US and LV are texted, NG and PK are
not), from 1,000 client addresses given in ``X-Forwarded-For`` through a trusted proxy
(the script's own connection, ``TRUSTED_PROXIES=127.0.0.1``), with the per-address
throttles opened wide so that only the send limits and the budgets stand in the way.
Meanwhile legitimate people of an allowed country (GB) sign up at a steady pace, each
with a number of their own, from an address of their own, and finish with their code.

The service runs under gunicorn with the SMS going to a local capture gateway; the
figures are what reached the gateway: SMS per destination country against that
country's budget, the total against the global budget, and the share of legitimate
sign-ups that got their code and verified it (the proof asks for ≥ 99 %). With
``--redis-unreachable`` the deployment's ``REDIS_URL`` is a closed loopback port: the
send limits and budgets must hold on PostgreSQL alone.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import phonenumbers

from .harness import CaptureGateway, free_port, running

# The deployment's budgets: what the figures are held against.
BUDGET_ENV = {
    "SMS_ALLOWED_COUNTRIES": "GB,US,LV",
    "SMS_BUDGET_PER_COUNTRY_HOUR": "100",
    "SMS_BUDGET_COUNTRY_OVERRIDES": "GB:1000,LV:20",
    "SMS_BUDGET_GLOBAL_HOUR": "1500",
    "SMS_PREFIX_DIGITS": "8",
    "SMS_PREFIX_WINDOW": "600",
    "SMS_PREFIX_MAX_NUMBERS": "5",
    "TRUSTED_PROXIES": "127.0.0.1",
}
# Four prefix ranges per country, first digits of the E.164 number (8 digits: the range).
ATTACK_RANGES = {
    "GB": ["+4474009", "+4474008", "+4474007", "+4474006"],
    "US": ["+1202555", "+1212555", "+1312555", "+1415555"],
    "LV": ["+3712000", "+3712600", "+3712100", "+3712900"],
    "NG": ["+2348031", "+2348032", "+2348033", "+2348034"],
    "PK": ["+9230010", "+9230020", "+9230030", "+9230040"],
}


E164_LENGTH = {"GB": 13, "US": 12, "LV": 12, "NG": 14, "PK": 13}  # mobile numbers, "+" included


@dataclass
class Figures:
    requests: int = 0
    answers: Counter = field(default_factory=Counter)
    sms_per_country: Counter = field(default_factory=Counter)
    legit_tried: int = 0
    legit_ok: int = 0
    legit_failures: list[str] = field(default_factory=list)
    hours: int = 1
    seconds: float = 0.0

    @property
    def legit_rate(self) -> float:
        return self.legit_ok / self.legit_tried if self.legit_tried else 0.0


def country_of(number: str) -> str:
    return phonenumbers.region_code_for_number(phonenumbers.parse(number)) or "ZZ"


def _valid(number: str, country: str) -> bool:
    parsed = phonenumbers.parse(number)
    return phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == country


def attack_numbers(*, numbers: int, prefixes: int, countries: int) -> list[str]:
    """``numbers`` valid numbers, ``numbers / prefixes`` in each of ``prefixes`` ranges of the
    first ``countries`` countries of ATTACK_RANGES, consecutive inside a range as pumping
    walks them."""
    chosen = list(ATTACK_RANGES)[:countries]
    per_country = prefixes // countries
    per_range = numbers // prefixes
    out: list[str] = []
    for country in chosen:
        for start in ATTACK_RANGES[country][:per_country]:
            digits = E164_LENGTH[country] - len(start)
            found, n = [], 100
            while len(found) < per_range:
                number = f"{start}{n:0{digits}d}"
                if _valid(number, country):
                    found.append(number)
                n += 1
            out.extend(found)
    return out


def legit_numbers(count: int, rng: random.Random) -> list[str]:
    """GB mobile numbers spread over the whole range, as real people's are."""
    out: set[str] = set()
    while len(out) < count:
        number = f"+447{rng.randint(400, 999)}{rng.randint(0, 999999):06d}"
        if _valid(number, "GB"):
            out.add(number)
    return sorted(out)


def simulate(base_url: str, gateway: CaptureGateway, *, requests: int = 20_000, numbers: int = 200, prefixes: int = 20,
             countries: int = 5, addresses: int = 1_000, legit: int = 300, clients: int = 8, seed: int = 13) -> Figures:
    rng = random.Random(seed)
    pumped = attack_numbers(numbers=numbers, prefixes=prefixes, countries=countries)
    # Fresh people each run (the database keeps the last run's accounts); the attack is seeded.
    people = legit_numbers(legit, random.Random(time.time_ns()))
    attackers = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(addresses)]
    every = max(requests // max(legit, 1), 1)  # one legitimate sign-up per this many attack requests
    jobs: list[tuple] = []
    for i in range(requests):
        number = rng.choice(pumped)
        jobs.append(("attack", number, rng.choice(attackers), rng.random() < 0.5))
        if i % every == every - 1 and people:
            jobs.append(("legit", people.pop(), f"81.2.{rng.randint(0, 255)}.{rng.randint(1, 254)}", True))
    figures = Figures(requests=requests)
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if getattr(local, "client", None) is None:
            local.client = httpx.Client(base_url=base_url, timeout=30.0)
        return local.client

    def run(job: tuple) -> None:
        kind, number, address, signup = job
        headers = {"X-Forwarded-For": address}
        body = {"phone_number": number, "country_id": country_of(number), "name": "Sam"} if signup else {"phone_number": number}
        path = "/api/v1/auth/signup" if signup else "/api/v1/auth/otp"
        if kind == "attack":
            response = client().post(path, json=body, headers=headers)
            code = response.json().get("code", "otp_sent") if response.content else str(response.status_code)
            with lock:
                figures.answers[f"{response.status_code} {code}"] += 1
            return
        with lock:
            figures.legit_tried += 1
        before = gateway.count_to(number)
        started = client().post(path, json=body, headers=headers)
        if started.status_code != 202:
            with lock:
                figures.legit_failures.append(f"{number}: sign-up {started.status_code} {started.text[:80]}")
            return
        try:
            code = gateway.code_for(number, after=before, timeout=15)
        except (TimeoutError, AssertionError) as exc:
            with lock:
                figures.legit_failures.append(f"{number}: {exc}")
            return
        verified = client().post("/api/v1/auth/signup/verify", json={"phone_number": number, "otp": code}, headers=headers)
        with lock:
            if verified.status_code == 201:
                figures.legit_ok += 1
            else:
                figures.legit_failures.append(f"{number}: verify {verified.status_code} {verified.text[:80]}")

    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, jobs))
    figures.seconds = time.time() - started
    figures.hours = int(time.time() // 3600) - int(started // 3600) + 1
    time.sleep(1.0)  # the last answers' SMS leave after the answer
    for sms in list(gateway.messages):
        if sms.to.startswith("+"):
            figures.sms_per_country[country_of(sms.to)] += 1
    return figures


def budget_of(country: str, env: dict[str, str] = BUDGET_ENV) -> int | None:
    """The hourly budget of ``country`` in ``env``; None when it is not texted at all."""
    allowed = [c for c in env["SMS_ALLOWED_COUNTRIES"].split(",") if c]
    if allowed and country not in allowed:
        return None
    overrides = dict(item.split(":") for item in env.get("SMS_BUDGET_COUNTRY_OVERRIDES", "").split(",") if item)
    return int(overrides.get(country, env["SMS_BUDGET_PER_COUNTRY_HOUR"]))


def report(figures: Figures, env: dict[str, str] = BUDGET_ENV, out=sys.stdout) -> bool:
    """Print the figures; True when every country stayed within its budget, the total within
    the global one, and ≥ 99 % of the legitimate sign-ups succeeded."""
    ok = True
    print(f"{figures.requests} attack requests in {figures.seconds:.1f} s, over {figures.hours} clock hour(s)", file=out)
    print("answers to the attack:", ", ".join(f"{k}: {v}" for k, v in figures.answers.most_common()), file=out)
    print(f"{'country':<8}{'SMS sent':>10}{'budget':>12}", file=out)
    for country in sorted(set(ATTACK_RANGES) | set(figures.sms_per_country)):
        sent, budget = figures.sms_per_country.get(country, 0), budget_of(country, env)
        allowed = 0 if budget is None else budget * figures.hours
        ok &= sent <= allowed
        print(f"{country:<8}{sent:>10}{'not texted' if budget is None else allowed:>12}", file=out)
    total, limit = sum(figures.sms_per_country.values()), int(env["SMS_BUDGET_GLOBAL_HOUR"]) * figures.hours
    ok &= total <= limit
    print(f"{'all':<8}{total:>10}{limit:>12}", file=out)
    print(f"legitimate sign-ups: {figures.legit_ok} of {figures.legit_tried} succeeded ({figures.legit_rate:.1%})", file=out)
    for failure in figures.legit_failures[:5]:
        print("  failed:", failure, file=out)
    ok &= figures.legit_rate >= 0.99
    print("PROOF HOLDS" if ok else "PROOF FAILS", file=out)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--numbers", type=int, default=200)
    parser.add_argument("--addresses", type=int, default=1_000)
    parser.add_argument("--legit", type=int, default=300)
    parser.add_argument("--redis-unreachable", action="store_true")
    args = parser.parse_args(argv)
    from .run import prepare_database

    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    prepare_database(database_url)
    if args.redis_unreachable:
        redis_url = f"redis://127.0.0.1:{free_port()}/0"
    with running(database_url, redis_url, env=BUDGET_ENV, workers=2, threads=4) as (server, gateway):
        figures = simulate(server.base_url, gateway, requests=args.requests, numbers=args.numbers,
                           addresses=args.addresses, legit=args.legit)
    print("Redis unreachable: budgets and send limits on PostgreSQL" if args.redis_unreachable else "Redis up")
    return 0 if report(figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
