"""reactord and systemd: readiness and status notifications, the watchdog, socket activation.

The concept: everything systemd tells the daemon through its environment,
read once at start (and removed from the environment, as sd_notify and
sd_listen_fds do with ``unset_environment``), and everything the daemon tells
systemd back, over $NOTIFY_SOCKET (``reactor.handover.NotifySocket``).
Without those variables every call here is a no-op: the same daemon runs
under systemd, under another supervisor or in a terminal.

Messages (sd_notify(3)), all sent from the reactor loop:
- ``READY=1`` with a first ``STATUS=``, in the loop's first pass, i.e. once the
  API socket is listening and the loop serves it (``start``);
- then, from one reactor timer ticking every ``STATUS_PERIOD`` seconds or
  every half of $WATCHDOG_USEC if that is shorter: ``WATCHDOG=1`` when the
  watchdog is on (only when $WATCHDOG_PID is unset or names this process), so
  a loop that stops turning stops petting it, and ``STATUS=`` (clients,
  streams, table sizes) when its text changed;
- ``STOPPING=1`` when shutdown begins (``stopping``), and ``STATUS=`` with the
  reason a start failed (``failed``).

Socket activation (sd_listen_fds(3)): with $LISTEN_PID equal to this process
and $LISTEN_FDS = 1, descriptor 3 is the API socket; it must be a listening
AF_UNIX stream socket.  Any other count is refused: the daemon serves one API
socket.  A notification that cannot be sent is logged once at WARNING and the
daemon goes on (systemd would then time it out, which is its call to make).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Callable, Mapping, MutableMapping

from reactor import Reactor, Timer
from reactor.handover import NotifySocket, adopt_listener

log = logging.getLogger("reactord")

LISTEN_FDS_START = 3
STATUS_PERIOD = 5.0


def inherited_socket(environ: MutableMapping[str, str] | None = None) -> socket.socket | None:
    """The API socket passed by socket activation, or None; OSError if unusable."""
    env = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)
    if not pid or not count:
        return None
    if not pid.isdigit() or int(pid) != os.getpid():
        return None          # meant for another process (we were started by it)
    if count != "1":
        raise OSError(f"LISTEN_FDS={count}: expected exactly one socket (the API socket)")
    return adopt_listener(LISTEN_FDS_START)


def watchdog_interval(environ: MutableMapping[str, str]) -> float | None:
    """Half of $WATCHDOG_USEC in seconds, when the watchdog is meant for us."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6


class Notifier:
    """The daemon's side of sd_notify; see the module docstring."""

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.pop("NOTIFY_SOCKET", "")
        self.watchdog = watchdog_interval(env)
        for name in ("WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(name, None)
        self._sock: NotifySocket | None = None
        self._warned = False
        self._status = ""
        self._timer: Timer | None = None
        self._stopped = False
        if address:
            try:
                self._sock = NotifySocket(address)
            except OSError as err:
                log.warning("NOTIFY_SOCKET unusable: %s; not notifying systemd", err)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        """One notification of ``KEY=value`` fields (a no-op without $NOTIFY_SOCKET)."""
        if self._sock is None:
            return
        try:
            sent = self._sock.send("\n".join(fields).encode("utf-8", "replace"))
        except OSError as err:
            sent, why = False, str(err)
        else:
            why = "the receiver's queue is full"
        if not sent and not self._warned:
            self._warned = True
            log.warning("cannot notify systemd (%s): %s", " ".join(fields), why)

    def start(self, reactor: Reactor, status: Callable[[], str]) -> None:
        """READY=1 in the loop's first pass; then STATUS= and WATCHDOG=1 timers."""
        if self._sock is None:
            return

        period = min(STATUS_PERIOD, self.watchdog or STATUS_PERIOD)

        def ready() -> None:
            if self._stopped:
                return                  # SIGTERM came first: never READY after STOPPING
            self._status = status()
            self.send("READY=1", f"STATUS={self._status}")
            self._timer = reactor.call_later(period, tick)

        def tick() -> None:
            fields = ["WATCHDOG=1"] if self.watchdog is not None else []
            text = status()
            if text != self._status:
                self._status = text
                fields.append(f"STATUS={text}")
            if fields:
                self.send(*fields)
            self._timer = reactor.call_later(period, tick)

        reactor.call_soon(ready)

    def stopping(self, reason: str) -> None:
        """STOPPING=1; the status and watchdog timer ends (the loop must be allowed to)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.send("STOPPING=1", f"STATUS=stopping: {reason}")

    def failed(self, reason: str) -> None:
        self.send(f"STATUS=cannot start: {reason}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def status_text(figures: Mapping[str, object]) -> str:
    """The STATUS= line: ``3 clients, 1 stream (0 paused); routes4 1000000, ...``."""
    sizes = ", ".join(f"{name} {figures[name]}" for name in
                      ("nexthops", "routes4", "routes6", "fdb", "conntrack") if name in figures)
    streams = figures.get("streams_active", 0)
    return (f"{figures.get('clients', 0)} clients, {streams} "
            f"stream{'' if streams == 1 else 's'} ({figures.get('streams_paused', 0)} paused); "
            f"{sizes}")
