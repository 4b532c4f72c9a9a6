"""Delete expired one-time passwords and old ended login states, in batches."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser
from tqdm import tqdm

from accounts.services import user_email_claims_purge
from otp.services import otps_purge_expired
from sessions_log.services import login_states_purge

from authenticator.core.limits import limits_purge_expired
from authenticator.flows.tokens import sessions_expire, tokenizer_purge
from ..base import FlowCommand, input_error


class Command(FlowCommand):
    help = ("Mark login states whose tokens can no longer be refreshed expired, then delete OTPs that expired more than --otps-older-than days ago and ended login states "
            "that ended more than --login-states-older-than days ago, and unverified emails of accounts unchanged for "
            "--email-claims-older-than days, --batch-size rows at a time. "
            "A progress bar shows on a terminal; the counts are printed at the end.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--otps-older-than", type=float, default=1.0, metavar="DAYS",
                            help="Expired for longer than this many days (default 1)")
        parser.add_argument("--login-states-older-than", type=float, default=90.0, metavar="DAYS",
                            help="Ended for longer than this many days (default 90); active sessions are never purged")
        parser.add_argument("--email-claims-older-than", type=float, default=30.0, metavar="DAYS",
                            help="Drop unverified emails from accounts unchanged for this many days (default 30); "
                                 "verified emails stay")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per DELETE (default 5000)")

    def run(self, **options: Any) -> None:
        batch = options["batch_size"]
        if not 1 <= batch <= 100_000:
            raise input_error("batch_size", "Must be between 1 and 100000.", "out_of_range")
        ages = {}
        for name in ("otps_older_than", "login_states_older_than", "email_claims_older_than"):
            days = options[name]
            if not 0 <= days <= 36500:  # also refuses nan
                raise input_error(name, "Must be a number of days from 0 to 36500.", "out_of_range")
            ages[name] = timedelta(days=days)
        # A bar only for a person watching: not in a pipe, a cron log or --json output.
        show = self.stdout.isatty() and not self._json
        bar_stream = getattr(self.stderr, "_out", sys.stderr)
        # Sessions that can no longer be refreshed end first (status expired), so that the
        # purge below counts their age from when they lapsed.
        expired = sessions_expire()
        counts = {}
        for key, purge, age, label in (
            ("otps", otps_purge_expired, ages["otps_older_than"], "OTPs"),
            ("login_states", login_states_purge, ages["login_states_older_than"], "login states"),
            ("email_claims", user_email_claims_purge, ages["email_claims_older_than"], "unverified email claims"),
        ):
            with tqdm(desc=f"purging {label}", unit=" rows", file=bar_stream, disable=not show, leave=True) as bar:
                counts[key] = purge(older_than=age, batch_size=batch, progress=bar.update)
        tokens = tokenizer_purge()
        limits = limits_purge_expired()  # the send limits' and budgets' fallback rows of ended windows
        text = f"purged {counts['otps']} OTPs and {counts['login_states']} login states"
        if counts["email_claims"]:
            text += f", cleared {counts['email_claims']} unverified email claims"
        if any(tokens.values()):
            counts["tokenizer"] = tokens
            text += ", and " + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in tokens.items())
        if limits:
            counts["limit_rows"] = limits
            text += f", and {limits} ended limit counters"
        if expired:
            counts["expired_login_states"] = expired
            text = f"marked {expired} lapsed login states expired; " + text
        self.emit(counts, text)
