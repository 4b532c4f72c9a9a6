"""Give a staff member their second factor for the admin (django-otp devices).

The admin lets in only sessions verified by a confirmed device, so a staff member has
no way in until an operator enrols one: a TOTP device (the authenticator app scans its
``otpauth://`` URI) and a set of one-time backup codes. The codes are returned once and
never shown again (the admin hides them too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import staff_change_record
from authenticator.core.errors import ApplicationError, Conflict, InvalidInput

log = logging.getLogger(__name__)

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
MAX_BACKUP_CODES = 50


class NotStaff(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = (
        403, "not_staff", "Only staff sign in to the admin; this user is not staff.", "PERMISSION_DENIED", 6)


class SecondFactorExists(Conflict):
    code, detail = "second_factor_exists", "This user already has a second factor; replace it to make a new one."


@dataclass(frozen=True)
class StaffOtpEnrolment:
    user: User
    device: TOTPDevice
    provisioning_uri: str
    backup_codes: list[str]
    replaced: int  # devices removed (with --replace)


@transaction.atomic
def staff_otp_enrol(*, user: User, backup_codes: int = 10, replace: bool = False,
                    actor_label: str = "") -> StaffOtpEnrolment:
    """A confirmed TOTP device and ``backup_codes`` one-time codes for a staff member.

    A user who already has a device keeps it unless ``replace``: then every old device
    goes (its codes stop working, and admin sessions it verified are signed out at their
    next request, as django-otp drops a session whose device is gone).
    """
    if not user.is_staff:
        raise NotStaff()
    if not 0 <= backup_codes <= MAX_BACKUP_CODES:
        raise InvalidInput(extra={"errors": {"backup_codes": [
            {"code": "out_of_range", "message": f"Must be between 0 and {MAX_BACKUP_CODES}."}]}})
    User.objects.select_for_update().filter(pk=user.pk).first()  # one enrolment at a time
    existing = list(devices_for_user(user, confirmed=None))
    if existing and not replace:
        raise SecondFactorExists()
    for old in existing:
        old.delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    codes: list[str] = []
    if backup_codes:
        static = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(backup_codes)]
        StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    # The audit trail of the account (no key, no code): who gave it which factor, when.
    staff_change_record(user=user, actor=None, field="second_factor", old=f"{len(existing)} device(s)",
                        new=f"TOTP + {len(codes)} backup code(s)",
                        reason=f"enrolled by {actor_label or 'an operator'}" + (" (replaced)" if existing else ""))
    log.info("staff second factor enrolled", extra={
        "user_id": user.pk, "replaced": len(existing), "backup_codes": len(codes), "actor": actor_label or "system"})
    return StaffOtpEnrolment(user=user, device=device, provisioning_uri=device.config_url,
                             backup_codes=codes, replaced=len(existing))
