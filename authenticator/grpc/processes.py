"""Several gRPC server processes on one port (``manage.py grpcserver --processes N``).

One Python process runs its handlers under one GIL, so one server uses about one core
however many threads it has. As in grpcio's own multiprocessing example, the parent
reserves the port with a socket bound with ``SO_REUSEPORT`` (never listening, so the kernel
hands it no connections; port 0 is resolved here, so every child binds the same real
port) and starts N children, each building its own server with ``grpc.so_reuseport=1`` on
that port; the kernel spreads new connections over their listening sockets.

The children are fresh ``manage.py grpcserver`` processes (fork + exec), never forks of a
process that has gRPC running (grpc/grpc#16001). Each leases its own Sonyflake machine id
and sizes its own database pool, as a single server does. Nothing here imports grpc.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"

# What a server prints once it listens (scripts/prove/harness.py reads it from here).
LISTENING = re.compile(r"gRPC server listening on (\S+):(\d+)")


class GroupFailed(RuntimeError):
    """A child exited when it was not asked to, or never came up."""


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as the host without brackets and the port."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise RuntimeError(f"cannot bind gRPC server to {bind}: expected host:port")
    return host.strip("[]"), int(port)


@contextmanager
def reserve_port(bind: str) -> Iterator[int]:
    """Hold ``bind``'s port with an ``SO_REUSEPORT`` socket while the children share it.

    Yields the real port (``bind``'s, or the one picked for port 0). The socket only binds:
    a port taken by anything that did not set ``SO_REUSEPORT`` (another single-process
    server, say) fails here, before any child starts."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("several gRPC processes need SO_REUSEPORT, which this platform lacks")
    host, port = split_bind(bind)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise RuntimeError(f"cannot bind gRPC server to {bind}: {exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"cannot bind gRPC server to {bind}: {exc.strerror}") from exc
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@dataclass
class Child:
    process: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class ProcessGroup:
    """N ``grpcserver`` children on one port; their stdout goes through ``write``.

    Each child's own listening line is taken as its "ready" and not passed on (the
    parent prints the group's one line); its other lines are prefixed with its pid.
    Their stderr (the logs) is the parent's."""

    argv: Sequence[str]
    count: int
    write: Callable[[str], None]
    children: list[Child] = field(default_factory=list)

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for _ in range(self.count):
            process = subprocess.Popen(list(self.argv), env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
            child = Child(process)
            self.children.append(child)
            threading.Thread(target=self._relay, args=(child,), name=f"grpc-child-{child.pid}", daemon=True).start()

    def _relay(self, child: Child) -> None:
        assert child.process.stdout is not None
        for line in child.process.stdout:
            if not child.ready.is_set() and LISTENING.search(line):
                child.ready.set()
                continue
            self.write(f"[pid {child.pid}] {line.rstrip()}")

    def wait_ready(self, timeout: float, stopping: threading.Event) -> bool:
        """True once every child listens; False if ``stopping`` was set first.

        Raises ``GroupFailed`` if a child exits or the children take longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while not all(child.ready.is_set() for child in self.children):
            if stopping.wait(0.1):
                return False
            exited = self.exited()
            if exited is not None:
                raise GroupFailed(f"gRPC process {exited.pid} exited with {exited.process.returncode} before listening")
            if time.monotonic() > deadline:
                raise GroupFailed(f"gRPC processes did not listen within {timeout:g}s")
        return True

    def exited(self) -> Child | None:
        """A child that has exited, if any."""
        return next((child for child in self.children if child.process.poll() is not None), None)

    def stop(self, signum: int, timeout: float) -> dict[int, int]:
        """Send ``signum`` to the children still running and wait for all of them;
        after ``timeout`` seconds the rest are killed. Returns each pid's exit status."""
        for child in self.children:
            if child.process.poll() is None:
                try:
                    child.process.send_signal(signum)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        codes: dict[int, int] = {}
        for child in self.children:
            try:
                codes[child.pid] = child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                codes[child.pid] = child.process.wait()
        return codes


def child_argv(*, bind: str, workers: int, grace: float, extra: Sequence[str] = ()) -> list[str]:
    """The command line of one child: a single-process server that shares its port."""
    return [
        sys.executable, str(MANAGE_PY), "grpcserver", "--bind", bind, "--workers", str(workers),
        "--grace", repr(grace), "--processes", "1", "--shared-port", *extra,
    ]
