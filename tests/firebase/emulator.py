"""Start and stop the real Firebase Auth Emulator (firebase-tools from package.json).

Used by the session fixture ``firebase_emulator`` in tests/conftest.py, and runnable by hand:

    .venv/bin/python -m tests.firebase.emulator      # prints FIREBASE_AUTH_EMULATOR_HOST=...

Every port (auth, hub, logging) is a free one picked here, so several suites can run side by
side; the emulator's working directory is a temporary one, so it leaves no debug logs behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
FIREBASE_BIN = REPO / "node_modules" / ".bin" / "firebase"
PROJECT_ID = "demo-authenticator"  # "demo-" projects never reach Google, by firebase-tools' rule
START_TIMEOUT = float(os.environ.get("FIREBASE_EMULATOR_START_TIMEOUT", "60"))


class EmulatorError(RuntimeError):
    pass


@dataclass
class RunningEmulator:
    host: str  # "127.0.0.1:<port>", the value for FIREBASE_AUTH_EMULATOR_HOST
    process: subprocess.Popen[bytes] | None  # None: reused, someone else owns it
    workdir: Path | None = None
    started_in: float = 0.0
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # firebase is a node process that may spawn children: end the whole group.
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def answers(host: str, timeout: float = 2.0) -> bool:
    try:
        response = requests.get(f"http://{host}/", timeout=timeout)
        return response.ok and response.json().get("authEmulator", {}).get("ready") is True
    except (requests.RequestException, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(auth_port: int) -> dict:
    # The committed firebase.json, with every port this run uses replaced by a free one.
    config = json.loads((REPO / "firebase.json").read_text())
    emulators = config.setdefault("emulators", {})
    emulators["auth"] = {**emulators.get("auth", {}), "host": "127.0.0.1", "port": auth_port}
    emulators["hub"] = {"host": "127.0.0.1", "port": _free_port()}
    emulators["logging"] = {"host": "127.0.0.1", "port": _free_port()}
    emulators["ui"] = {"enabled": False}
    return config


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FIREBASE_AUTH_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")}
    # Offline: no update check against the registry, no colour codes in the log.
    env.update(NO_UPDATE_NOTIFIER="1", NO_COLOR="1", FORCE_COLOR="0")
    return env


def start(*, attempts: int = 2) -> RunningEmulator:
    """Start an emulator on free ports and wait until it answers."""
    if not FIREBASE_BIN.exists():
        raise EmulatorError(f"{FIREBASE_BIN} is missing: run `npm ci` (make test does it).")
    last_log = ""
    for _ in range(attempts):
        tmp = tempfile.TemporaryDirectory(prefix="firebase-emulator-")
        workdir = Path(tmp.name)
        port = _free_port()
        (workdir / "firebase.json").write_text(json.dumps(_config(port)))
        log_path = workdir / "emulator.log"
        began = time.monotonic()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(FIREBASE_BIN), "emulators:start", "--only", "auth", "--project", PROJECT_ID,
                 "--config", str(workdir / "firebase.json"), "--non-interactive"],
                cwd=workdir, env=_child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = RunningEmulator(host=f"127.0.0.1:{port}", process=process, workdir=workdir, _tmp=tmp)
        deadline = began + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if answers(running.host, timeout=1.0):
                running.started_in = time.monotonic() - began
                return running
            time.sleep(0.25)
        last_log = log_path.read_text(errors="replace")[-4000:]
        running.stop()  # a port race lost, or too slow: try once more on new ports
    raise EmulatorError(f"The Firebase Auth Emulator did not start within {START_TIMEOUT:.0f} s:\n{last_log}")


def start_or_reuse() -> RunningEmulator:
    """Reuse the emulator at FIREBASE_AUTH_EMULATOR_HOST if one answers there, else start one."""
    host = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "").strip()
    if host and answers(host):
        return RunningEmulator(host=host, process=None)
    return start()


if __name__ == "__main__":  # pragma: no cover - a developer's convenience
    emulator = start()
    print(f"FIREBASE_AUTH_EMULATOR_HOST={emulator.host}  (started in {emulator.started_in:.1f} s; Ctrl-C stops it)", flush=True)
    try:
        emulator.process.wait()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
