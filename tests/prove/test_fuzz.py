"""schemathesis against the served schema, every check, a fixed seed — a CI-sized run.

The full run (200 examples per operation) is `make prove` / scripts/prove/fuzz.py.
"""

from __future__ import annotations

import os

import pytest

from scripts.prove.fuzz import fuzz

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES = int(os.environ.get("PROVE_FUZZ_EXAMPLES", "25"))


def test_fuzzing_the_served_schema_finds_no_server_error_and_no_schema_contradiction(live):
    runs = fuzz(live.server.base_url, live.gateway, seed=20251125, max_examples=EXAMPLES)
    for run in runs:
        print(f"\nschemathesis {run.name}: exit {run.exit_code} in {run.seconds:.0f}s\n{run.summary}")
    assert [run.exit_code for run in runs] == [0, 0], "\n\n".join(run.output for run in runs if run.exit_code)
