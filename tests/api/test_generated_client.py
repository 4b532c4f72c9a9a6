"""The OpenAPI schema is true: a client generated from it runs every flow.

A real gunicorn serves the service on the test database (scripts/prove/harness.py), with
Google sign-in on the real Firebase Auth Emulator. The test fetches ``/api/schema/`` from
it, generates a Python client with openapi-python-client (pinned in requirements/test.txt)
into a temporary directory and calls every operation through that client only. Parsing is
strict: the client raises on an undocumented status (``raise_on_unexpected_status``), its
models raise on a missing required key, and ``assert_typed`` checks every value the client
parsed against the type the schema gave it (a ``str`` field holding null, or a key the
schema does not list, fails here even where the generated code would let it through).
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import secrets
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from scripts.prove.harness import CaptureGateway, Server, running
from tests.firebase import helpers
from tests.firebase.emulator import PROJECT_ID
from tests.prove.conftest import test_database_url as database_url

# The server writes to the test database; flushed after each test, like every test of
# a live server here.
pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "authenticator_client"


@dataclass
class Generated:
    """The generated package and its parts, imported from the temporary directory."""

    package: types.ModuleType
    models: types.ModuleType
    api: Any  # attribute access to authenticator_client.api.v1.<operation module>
    base_url: str
    gateway: CaptureGateway

    def client(self):
        return self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True, timeout=httpx.Timeout(20.0))

    def as_user(self, access_token: str):
        return self.package.AuthenticatedClient(base_url=self.base_url, token=access_token,
                                                raise_on_unexpected_status=True, timeout=httpx.Timeout(20.0))


class _Operations:
    def __init__(self, root: str) -> None:
        self._root = root

    def __getattr__(self, name: str) -> types.ModuleType:
        return importlib.import_module(f"{self._root}.{name}")


def generate(schema: dict, into: Path) -> None:
    (into / "openapi.json").write_text(json.dumps(schema))
    # No post hooks: the generated code is used as written, not reformatted by ruff.
    (into / "config.yaml").write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(into / "openapi.json"), "--meta", "none",
         "--output-path", str(into / PACKAGE), "--config", str(into / "config.yaml"), "--fail-on-warning"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.fixture(scope="module")
def live(django_db_setup, firebase_emulator, tmp_path_factory) -> Iterator[tuple[Server, CaptureGateway]]:
    env = {"FIREBASE_AUTH_EMULATOR_HOST": firebase_emulator, "FIREBASE_PROJECT_ID": PROJECT_ID,
           "OTP_MAX_PER_HOUR": "1000"}
    with running(database_url(), os.environ["REDIS_URL"], env=env, workers=1, threads=4) as (server, gateway):
        yield server, gateway
        assert not server.server_errors_logged(), server.log_tail()


@pytest.fixture(scope="module")
def gen(live, tmp_path_factory) -> Iterator[Generated]:
    server, gateway = live
    answer = httpx.get(server.base_url + "/api/schema/", params={"format": "json"}, timeout=20)
    assert answer.status_code == 200, answer.text
    into = tmp_path_factory.mktemp("generated-client")
    generate(answer.json(), into)
    sys.path.insert(0, str(into))
    try:
        package = importlib.import_module(PACKAGE)
        yield Generated(package=package, models=importlib.import_module(f"{PACKAGE}.models"),
                        api=_Operations(f"{PACKAGE}.api.v1"), base_url=server.base_url, gateway=gateway)
    finally:
        sys.path.remove(str(into))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


# --- strict typing of what the client parsed ---------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    module = sys.modules[cls.__module__]
    package_types = sys.modules[f"{PACKAGE}.types"]
    models = sys.modules[f"{PACKAGE}.models"]
    return typing.get_type_hints(cls, globalns={**vars(package_types), **vars(models), **vars(module)})


def assert_typed(value: Any, hint: Any = None, where: str = "answer") -> None:
    """``value`` is what ``hint`` says, all the way down; a model's extra keys fail."""
    if hint is None:
        hint = type(value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        failures = []
        for arm in args:
            try:
                assert_typed(value, arm, where)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{where}: {value!r} is none of {hint} ({'; '.join(failures)})")
    if hint is type(None):
        assert value is None, f"{where}: {value!r} is not null"
        return
    if origin is list:
        assert isinstance(value, list), f"{where}: {value!r} is not a list"
        for index, item in enumerate(value):
            assert_typed(item, args[0], f"{where}[{index}]")
        return
    if origin is dict:
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        for key, item in value.items():
            assert isinstance(key, str)
            assert_typed(item, args[1], f"{where}.{key}")
        return
    if attrs.has(hint):
        assert type(value) is hint, f"{where}: {type(value).__name__} is not {hint.__name__}"
        hints = _hints(hint)
        for field in attrs.fields(hint):
            if field.name == "additional_properties":
                continue
            assert_typed(getattr(value, field.name), hints[field.name], f"{where}.{field.name}")
        extra = getattr(value, "additional_properties", {})
        if "additional_properties" in hints and typing.get_args(hints["additional_properties"])[1] is not Any:
            assert_typed(extra, hints["additional_properties"], f"{where}")  # a map type (ErrorOut.errors)
        else:
            assert extra == {}, f"{where}: keys the schema does not list: {sorted(extra)}"
        return
    if hint in (int, bool):  # bool is an int to isinstance; JSON keeps them apart
        assert type(value) is hint, f"{where}: {value!r} is not {hint.__name__}"
        return
    assert isinstance(value, hint), f"{where}: {value!r} is not {getattr(hint, '__name__', hint)}"


def parsed(response, status: int, model: type) -> Any:
    """The parsed answer of a call that must answer ``status`` with ``model``, fully typed."""
    assert response.status_code == status, (response.status_code, response.content)
    assert type(response.parsed) is model, (type(response.parsed), response.content)
    assert_typed(response.parsed)
    return response.parsed


def no_content(response) -> None:
    assert response.status_code == 204, (response.status_code, response.content)
    assert response.content == b""


# --- the flows --------------------------------------------------------------------------


def new_phone() -> str:
    return f"+4474009{secrets.randbelow(100000):05d}"


def code(gen: Generated, to: str, before: int) -> str:
    return gen.gateway.code_for(to, after=before, timeout=20)


def sign_up(gen: Generated, phone: str, *, continuation: str | None = None, **extra: Any):
    m, api, client = gen.models, gen.api, gen.client()
    before = gen.gateway.count_to(phone)
    body = m.SignupInRequest(phone_number=phone, country_id="GB", name="Ann", **extra)
    if continuation:
        body.google_continuation = continuation
    sent = parsed(api.v1_auth_signup_create.sync_detailed(client=client, body=body), 202, m.OtpSentOut)
    assert (sent.status, sent.channel) == (m.OtpSentStatusEnum.OTP_SENT, m.ChannelEnum.SMS)
    verify = m.SignupVerifyInRequest(phone_number=phone, otp=code(gen, phone, before), device="generated-client")
    if continuation:
        verify.google_continuation = continuation
    return parsed(api.v1_auth_signup_verify_create.sync_detailed(client=client, body=verify), 201, m.SignedInOut)


def test_sign_up_sign_in_profile_sessions_and_sign_out(gen):
    m, api, client = gen.models, gen.api, gen.client()
    phone = new_phone()
    signed_up = sign_up(gen, phone, salutation="Dr")
    assert (signed_up.user.phone_number, signed_up.user.status, signed_up.user.salutation) == (phone, "active", "Dr")
    assert signed_up.user.email is None and signed_up.user.email_verified is False
    assert isinstance(signed_up.user.created_at, datetime.datetime) and signed_up.session.current is True
    assert signed_up.session.device == "generated-client" and signed_up.session.logged_out_at is None
    me = gen.as_user(signed_up.tokens.access_token)

    profile = parsed(api.v1_me_retrieve.sync_detailed(client=me), 200, m.ProfileOut)
    assert (profile.id, profile.email_pending) == (signed_up.user.id, None)

    # A new email is pending until the code sent to it is verified; then it signs in.
    email = f"ann-{secrets.token_hex(4)}@example.com"
    before = gen.gateway.count_to(email)
    changed = parsed(api.v1_me_partial_update.sync_detailed(
        client=me, body=m.PatchedProfileInRequest(name="Ann B", email=email)), 200, m.ProfileOut)
    assert (changed.name, changed.email_pending, changed.email) == ("Ann B", email, None)
    verified = parsed(api.v1_me_email_verify_create.sync_detailed(
        client=me, body=m.VerifyEmailInRequest(otp=code(gen, email, before))), 200, m.ProfileOut)
    assert (verified.email, verified.email_verified, verified.email_pending) == (email, True, None)

    # Sign in by phone, then by email.
    before = gen.gateway.count_to(phone)
    sent = parsed(api.v1_auth_otp_create.sync_detailed(client=client, body=m.OtpRequestInRequest(phone_number=phone)),
                  202, m.OtpSentOut)
    assert sent.channel == m.ChannelEnum.SMS
    by_phone = parsed(api.v1_auth_otp_verify_create.sync_detailed(client=client, body=m.OtpVerifyInRequest(
        phone_number=phone, otp=code(gen, phone, before), device="phone-sign-in")), 200, m.SignedInOut)
    before = gen.gateway.count_to(email)
    sent = parsed(api.v1_auth_otp_create.sync_detailed(client=client, body=m.OtpRequestInRequest(email=email)),
                  202, m.OtpSentOut)
    assert sent.channel == m.ChannelEnum.EMAIL
    by_email = parsed(api.v1_auth_otp_verify_create.sync_detailed(client=client, body=m.OtpVerifyInRequest(
        email=email, otp=code(gen, email, before), device="email-sign-in")), 200, m.SignedInOut)
    assert by_phone.user.id == by_email.user.id == signed_up.user.id

    # Refresh: a new pair for the same session.
    refreshed = parsed(api.v1_auth_token_refresh_create.sync_detailed(
        client=client, body=m.RefreshInRequest(refresh_token=by_email.tokens.refresh_token)), 200, m.RefreshOut)
    assert refreshed.tokens.session_id == by_email.tokens.session_id
    assert refreshed.tokens.refresh_token != by_email.tokens.refresh_token

    # Sessions: three, the caller's own is current; revoke one, sign out of this one.
    mine = gen.as_user(refreshed.tokens.access_token)
    sessions = api.v1_me_sessions_list.sync_detailed(client=mine)
    assert sessions.status_code == 200
    assert_typed(sessions.parsed, list[m.SessionOut])
    assert {s.id for s in sessions.parsed} == {signed_up.session.id, by_phone.session.id, by_email.session.id}
    assert [s.id for s in sessions.parsed if s.current] == [by_email.session.id]
    no_content(api.v1_me_sessions_destroy.sync_detailed(by_phone.session.id, client=mine))
    no_content(api.v1_auth_signout_create.sync_detailed(client=mine, body=m.SignOutInRequest()))
    gone = parsed(api.v1_me_retrieve.sync_detailed(client=mine), 401, m.ErrorOut)
    assert gone.code in ("invalid_token", "not_authenticated")
    remaining = api.v1_me_sessions_list.sync_detailed(client=me)
    assert [s.id for s in remaining.parsed] == [signed_up.session.id]
    no_content(api.v1_auth_signout_create.sync_detailed(client=me, body=m.SignOutInRequest(all_=True)))
    assert parsed(api.v1_me_retrieve.sync_detailed(client=me), 401, m.ErrorOut).code in ("invalid_token", "not_authenticated")


def test_google_new_person_then_returning_then_identities(gen, firebase_emulator):
    m, api, client = gen.models, gen.api, gen.client()
    email = f"ada-{secrets.token_hex(4)}@example.com"
    sub = f"google-{secrets.token_hex(8)}"
    id_token, _uid = helpers.mint_google_id_token(firebase_emulator, sub=sub, email=email, name="Ada")

    first = parsed(api.v1_auth_google_create.sync_detailed(
        client=client, body=m.GoogleInRequest(id_token=id_token, device="android")), 200, m.GoogleContinuationOut)
    assert first.status == m.GoogleContinuationStatusEnum.PHONE_VERIFICATION_REQUIRED
    assert (first.email, first.name) == (email, "Ada") and first.expires_in > 0

    phone = new_phone()
    signed_up = sign_up(gen, phone, continuation=first.continuation)
    assert (signed_up.user.type_, signed_up.user.email, signed_up.user.email_verified) == ("google", email, True)

    again, _ = helpers.mint_google_id_token(firebase_emulator, sub=sub, email=email, name="Ada")
    back = parsed(api.v1_auth_google_create.sync_detailed(
        client=client, body=m.GoogleInRequest(id_token=again, device="android")), 200, m.SignedInOut)
    assert back.user.id == signed_up.user.id and back.session.method == "google"

    me = gen.as_user(back.tokens.access_token)
    identities = api.v1_me_identities_list.sync_detailed(client=me)
    assert identities.status_code == 200
    assert_typed(identities.parsed, list[m.IdentityOut])
    assert [(i.provider, i.email) for i in identities.parsed] == [("google.com", email)]
    no_content(api.v1_me_identities_destroy.sync_detailed(identities.parsed[0].id, client=me))
    assert api.v1_me_identities_list.sync_detailed(client=me).parsed == []
    missing = parsed(api.v1_me_identities_destroy.sync_detailed(identities.parsed[0].id, client=me), 404, m.ErrorOut)
    assert missing.code == "not_found"


def test_field_errors_parse_as_the_error_model(gen):
    m, api, client = gen.models, gen.api, gen.client()
    # (The generated request models have no room for unknown fields: the schema's
    # additionalProperties: false. Wrong values are what a client can send.)
    body = m.SignupInRequest(phone_number="+447400", country_id="G", name="")
    error = parsed(api.v1_auth_signup_create.sync_detailed(client=client, body=body), 400, m.ErrorOut)
    assert error.code == "invalid_request"
    assert isinstance(error.errors, m.ErrorOutErrors)
    assert set(error.errors.additional_keys) == {"country_id", "name"}
    assert [e.code for e in error.errors["country_id"]] == ["min_length"]
    assert [e.code for e in error.errors["name"]] == ["blank"]
    assert all(isinstance(e, m.FieldErrorOut) and e.message for key in error.errors.additional_keys for e in error.errors[key])

    bad_code = parsed(api.v1_auth_otp_verify_create.sync_detailed(client=client, body=m.OtpVerifyInRequest(
        phone_number=new_phone(), otp="12")), 400, m.ErrorOut)
    assert [e.code for e in bad_code.errors["otp"]] == ["min_length", "invalid"]


def test_rate_limit_parses_as_the_error_model_with_retry_after(gen):
    m, api, client = gen.models, gen.api, gen.client()
    phone = new_phone()
    parsed(api.v1_auth_otp_create.sync_detailed(client=client, body=m.OtpRequestInRequest(phone_number=phone)), 202, m.OtpSentOut)
    again = api.v1_auth_otp_create.sync_detailed(client=client, body=m.OtpRequestInRequest(phone_number=phone))
    limited = parsed(again, 429, m.ErrorOut)
    assert limited.code in ("rate_limited", "too_many_attempts")
    assert isinstance(limited.retry_after, int) and 0 < limited.retry_after <= 60
    assert again.headers["Retry-After"] == str(limited.retry_after)


def test_the_checker_fails_on_a_wrong_type(gen):
    """assert_typed can fail: a null where the schema says string, an unlisted key."""
    m = gen.models
    body = {"status": "otp_sent", "channel": "sms", "expires_in": 300, "resend_after": 60}
    assert_typed(m.OtpSentOut.from_dict(body))
    with pytest.raises(AssertionError, match="is not int"):
        assert_typed(m.OtpSentOut.from_dict({**body, "expires_in": "300"}))
    with pytest.raises(AssertionError, match="does not list"):
        assert_typed(m.OtpSentOut.from_dict({**body, "surprise": 1}))
    with pytest.raises(KeyError):
        m.OtpSentOut.from_dict({k: v for k, v in body.items() if k != "channel"})
