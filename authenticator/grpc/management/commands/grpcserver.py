"""Serve authenticator.v1 over gRPC (with health checking and reflection) until SIGTERM.

With ``--processes N`` (GRPC_PROCESSES) above 1 this process only supervises: it reserves
the port, starts N single-process servers that share it (authenticator/grpc/processes.py),
passes SIGTERM/SIGINT on to them and waits for their graceful stops, so one deployment
uses N cores instead of one GIL's worth.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authenticator.core.conf import app_settings

# Seconds N fresh processes get to import Django and listen.
STARTUP_TIMEOUT = 60.0


class Command(BaseCommand):
    help = "Serve the gRPC API (authenticator.v1.Authenticator, grpc.health.v1, reflection) until SIGTERM/SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=None,
                            help=f"host:port to listen on; port 0 picks a free one (default: GRPC_BIND, {app_settings.GRPC_BIND})")
        parser.add_argument("--workers", type=int, default=None,
                            help=f"handler threads per process (default: GRPC_WORKERS, {app_settings.GRPC_WORKERS})")
        parser.add_argument("--processes", type=int, default=None,
                            help="server processes sharing the port (SO_REUSEPORT), each with its own workers "
                            f"(default: GRPC_PROCESSES, {app_settings.GRPC_PROCESSES})")
        parser.add_argument("--grace", type=float, default=None,
                            help="seconds running calls get to finish at shutdown "
                            f"(default: GRPC_SHUTDOWN_GRACE, {app_settings.GRPC_SHUTDOWN_GRACE})")
        # How a --processes parent starts its children: share the port, stop if the parent goes.
        parser.add_argument("--shared-port", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, bind: str | None, workers: int | None, processes: int | None, grace: float | None,
               shared_port: bool, **options) -> None:
        bind = bind or str(app_settings.GRPC_BIND)
        workers = workers if workers is not None else int(app_settings.GRPC_WORKERS)
        processes = processes if processes is not None else int(app_settings.GRPC_PROCESSES)
        grace = grace if grace is not None else float(app_settings.GRPC_SHUTDOWN_GRACE)
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        stopping = threading.Event()
        received: list[int] = []

        def on_signal(signum, frame) -> None:
            received.append(signum)
            stopping.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if processes == 1:
                self.serve(bind, workers, grace, stopping, received, shared_port=shared_port)
            else:
                self.supervise(bind, workers, processes, grace, stopping, received, options)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.say("gRPC server stopped")

    def say(self, line: str) -> None:
        """One line on stdout, now (a parent may be reading it through a pipe; if that
        parent is gone, the line is dropped rather than breaking the shutdown)."""
        try:
            self.stdout.write(line)
            self.stdout.flush()
        except BrokenPipeError:
            pass

    def serve(self, bind: str, workers: int, grace: float, stopping: threading.Event, received: list[int], *,
              shared_port: bool) -> None:
        """One server in this process until a signal (or, for a child, until its parent goes)."""
        from authenticator.core import background
        from authenticator.grpc.server import build_server

        parent = os.getppid()
        try:
            running = build_server(bind=bind, workers=workers, reuse_port=shared_port)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        host = bind.rsplit(":", 1)[0]
        # The real port on one line: scripts (and the tests) that bind port 0 read it.
        self.say(f"gRPC server listening on {host}:{running.port} ({workers} workers)")
        while not stopping.wait(timeout=1.0):
            if shared_port and os.getppid() != parent:
                received.append(0)
                break
        reason = signal.Signals(received[0]).name if received[0] else "parent exited"
        self.say(f"{reason}: stopping (grace {grace:g}s)")
        running.stop(grace)
        try:
            background.wait_idle(timeout=grace or 1.0)  # codes queued by the last calls still go out
        except TimeoutError:
            self.stderr.write("background jobs still running at exit")

    def supervise(self, bind: str, workers: int, processes: int, grace: float, stopping: threading.Event,
                  received: list[int], options: dict) -> None:
        """Start ``processes`` servers on one port, pass signals on, fail if one dies."""
        from authenticator.grpc.processes import (
            GroupFailed,
            ProcessGroup,
            child_argv,
            reserve_port,
        )

        lock = threading.Lock()

        def write(line: str) -> None:
            with lock:
                self.say(line)

        extra = [flag for name in ("settings", "pythonpath") if options.get(name)
                 for flag in (f"--{name}", options[name])]
        stop_timeout = 2 * grace + 10.0  # each child: running calls, then queued deliveries
        host = bind.rsplit(":", 1)[0]
        try:
            with reserve_port(bind) as port:
                group = ProcessGroup(child_argv(bind=f"{host}:{port}", workers=workers, grace=grace, extra=extra),
                                     processes, write)
                try:
                    group.start()
                    if group.wait_ready(STARTUP_TIMEOUT, stopping):
                        write(f"gRPC server listening on {host}:{port} ({processes} processes, {workers} workers each)")
                        write("gRPC processes: " + ", ".join(f"pid {child.pid}" for child in group.children))
                    while not stopping.wait(timeout=0.2):
                        dead = group.exited()
                        if dead is not None and not stopping.is_set():
                            raise GroupFailed(f"gRPC process {dead.pid} exited with {dead.process.returncode}")
                except GroupFailed as exc:
                    self.stderr.write(f"{exc}: stopping the others")
                    group.stop(signal.SIGTERM, stop_timeout)
                    raise CommandError(str(exc)) from exc
                except BaseException:
                    group.stop(signal.SIGTERM, stop_timeout)
                    raise
                write(f"{signal.Signals(received[0]).name}: stopping {processes} processes (grace {grace:g}s)")
                codes = group.stop(received[0], stop_timeout)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        failed = {pid: code for pid, code in codes.items() if code != 0}
        if failed:
            raise CommandError("gRPC processes did not stop cleanly: "
                               + ", ".join(f"pid {pid} exited with {code}" for pid, code in failed.items()))
