"""The process harness: start a server process, speak raw frames to it, read /proc, wait.

The concept: what every tool and test that works on a live server process
needs, once.  Users: ``tools.hardening`` (fuzz, soak), ``tools.bench`` (the
daemons of every benchmark), and the tests (``tests/server``, ``tests/tools``,
``tests/hardening``).

- ``start_server(module, *args)`` runs ``python -m MODULE --socket PATH ARGS``
  (reactord, the test server, a benchmark's server or baseline) with its output
  in a log file, and waits until it accepts connections; ``ServerProcess``
  stops it (SIGTERM and the exit status, or SIGKILL) and reads its figures;
- ``Conn`` is a raw frame connection: exact bytes out, frames in, every
  response header checked against wire-v1 (payload_len <= MAX_PAYLOAD) and
  every read bounded by the socket timeout.  Deliberately independent of
  ``api.client``: the server is judged by the protocol text, not by our own
  client's reading of it;
- ``cpu_seconds``, ``rss_bytes``, ``peak_rss_bytes`` and ``open_fds`` read a
  process's figures from /proc;
- ``wait_until`` / ``wait_for`` poll a condition until a deadline: no test or
  tool waits for a condition with a bare sleep.
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
POLL_S = 0.005


class Violation(Exception):
    """The server broke the protocol on this connection (the connection is unusable)."""


# -- waiting --------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = TIMEOUT,
             what: str = "condition") -> None:
    """Poll ``predicate`` until true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    if not wait_until(predicate, timeout):
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


# -- /proc figures ----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (VmRSS)."""
    return _status_kib(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set size of process ``pid`` (VmHWM)."""
    return _status_kib(pid, "VmHWM")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- raw frames -----------------------------------------------------------------


class Frame(NamedTuple):
    for_id: int
    status: int
    payload: bytes


def take_frames(data: bytearray) -> list[Frame]:
    """The complete response frames at the front of ``data``, removed from it (what
    a partial frame leaves stays); for test clients that read without blocking."""
    frames: list[Frame] = []
    pos = 0
    while len(data) - pos >= wire.HEADER_SIZE:
        for_id, status, size = wire.HEADER.unpack_from(data, pos)
        end = pos + wire.HEADER_SIZE + size
        if len(data) < end:
            break
        frames.append(Frame(for_id, status, bytes(data[pos + wire.HEADER_SIZE:end])))
        pos = end
    del data[:pos]
    return frames


def request(req_id: int, req_type: int, payload: bytes = b"") -> bytes:
    """One request frame, exactly as wire-v1 section 1 lays it out."""
    return wire.HEADER.pack(req_id, req_type, len(payload)) + payload


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

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, req_id: int, req_type: int, payload: bytes = b"") -> None:
        self.sock.sendall(request(req_id, req_type, payload))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self) -> Frame:
        """The next response; ``EOFError`` if the server closed, ``Violation`` if oversized."""
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
                raise EOFError("the server closed the connection")
            self._buf += chunk

    def call(self, req_id: int, req_type: int, payload: bytes = b"") -> Frame:
        """Send a request and read the next frame, which must answer it."""
        self.send(req_id, req_type, payload)
        reply = self.frame()
        if reply.for_id != req_id:
            raise Violation(f"reply for id {reply.for_id}, expected {req_id}")
        return reply

    def stats(self, req_id: int = 0x5747) -> dict[str, Any]:
        reply = self.call(req_id, wire.STATS)
        if reply.status:
            raise Violation(f"STATS answered {wire.status_name(reply.status)}")
        figures: dict[str, Any] = json.loads(reply.payload)
        return figures

    def drain_stream(self, req_id: int) -> tuple[list[bytes], int, list[Frame]]:
        """Items and terminator status of stream ``req_id``, and the frames
        for other ids read meanwhile."""
        items: list[bytes] = []
        others: list[Frame] = []
        while True:
            f = self.frame()
            if f.for_id != req_id:
                others.append(f)
            elif not f.payload:
                return items, f.status, others
            elif f.status:
                raise Violation(f"stream item with status {f.status}")
            else:
                items.append(f.payload)

    def drain(self, req_id: int) -> tuple[list[bytes], int]:
        """As ``drain_stream``, with no other request outstanding: any other
        frame is a ``Violation``."""
        items, status, others = self.drain_stream(req_id)
        if others:
            raise Violation(f"frame for id {others[0].for_id} inside stream {req_id}")
        return items, status

    def listing(self, req_type: int, req_id: int = 0x115) -> list[bytes]:
        """A whole table (scope all), which must end with status 0."""
        self.send(req_id, req_type, wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0))
        items, status = self.drain(req_id)
        if status:
            raise Violation(f"LIST {wire.type_name(req_type)} ended {wire.status_name(status)}")
        return items


def can_connect(path: str, timeout: float = 1.0) -> bool:
    try:
        Conn(path, timeout).close()
    except OSError:
        return False
    return True


def peer_pid(path: str) -> int:
    """The pid of the process listening on ``path`` (SO_PEERCRED)."""
    with Conn(path) as conn:
        creds = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[:4], "little")


# -- server processes -------------------------------------------------------------


class ServerProcess:
    """``python -m MODULE --socket PATH ARGS``, its output in a log file."""

    def __init__(self, module: str, args: tuple[str, ...], directory: Path, name: str,
                 preexec_fn: Callable[[], None] | None,
                 tmp: tempfile.TemporaryDirectory[str] | None) -> None:
        self.name = name
        self.path = str(directory / f"{name}.sock")
        self.log_path = directory / f"{name}.log"
        self._tmp = tmp
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, "--socket", self.path, *args],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                preexec_fn=preexec_fn)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        """Until it accepts connections (it may preload first); killed on failure."""
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")
            return can_connect(self.path)

        try:
            wait_for(ready, timeout, f"{self.name} on {self.path}")
        except BaseException:
            self.kill()
            raise
        return self

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def fds(self) -> int:
        return open_fds(self.pid)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then its exit status (``TimeoutExpired`` if it does not exit)."""
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

    def stop(self, timeout: float = 30.0) -> None:
        """Terminate, or kill if it does not exit within ``timeout``."""
        try:
            self.terminate(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def start_server(module: str, *args: str, directory: Path | str | None = None,
                 name: str = "server", ready_timeout: float | None = 60.0,
                 preexec_fn: Callable[[], None] | None = None) -> ServerProcess:
    """Run a server module on ``DIRECTORY/NAME.sock`` (a fresh temporary
    directory, removed when it stops, if none is given) and, unless
    ``ready_timeout`` is None, wait until it accepts connections."""
    tmp = tempfile.TemporaryDirectory(prefix=f"{name}-") if directory is None else None
    base = Path(tmp.name if tmp is not None else str(directory))
    server = ServerProcess(module, args, base, name, preexec_fn, tmp)
    return server if ready_timeout is None else server.wait_ready(ready_timeout)


def start_reactord(*args: str, directory: Path | str | None = None, name: str = "reactord",
                   ready_timeout: float | None = 60.0,
                   preexec_fn: Callable[[], None] | None = None) -> ServerProcess:
    """``start_server("tools.reactord", ...)``."""
    return start_server("tools.reactord", *args, directory=directory, name=name,
                        ready_timeout=ready_timeout, preexec_fn=preexec_fn)


def target(socket_path: str | None, preload: int) -> tuple[ServerProcess | None, str, int]:
    """The daemon a tool works on: the one at ``socket_path``, or a fresh one
    preloaded with ``preload`` routes (returned, for the caller to stop); its
    socket path and pid."""
    daemon = None if socket_path else start_reactord(
        "--preload-fullview", str(preload), "--log-level", "warning")
    path = socket_path or (daemon.path if daemon else "")
    return daemon, path, peer_pid(path)
