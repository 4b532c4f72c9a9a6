"""Rotate a refresh token, as ``POST /auth/token/refresh`` does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...edge.inputs import RefreshIn
from ...flows.tokens import token_refresh
from ..base import FlowCommand, parse, secret_value, tokens_data, tokens_lines


class Command(FlowCommand):
    help = "Rotate a refresh token: prints the new pair (the one given is spent; a reused one revokes its session)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--refresh-token", required=True, help="The refresh token; - reads it from stdin")

    def run(self, **options: Any) -> None:
        pair = token_refresh(**parse(RefreshIn, {
            "refresh_token": secret_value(options["refresh_token"], field="refresh_token")}, command="token_refresh"))
        self.emit({"tokens": tokens_data(pair)}, tokens_lines(pair))
