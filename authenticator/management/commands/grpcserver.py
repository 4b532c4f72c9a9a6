"""Serve authenticator.v1 over gRPC (with health checking and reflection) until SIGTERM."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authenticator.conf import app_settings


class Command(BaseCommand):
    help = "Serve the gRPC API (authenticator.v1.Authenticator, grpc.health.v1, reflection) until SIGTERM/SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=None,
                            help=f"host:port to listen on; port 0 picks a free one (default: GRPC_BIND, {app_settings.GRPC_BIND})")
        parser.add_argument("--workers", type=int, default=None,
                            help=f"handler threads (default: GRPC_WORKERS, {app_settings.GRPC_WORKERS})")
        parser.add_argument("--grace", type=float, default=None,
                            help="seconds running calls get to finish at shutdown "
                            f"(default: GRPC_SHUTDOWN_GRACE, {app_settings.GRPC_SHUTDOWN_GRACE})")

    def handle(self, *args, bind: str | None, workers: int | None, grace: float | None, **options) -> None:
        from authenticator import background
        from authenticator.grpc.server import build_server

        bind = bind or str(app_settings.GRPC_BIND)
        workers = workers if workers is not None else int(app_settings.GRPC_WORKERS)
        grace = grace if grace is not None else float(app_settings.GRPC_SHUTDOWN_GRACE)
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        stopping = threading.Event()
        received: list[str] = []

        def on_signal(signum, frame) -> None:
            received.append(signal.Signals(signum).name)
            stopping.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                running = build_server(bind=bind, workers=workers)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            host = bind.rsplit(":", 1)[0]
            # The real port on one line: scripts (and the tests) that bind port 0 read it.
            self.stdout.write(f"gRPC server listening on {host}:{running.port} ({workers} workers)")
            self.stdout.flush()
            while not stopping.wait(timeout=1.0):
                pass
            self.stdout.write(f"{received[0]}: stopping (grace {grace:g}s)")
            self.stdout.flush()
            running.stop(grace)
            try:
                background.wait_idle(timeout=grace or 1.0)  # codes queued by the last calls still go out
            except TimeoutError:
                self.stderr.write("background jobs still running at exit")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("gRPC server stopped")
