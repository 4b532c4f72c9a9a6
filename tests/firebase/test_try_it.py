"""The try-it path of docs/clients/google.md, run as written.

The page's second shell block (mint an ID token with curl against the Auth Emulator's REST
API, then call the service) is read from the page and run by bash, with only the two
addresses swapped: the emulator's (127.0.0.1:9099) for the one this session started, the
service's (localhost:8000) for a gunicorn started here with the page's settings
(FIREBASE_PROJECT_ID=demo-authenticator, FIREBASE_AUTH_EMULATOR_HOST). Step 4 needs a
code from the console, so the test signs up itself between step 3 and step 5.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from scripts.prove.harness import ROOT, CaptureGateway, Server, running
from tests.firebase.emulator import PROJECT_ID
from tests.prove.conftest import test_database_url as database_url

PAGE = ROOT / "docs" / "clients" / "google.md"

pytestmark = pytest.mark.django_db(transaction=True)


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def commands(block: str) -> dict[str, str]:
    """The block's commands by step: "mint" (everything before step 3), "3", "4", "5"."""
    parts = re.split(r"^# (\d)\. .*$", block, flags=re.M)
    steps = {"mint": parts[0]}
    steps.update({number: body for number, body in zip(parts[1::2], parts[2::2], strict=True)})
    return steps


@pytest.fixture(scope="module")
def service(django_db_setup, firebase_emulator) -> Iterator[tuple[Server, CaptureGateway]]:
    env = {"FIREBASE_PROJECT_ID": PROJECT_ID, "FIREBASE_AUTH_EMULATOR_HOST": firebase_emulator}
    with running(database_url(), os.environ["REDIS_URL"], env=env, workers=1, threads=2) as (server, gateway):
        yield server, gateway


def bash(script: str, *, emulator: str, server: Server, **env: str) -> str:
    script = script.replace("127.0.0.1:9099", emulator).replace("localhost:8000", server.base_url.removeprefix("http://"))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_page_uses_the_projects_settings():
    page = PAGE.read_text()
    setup = shell_blocks(page)[0]
    assert "make emulator" in setup
    assert f"FIREBASE_PROJECT_ID={PROJECT_ID} FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:9099 make run" in setup
    firebase_json = json.loads((ROOT / "firebase.json").read_text())
    assert (firebase_json["emulators"]["auth"]["host"], firebase_json["emulators"]["auth"]["port"]) == ("127.0.0.1", 9099)
    makefile = (ROOT / "Makefile").read_text()
    assert f"EMULATOR_PROJECT ?= {PROJECT_ID}" in makefile
    assert "emulators:start --only auth --project $(EMULATOR_PROJECT)" in makefile
    assert PROJECT_ID.startswith("demo-")


def test_the_documented_curl_path_mints_a_token_and_signs_in(service, firebase_emulator):
    server, gateway = service
    steps = commands(shell_blocks(PAGE.read_text())[1])
    assert set(steps) == {"mint", "3", "4", "5"}
    assert "accounts:signInWithIdp" in steps["mint"]

    # Minting, then step 3 (the continuation), in one shell as a reader would type them.
    out = bash(steps["mint"] + 'printf "%s\\n" "$ID_TOKEN"\n' + steps["3"].split("CONTINUATION=")[0],
               emulator=firebase_emulator, server=server)
    id_token, answer = out.split("\n", 1)
    assert id_token.count(".") == 2  # a JWT from the emulator
    continuation = json.loads(answer)
    assert (continuation["status"], continuation["email"], continuation["name"]) == (
        "phone_verification_required", "sam@example.com", "Sam")

    # Step 4, with the code the test's SMS gateway got (the page's reader reads the console).
    phone = "+14155550199"
    signup = httpx.post(server.base_url + "/api/v1/auth/signup", timeout=20, json={
        "phone_number": phone, "country_id": "US", "name": "Sam", "google_continuation": continuation["continuation"]})
    assert signup.status_code == 202, signup.text
    verify = httpx.post(server.base_url + "/api/v1/auth/signup/verify", timeout=20, json={
        "phone_number": phone, "otp": gateway.code_for(phone, timeout=20),
        "google_continuation": continuation["continuation"]})
    assert verify.status_code == 201, verify.text
    assert (verify.json()["user"]["type"], verify.json()["user"]["email_verified"]) == ("google", True)

    # Step 5 as written: the same Google identity signs in at once.
    signed_in = json.loads(bash(steps["5"], emulator=firebase_emulator, server=server, ID_TOKEN=id_token))
    assert signed_in["user"]["id"] == verify.json()["user"]["id"]
    assert set(signed_in) == {"user", "session", "tokens"}
