"""Phone numbers, countries and emails: normalised once, here, for every entry point."""

from __future__ import annotations

import unicodedata

import phonenumbers
import pycountry
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_PHONE_INPUT = 32


def normalise_country(value: str) -> str:
    code = (value or "").strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
        raise ValidationError("Not an ISO 3166-1 alpha-2 country code.", code="invalid_country")
    return code


def _fold_digits(value: str) -> str:
    # Arabic-Indic, full-width and other Unicode decimal digits mean the same number.
    out = []
    for ch in value:
        if ch.isdigit() and not ch.isascii():
            try:
                out.append(str(unicodedata.decimal(ch)))
                continue
            except (TypeError, ValueError):
                pass
        out.append(ch)
    return "".join(out)


def parse_phone(value: str, region: str | None = None) -> phonenumbers.PhoneNumber:
    raw = _fold_digits(unicodedata.normalize("NFKC", value or "")).strip()
    if not raw or len(raw) > MAX_PHONE_INPUT or "\x00" in raw:
        raise ValidationError("Enter a valid phone number.", code="invalid_phone_number")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("Enter a valid phone number.", code="invalid_phone_number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a valid phone number.", code="invalid_phone_number")
    return number


def normalise_phone(value: str, region: str | None = None) -> str:
    """E.164 form of ``value``; ``region`` (ISO alpha-2) reads numbers written locally."""
    return phonenumbers.format_number(parse_phone(value, region), phonenumbers.PhoneNumberFormat.E164)


def normalise_phone_for_country(value: str, country_id: str) -> tuple[str, str]:
    """Validate a phone number with its country; both normalised, consistent or an error."""
    country = normalise_country(country_id)
    number = parse_phone(value, country)
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    region = phonenumbers.region_code_for_number(number)
    if country != region and not (region is None and country in regions):
        raise ValidationError(
            "The phone number does not belong to the given country.", code="country_mismatch"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), country


def normalise_email(value: str) -> str:
    email = (value or "").strip()
    if len(email) > 254 or "\x00" in email:
        raise ValidationError("Enter a valid email address.", code="invalid_email")
    validate_email(email)
    local, _, domain = email.rpartition("@")
    # Domains are case-insensitive; the local part is kept as given, uniqueness ignores case.
    return f"{local}@{domain.lower()}"


def normalise_user_fields(user) -> None:
    user.phone_number, user.country_id = normalise_phone_for_country(user.phone_number, user.country_id)
    if user.email:
        user.email = normalise_email(user.email)
    else:
        user.email = None
