"""A live reactord for the hardening tools: start it, speak raw frames to it, read its memory.

The concept: what ``tools.hardening.fuzz`` and ``tools.hardening.soak`` share.  ``Daemon`` runs
``python -m tools.reactord`` on a socket in a temporary directory and reads
its RSS, peak RSS and open file descriptors from /proc; ``Conn`` is a raw
frame connection that checks every response header against the wire rules
(payload_len <= MAX_PAYLOAD) and never waits without a deadline.

Deliberately independent of ``api.client``: the tools judge the daemon by the
protocol text, not by our own client's reading of it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

from api import wire

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 15.0


class Violation(Exception):
    """The daemon broke the protocol on this connection (the connection is unusable)."""


class Frame(NamedTuple):
    for_id: int
    status: int
    payload: bytes


class Conn:
    """One raw connection: exact bytes out, checked frames in."""

    def __init__(self, path: str, timeout: float = TIMEOUT) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self._buf = bytearray()
        self._pos = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, req_id: int, req_type: int, payload: bytes = b"") -> None:
        self.sock.sendall(frame(req_id, req_type, payload))

    def frame(self) -> Frame:
        """The next response; ``EOFError`` if the daemon closed, ``Violation`` if oversized."""
        self._fill(wire.HEADER_SIZE)
        for_id, status, size = wire.HEADER.unpack_from(self._buf, self._pos)
        if size > wire.MAX_PAYLOAD:
            raise Violation(f"response payload_len {size} > MAX_PAYLOAD")
        self._fill(wire.HEADER_SIZE + size)
        start = self._pos + wire.HEADER_SIZE
        payload = bytes(self._buf[start:start + size])
        self._pos = start + size
        if self._pos > 1 << 20:
            del self._buf[:self._pos]
            self._pos = 0
        return Frame(for_id, status, payload)

    def _fill(self, n: int) -> None:
        while len(self._buf) - self._pos < n:
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                raise EOFError("the daemon closed the connection")
            self._buf += chunk

    def call(self, req_id: int, req_type: int, payload: bytes = b"") -> Frame:
        self.request(req_id, req_type, payload)
        reply = self.frame()
        if reply.for_id != req_id:
            raise Violation(f"reply for id {reply.for_id}, expected {req_id}")
        return reply

    def stats(self) -> dict[str, Any]:
        reply = self.call(0x5747, wire.STATS)
        if reply.status:
            raise Violation(f"STATS answered {wire.status_name(reply.status)}")
        figures: dict[str, Any] = json.loads(reply.payload)
        return figures

    def drain(self, req_id: int) -> tuple[list[bytes], int]:
        """Items and terminator of stream ``req_id`` (no other request outstanding)."""
        items: list[bytes] = []
        while True:
            f = self.frame()
            if f.for_id != req_id:
                raise Violation(f"frame for id {f.for_id} inside stream {req_id}")
            if not f.payload:
                return items, f.status
            if f.status:
                raise Violation(f"stream item with status {f.status}")
            items.append(f.payload)

    def listing(self, req_type: int) -> list[bytes]:
        """A whole table (scope all), which must end with status 0."""
        self.request(0x115, req_type, wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0))
        items, status = self.drain(0x115)
        if status:
            raise Violation(f"LIST {wire.type_name(req_type)} ended {wire.status_name(status)}")
        return items


def frame(req_id: int, req_type: int, payload: bytes = b"") -> bytes:
    return wire.HEADER.pack(req_id, req_type, len(payload)) + payload


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def proc_status(pid: int, field: str) -> int:
    """A ``kB`` figure of /proc/PID/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def peer_pid(path: str) -> int:
    """The pid of the process listening on ``path`` (SO_PEERCRED)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(path)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[:4], "little")


class Daemon:
    """``python -m tools.reactord`` on a fresh socket, logging to a file."""

    def __init__(self, *args: str, directory: str | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="reactord-") if directory is None \
            else None
        base = Path(directory or (self._tmp.name if self._tmp else "."))
        self.path = str(base / "reactord.sock")
        self.log_path = base / "reactord.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tools.reactord", "--socket", self.path, *args],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                preexec_fn=preexec_fn)
        if not wait_until(self._ready, 60):
            self.kill()
            raise RuntimeError(f"reactord did not start:\n{self.log()}")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"reactord exited {self.proc.returncode}:\n{self.log()}")
        try:
            Conn(self.path, 1.0).close()
        except OSError:
            return False
        return True

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def peak_rss(self) -> int:
        return proc_status(self.pid, "VmHWM")

    def fds(self) -> int:
        return open_fds(self.pid)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def terminate(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._cleanup()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def target(socket_path: str | None, preload: int) -> tuple[Daemon | None, str, int]:
    """The daemon a tool works on: the one at ``socket_path``, or a fresh one
    preloaded with ``preload`` routes (returned, for the caller to stop); its
    socket path and pid."""
    daemon = None if socket_path else Daemon("--preload-fullview", str(preload),
                                             "--log-level", "warning")
    path = socket_path or (daemon.path if daemon else "")
    return daemon, path, peer_pid(path)
