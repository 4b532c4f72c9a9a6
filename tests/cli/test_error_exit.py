"""The one mapping from a domain error to the command line: exit status and one line."""

from __future__ import annotations

import json

import pytest

from authenticator.core.errors import (
    AccountBlocked,
    ApplicationError,
    InvalidInput,
    InvalidOtp,
    InvalidStatusTransition,
    NotFound,
    RateLimited,
    all_errors,
)
from authenticator.management.base import error_exit


def make(cls: type[ApplicationError]) -> ApplicationError:
    return cls(retry_after=30) if issubclass(cls, RateLimited) else cls()


@pytest.mark.parametrize("cls", all_errors(), ids=lambda cls: cls.__name__)
def test_every_error_exits_non_zero_with_its_code_on_one_line(cls):
    err = make(cls)
    status, line = error_exit(err)
    assert status == cls.exit_code != 0
    assert line.startswith(f"error: {cls.code}: {cls.detail}")
    assert "\n" not in line

    status, line = error_exit(err, as_json=True)
    assert status == cls.exit_code
    assert "\n" not in line
    assert json.loads(line) == err.payload()


def test_exit_statuses_follow_the_error_table():
    assert error_exit(InvalidInput())[0] == 2
    assert error_exit(InvalidOtp())[0] == 3
    assert error_exit(RateLimited(retry_after=5))[0] == 4
    assert error_exit(AccountBlocked())[0] == 6
    assert error_exit(NotFound())[0] == 7
    assert error_exit(InvalidStatusTransition())[0] == 8


def test_plain_error_is_exactly_code_and_detail():
    assert error_exit(InvalidOtp()) == (3, "error: invalid_otp: The code is not valid.")


def test_rate_limit_line_tells_when_to_retry():
    assert error_exit(RateLimited(retry_after=42)) == (
        4, "error: rate_limited: Too many requests; try again later. (retry after 42 s)"
    )


def test_field_errors_are_named_on_the_line():
    err = InvalidInput(extra={"errors": {
        "phone_number": [{"code": "invalid_phone_number", "message": "Enter a valid phone number."}],
        "otp": [{"code": "invalid", "message": "Enter the 6-digit code."}],
    }})
    line = ("error: invalid_request: The request is invalid. "
            "(phone_number: Enter a valid phone number.; otp: Enter the 6-digit code.)")
    assert error_exit(err) == (2, line)


def test_multi_line_detail_is_folded_into_one_line():
    status, line = error_exit(NotFound("No user\n  +447400123456.\r\n"))
    assert (status, line) == (7, "error: not_found: No user +447400123456.")


def test_json_line_is_the_rest_error_body():
    status, line = error_exit(RateLimited(retry_after=7), as_json=True)
    assert status == 4
    assert json.loads(line) == {"code": "rate_limited", "detail": "Too many requests; try again later.", "retry_after": 7}
