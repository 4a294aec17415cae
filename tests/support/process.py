"""Start and stop real server processes for tests; read their CPU and RSS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.rawclient import wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    path: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def can_connect(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
        return True


def start_process(argv: list[str], path: str, log_path: Path,
                  env: dict[str, str] | None = None) -> ServerProcess:
    """Run ``argv`` (a server binding ``path``) and wait until it accepts."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=full_env,
                            cwd=ROOT)
    log_file.close()
    server = ServerProcess(proc, path, log_path)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}:\n{server.log()}")
        return can_connect(path)

    wait_for(ready, timeout=20, what=f"server on {path}")
    return server


def start_test_server(tmp: Path, *extra: str) -> ServerProcess:
    path = str(tmp / "test.sock")
    argv = [sys.executable, "-m", "tests.support.testserver", "--socket", path, *extra]
    return start_process(argv, path, tmp / "server.log")
