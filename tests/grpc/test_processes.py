"""``grpcserver --processes N``: N real server processes on one port (SO_REUSEPORT).

Which process answered is read from the kernel, not from the server: each channel keeps
its own TCP connection open, and /proc tells which child holds the accepted end of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .test_server import ROOT, command_env

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; SO_REUSEPORT balancing as on Linux"),
]

# A channel of its own per connection: channels to one target share subchannels (and so
# one TCP connection) unless each has a local pool.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def start_group(processes: int = 2) -> tuple[subprocess.Popen, int, list[int]]:
    """The command with ``processes`` children on port 0: the process, the port, the children's pids."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "grpcserver", "--bind", "127.0.0.1:0", "--processes", str(processes),
         "--workers", "2", "--grace", "2"],
        cwd=ROOT, env=command_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    assert line.startswith("gRPC server listening on 127.0.0.1:"), (line, process.poll())
    assert f"({processes} processes, 2 workers each)" in line
    port = int(line.split("127.0.0.1:", 1)[1].split()[0])
    listed = process.stdout.readline()
    assert listed.startswith("gRPC processes: "), listed
    pids = [int(item.split()[1]) for item in listed.removeprefix("gRPC processes: ").split(",")]
    assert sorted(pids) == sorted(children_of(process.pid))
    return process, port, pids


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (field 4 of /proc/<pid>/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def connections_held(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections to ``port`` each process holds: the socket
    inodes among its file descriptors, looked up in the kernel's TCP tables."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                established.add(inode)
    held = {}
    for pid in pids:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
        held[pid] = len(inodes & established)
    return held


def health_check(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status


def test_several_processes_share_the_port_and_stop_together_on_sigterm():
    process, port, pids = start_group(2)
    try:
        assert len(set(pids)) == 2 and process.pid not in pids
        with ExitStack() as stack:
            channels = [stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION))
                        for _ in range(24)]
            assert {health_check(channel) for channel in channels} == {health_pb2.HealthCheckResponse.SERVING}
            held = connections_held(pids, port)
        # Every call was answered by a child over a connection that child accepted; the
        # kernel spread the 24 over both (all on one would be a 1 in 2**23 chance).
        assert sum(held.values()) == 24, held
        assert all(count > 0 for count in held.values()), held

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert time.monotonic() - started < 15
        assert "SIGTERM: stopping 2 processes" in out and out.rstrip().endswith("gRPC server stopped")
        for pid in pids:  # each child stopped gracefully on its own
            assert f"[pid {pid}] SIGTERM: stopping" in out and f"[pid {pid}] gRPC server stopped" in out
            assert not Path(f"/proc/{pid}").exists()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=1)
    finally:
        stop(process)


def test_a_child_that_dies_stops_the_others_and_the_command_fails():
    process, port, pids = start_group(2)
    try:
        killed, survivor = pids
        os.kill(killed, signal.SIGKILL)
        out, err = process.communicate(timeout=30)
        assert process.returncode != 0
        assert f"gRPC process {killed} exited with -9: stopping the others" in err
        assert "CommandError" in err and "Traceback" not in err
        assert f"[pid {survivor}] SIGTERM: stopping" in out and f"[pid {survivor}] gRPC server stopped" in out
        assert not Path(f"/proc/{survivor}").exists()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=1)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Leave nothing running: the command and, if it could not, its children."""
    if process.poll() is None:
        orphans = children_of(process.pid)
        process.kill()
        process.communicate()
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
