"""The gRPC transport is its own app: it owns ``manage.py grpcserver``, so the CLI's
commands (authenticator.management) never import it."""

from __future__ import annotations

from django.apps import apps
from django.core.management import get_commands


def test_grpcserver_is_the_grpc_apps_command():
    assert apps.get_app_config("authenticator_grpc").name == "authenticator.grpc"
    assert get_commands()["grpcserver"] == "authenticator.grpc"
