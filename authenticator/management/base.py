"""What every operator command shares: ``--json``, the user lookup, the output shapes, and
the one mapping from a domain error to an exit status and a line (``error_exit``).

Commands are a transport like REST and gRPC: each parses its arguments, calls one flow
and prints the result. A domain error ends the command with ``err.exit_code`` and one
line on stderr — ``error: <code>: <detail>``, or the REST error body as one JSON line
with ``--json``. Everything a script reads goes to stdout; everything else to stderr.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User
from accounts.selectors import user_get_by_email, user_get_by_phone
from accounts.validation import normalise_email, normalise_phone
from authenticator.core.background import wait_idle
from authenticator.core.errors import (
    ApplicationError,
    InvalidInput,
    NotFound,
    as_application_error,
)

from ..edge import inputs, presenters
from ..edge.client import Requester, requester

MAX_BIGINT = 2**63 - 1


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _hints(err: ApplicationError) -> str:
    """Field errors and the retry hint, which the bare detail would hide from an operator."""
    parts: list[str] = []
    errors = err.extra.get("errors")
    if isinstance(errors, dict):
        for field, items in errors.items():
            for item in items if isinstance(items, list) else [items]:
                message = item.get("message", "") if isinstance(item, dict) else item
                parts.append(f"{field}: {_one_line(message)}")
    retry_after = getattr(err, "retry_after", None)
    if err.extra.get("retry_after") is not None and retry_after:
        parts.append(f"retry after {int(retry_after)} s")
    return "; ".join(parts)


def error_exit(err: ApplicationError, *, as_json: bool = False) -> tuple[int, str]:
    """The exit status and the single stderr line for a domain error. Pure: no I/O.

    Text: ``error: <code>: <detail>``, followed by `` (<field>: <message>; retry after N s)``
    only when the error carries field errors or a retry hint. JSON: the REST error body
    (``{"code", "detail", ...}``) on one line. The status is ``err.exit_code`` (never 0).
    """
    status = int(err.exit_code) or 1
    if as_json:
        return status, json.dumps(err.payload(), ensure_ascii=False, default=str, separators=(", ", ": "))
    line = f"error: {err.code}: {_one_line(err.detail)}"
    hints = _hints(err)
    if hints:
        line = f"{line} ({hints})"
    return status, line


def operator_label() -> str:
    """``cli:<os user>``: who ran the command, for the status history's actor."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # a container uid with no passwd entry and no $USER
        name = f"uid{os.getuid()}"
    return f"cli:{name}"[:64]


def input_error(field: str, message: str, code: str = "invalid") -> InvalidInput:
    return InvalidInput(extra={"errors": {field: [{"code": code, "message": message}]}})


def user_lookup(value: str, *, country: str | None = None) -> User:
    """The user named by ``value``: a user id, a phone number (any format; ``country``
    reads one written locally) or an email address. NotFound if there is none."""
    text = (value or "").strip()
    if not text:
        raise input_error("user", "Give a user id, phone number or email address.", "required")
    user: User | None = None
    if "@" in text:
        try:
            user = user_get_by_email(email=normalise_email(text))
        except ValidationError:
            raise input_error("user", "Enter a valid email address.", "invalid_email") from None
    else:
        if text.isascii() and text.isdigit() and int(text) <= MAX_BIGINT:
            user = User.objects.filter(pk=int(text)).first()
        if user is None:
            try:
                phone = normalise_phone(text, (country or "").upper() or None)
            except ValidationError:
                if text.isascii() and text.isdigit():  # an id nobody has
                    raise NotFound(f"No user with id {text}.") from None
                raise input_error("user", "Not a user id, phone number or email address.") from None
            user = user_get_by_phone(phone_number=phone)
    if user is None:
        raise NotFound(f"No user {text}.")
    return user


def cli_requester(command: str) -> Requester:
    # No IP: the operator's terminal is not where the user is.
    return requester(ip=None, user_agent=f"authenticator-cli/{command}")


def parse(input_class: type, values: dict[str, Any], *, command: str) -> dict[str, Any]:
    """The flow's arguments from the command's options, validated as every transport's
    input is (authenticator.edge.inputs); options left out (None) are not given."""
    data = {name: value for name, value in values.items() if value is not None}
    return inputs.parse(input_class, data, requester=cli_requester(command))


def secret_value(value: str | None, *, field: str) -> str | None:
    """A token given on the command line, or read from stdin when given as ``-`` (so it
    stays out of the shell history and the process list)."""
    if value != "-":
        return value
    text = sys.stdin.readline().strip()
    if not text:
        raise input_error(field, "Nothing was read from stdin.", "required")
    return text


# --- output shapes: the same JSON as the REST API's (authenticator.edge.presenters) ----
user_data = presenters.user
session_data = presenters.session
signed_in_data = presenters.signed_in
otp_sent_data = presenters.otp_sent


profile_data = presenters.profile
identity_data = presenters.identity
tokens_data = presenters.tokens


def tokens_lines(pair) -> list[str]:
    return [f"{key}: {value}" for key, value in pair.as_dict().items()]


def profile_lines(user: User, email_pending: str | None = None) -> list[str]:
    lines = [describe_user(user), f"name: {user.name}", f"salutation: {user.salutation or '-'}",
             f"email: {user.email or '-'}{' (verified)' if user.email and user.email_verified_at else ''}"]
    if email_pending:
        lines.append(f"email pending: {email_pending} (a code went there; confirm with email_verify)")
    return lines


def signed_in_lines(result) -> list[str]:
    tokens = result.tokens.as_dict()
    return [f"signed in: {describe_user(result.user)}", f"session {result.session.pk}"] + [
        f"{key}: {value}" for key, value in tokens.items()
    ]


def session_line(state) -> str:
    ended = f" until {state.logged_out_at.isoformat()}" if state.logged_out_at else ""
    where = state.logged_in_from or "?"
    return (f"{state.pk}  {state.status:<10}  {state.logged_in_on or '-'}  from {where} ({state.logged_in_ip or '-'})  "
            f"{state.method or '-'}  since {state.logged_in_at.isoformat()}{ended}")


def describe_user(user: User) -> str:
    email = f", {user.email}" if user.email else ""
    return f"user {user.pk} ({user.phone_number}{email}) {user.status}, tier {user.tier} level {user.level}"


class FlowCommand(BaseCommand):
    """A command over one flow. Subclasses implement ``run(**options)`` and call ``emit``."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--json", action="store_true", dest="json",
            help="Print the result as one JSON document on stdout; an error as one JSON line on stderr.",
        )
        return parser

    def execute(self, *args: Any, **options: Any) -> str | None:
        self._json = bool(options.get("json"))
        try:
            # Results go through self.stdout (bound to the real stdout before this); anything
            # else printed meanwhile — the console SMS sender's "SMS to ..." line — goes to
            # stderr, so a script reading stdout gets only the result.
            with contextlib.redirect_stdout(sys.stderr):
                return super().execute(*args, **options)
        except Exception as exc:
            err = as_application_error(exc)
            if err is None:
                raise
            status, line = error_exit(err, as_json=self._json)
            self.stderr.write(line, style_func=None if not self._json else _plain)
            raise SystemExit(status) from None
        finally:
            _finish_background_work()

    def handle(self, *args: Any, **options: Any) -> None:
        self.run(**options)

    def run(self, **options: Any) -> None:  # pragma: no cover - every command overrides it
        raise NotImplementedError

    def emit(self, data: dict[str, Any], text: str | list[str]) -> None:
        """The result: ``data`` as JSON with --json, else the human-readable ``text``."""
        if self._json:
            self.stdout.write(json.dumps(data, ensure_ascii=False, default=str), style_func=_plain)
            return
        for line in [text] if isinstance(text, str) else text:
            self.stdout.write(line)


def _finish_background_work() -> None:
    """A flow may leave work for after its answer (a reused refresh token's session is ended
    then; codes are sent then): the process must not end before it is done."""
    try:
        wait_idle(timeout=60)
    except TimeoutError:
        pass  # reported by the job's own logging; the command's answer stands


def _plain(text: str) -> str:
    return text


class UserCommand(FlowCommand):
    """A command about one user, named by ``--user`` (id, phone number or email)."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="User id, phone number (any format) or email address")
        parser.add_argument("--country", default=None, help="Region for a --user phone number written locally")

    def target(self, options: dict[str, Any]) -> User:
        return user_lookup(options["user"], country=options.get("country"))


class StatusCommand(UserCommand):
    """Change a user's status through ``account_set_status``, as an operator (what one may do
    is the table in ``accounts.status``): the history row names the operator
    (``cli:<os user>``) and the reason; leaving ``active`` revokes every session."""

    status: str = ""
    verb: str = ""  # "blocked"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--reason", required=True, help="Why; kept in the status history")

    def run(self, **options: Any) -> None:
        from ..flows.account_status import account_set_status

        reason = _one_line(options["reason"])
        if not reason:
            raise input_error("reason", "Give a reason.", "required")
        user = self.target(options)
        previous = user.status
        account_set_status(user=user, status=self.status, reason=reason, actor_label=operator_label())
        changed = previous != user.status
        data = {"user": user_data(user), "previous_status": previous, "status": user.status, "changed": changed}
        text = (f"{self.verb}: {describe_user(user)} (was {previous})" if changed
                else f"nothing to do: {describe_user(user)}")
        self.emit(data, text)
