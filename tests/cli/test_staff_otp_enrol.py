"""staff_otp_enrol: a staff member's second factor, from a terminal, that really signs in."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import UserStatus
from tests.cli.conftest import cli
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PHONE = "+447400900031"
PASSWORD = "staff-pass-for-enrol-7731"


@pytest.fixture
def staff():
    return UserFactory(phone_number=PHONE, country_id="GB", is_staff=True, status=UserStatus.ACTIVE, password=PASSWORD)


def admin_sign_in(device_id: str, code: str) -> bool:
    client = Client()
    client.post("/admin/login/", {"username": PHONE, "password": PASSWORD, "otp_device": device_id, "otp_token": code})
    return client.get("/admin/").status_code == 200


def code_from_uri(uri: str) -> str:
    """What an authenticator app that scanned the URI shows now."""
    params = parse_qs(urlsplit(uri).query)
    secret = params["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=int(params["period"][0]), digits=int(params["digits"][0]))
    return str(totp.token()).zfill(int(params["digits"][0]))


def test_enrol_prints_the_uri_a_qr_code_and_backup_codes_that_sign_in(staff):
    run = cli("staff_otp_enrol", "--user", "+44 7400 900031", "--backup-codes", "3")
    assert run.status == 0, run.err
    lines = run.out.splitlines()
    (uri,) = [line for line in lines if line.startswith("otpauth://")]
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == f"/Authenticator:{PHONE}"
    params = parse_qs(parts.query)
    assert params["issuer"] == ["Authenticator"] and params["algorithm"] == ["SHA1"]
    assert params["digits"] == ["6"] and params["period"] == ["30"]

    qr = [line for line in lines if set(line) <= set(" \u2580\u2584\u2588") and line.strip()]
    assert len(qr) >= 15 and len({len(line) for line in qr}) == 1  # a square of half blocks

    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed and base64.b32decode(params["secret"][0] + "=" * (-len(params["secret"][0]) % 8)) == device.bin_key
    assert admin_sign_in(device.persistent_id, code_from_uri(uri))

    start = lines.index(next(line for line in lines if line.startswith("backup codes")))
    codes = [line.strip() for line in lines[start + 1:start + 4]]
    assert len(set(codes)) == 3 and all(len(code) == 8 for code in codes)
    backup = StaticDevice.objects.get(user=staff)
    assert admin_sign_in(backup.persistent_id, codes[0])
    assert not admin_sign_in(backup.persistent_id, codes[0])  # once only


def test_json_output(staff):
    run = cli("staff_otp_enrol", "--user", PHONE, "--json")
    assert run.status == 0, run.err
    data = json.loads(run.out)
    assert set(data) == {"user", "device", "provisioning_uri", "backup_codes", "replaced"}
    assert data["user"]["phone_number"] == PHONE and len(data["backup_codes"]) == 10 and data["replaced"] == 0
    assert data["device"] == {"id": TOTPDevice.objects.get(user=staff).persistent_id, "name": "Authenticator app",
                              "confirmed": True}
    assert data["provisioning_uri"].startswith("otpauth://totp/")


def test_enrolment_is_audited_without_the_key_or_codes(staff):
    from accounts.models import StaffChange

    data = json.loads(cli("staff_otp_enrol", "--user", PHONE, "--json", "--backup-codes", "3").out)
    row = StaffChange.objects.get(user=staff, field="second_factor")
    assert (row.new_value, row.actor) == ("TOTP + 3 backup code(s)", None)
    secret = TOTPDevice.objects.get(user=staff).key
    stored = f"{row.old_value} {row.new_value} {row.reason}"
    assert secret not in stored and not any(code in stored for code in data["backup_codes"])


def test_a_second_enrolment_needs_replace_which_voids_the_old_device_and_codes(staff):
    first = json.loads(cli("staff_otp_enrol", "--user", PHONE, "--json", "--backup-codes", "2").out)
    old_backup = StaticDevice.objects.get(user=staff).persistent_id

    again = cli("staff_otp_enrol", "--user", PHONE)
    assert again.status == 8 and again.out == ""
    assert again.err.strip() == ("error: second_factor_exists: This user already has a second factor; "
                                 "replace it to make a new one.")

    second = json.loads(cli("staff_otp_enrol", "--user", PHONE, "--json", "--replace", "--backup-codes", "1").out)
    assert second["replaced"] == 2
    assert second["provisioning_uri"] != first["provisioning_uri"]
    assert not admin_sign_in(old_backup, first["backup_codes"][0])
    assert not admin_sign_in(first["device"]["id"], code_from_uri(first["provisioning_uri"]))
    assert admin_sign_in(second["device"]["id"], code_from_uri(second["provisioning_uri"]))


def test_a_user_who_is_not_staff_is_refused(db):
    UserFactory(phone_number="+447400900032", country_id="GB")
    run = cli("staff_otp_enrol", "--user", "+447400900032")
    assert run.status == 6 and run.out == ""
    assert run.err.strip() == "error: not_staff: Only staff sign in to the admin; this user is not staff."
    assert not TOTPDevice.objects.exists()
    run = cli("staff_otp_enrol", "--user", "+447400900032", "--json")
    assert json.loads(run.err) == {"code": "not_staff", "detail": "Only staff sign in to the admin; this user is not staff."}


@pytest.mark.parametrize(("args", "status"), [
    (["--user", "+447400999999"], 7),
    (["--user", PHONE, "--backup-codes", "51"], 2),
    (["--user", PHONE, "--backup-codes", "-1"], 2),
])
def test_bad_arguments(staff, args, status):
    run = cli("staff_otp_enrol", *args)
    assert run.status == status and run.out == "", run.err
    assert not TOTPDevice.objects.exists()
