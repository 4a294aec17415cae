"""What makes reactord operable, assembled around its server: logs, systemd, metrics, SIGHUP.

The concept: ``Operations.prepare`` does, before the server exists, what can
fail at start and should fail with one clear line (open the log file, bind the
metrics address, adopt a socket handed over by systemd); ``attach`` then wires
the parts to the reactor and server (request log and metrics observers, the
metrics endpoint, SIGHUP); ``ready`` tells systemd once the loop serves;
``stopping`` and ``close`` end it.

Signals: SIGHUP is ignored from the very start of ``main`` (closing the
terminal never kills the daemon), then handled in the loop: one INFO line,
and the log file, if any, reopened (logrotate's ``postrotate`` sends it).

The metrics address (``--metrics-listen``): ``HOST:PORT`` (``127.0.0.1:9465``,
``[::1]:9465``, ``localhost:9465``; ``:9465`` is every IPv4 address; port 0
lets the kernel choose, and the log line says which) or, when it contains a
``/``, the path of an AF_UNIX socket (created like the API socket, removed at
exit).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
from typing import Callable

from api import process
from api.audit import RequestLog
from api.metrics import Metrics
from api.metrics_http import MetricsEndpoint
from api.server import Server
from reactor import Reactor
from reactor.handover import socket_name
from reactor.inet import listen_tcp
from reactor.unix import listen_unix
from tools import logs
from tools.systemd import Notifier, inherited_socket, status_text

log = logging.getLogger("reactord")


class StartError(Exception):
    """The daemon cannot start; ``str()`` says why, in one line; ``logged`` when
    it was logged already (else the caller writes it to stderr)."""

    def __init__(self, why: str, logged: bool = False) -> None:
        super().__init__(why)
        self.logged = logged


def parse_listen(address: str) -> tuple[str, int] | str:
    """``(host, port)`` for ``HOST:PORT``, the path itself for an AF_UNIX socket."""
    if "/" in address:
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise StartError(f"--metrics-listen {address!r}: expected HOST:PORT or a socket path")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


class Operations:
    """See the module docstring."""

    def __init__(self, output: logs.LogOutput, notifier: Notifier,
                 inherited: socket.socket | None, metrics_sock: socket.socket | None,
                 metrics_path: str | None) -> None:
        self.output = output
        self.notifier = notifier
        self.inherited = inherited
        self.metrics_sock = metrics_sock
        self.metrics_path = metrics_path
        self.metrics: Metrics | None = None
        self.endpoint: MetricsEndpoint | None = None
        self._metrics_inode = 0

    @classmethod
    def prepare(cls, args: argparse.Namespace) -> Operations:
        """Logging, systemd's environment, the metrics socket; ``StartError`` on failure."""
        try:
            output = logs.setup(args.log_level, args.log_file)
        except OSError as err:
            raise StartError(f"cannot open --log-file {args.log_file}: "
                             f"{err.strerror or err}") from None
        notifier = Notifier()
        ops = cls(output, notifier, None, None, None)
        try:
            ops.inherited = inherited_socket()
            if args.metrics_listen:
                ops._bind_metrics(parse_listen(args.metrics_listen))
        except (OSError, StartError) as err:
            ops.cannot_start(str(err))
            raise StartError(str(err), logged=True) from None
        return ops

    def _bind_metrics(self, where: tuple[str, int] | str) -> None:
        if isinstance(where, str):
            self.metrics_sock = listen_unix(where, mode=0o660)
            self.metrics_path = where
            self._metrics_inode = os.stat(where).st_ino
        else:
            try:
                self.metrics_sock = listen_tcp(*where)
            except OSError as err:
                raise OSError(f"cannot listen on --metrics-listen {where[0]}:{where[1]}: "
                              f"{err.strerror or err}") from None

    def cannot_start(self, why: str) -> int:
        log.error("cannot start: %s", why)
        self.notifier.failed(why)
        return 1

    def attach(self, reactor: Reactor, server: Server) -> None:
        """Observers, the metrics endpoint and SIGHUP, on this reactor and server."""
        server.observe.add(RequestLog(server.now, lambda: revision(server)))
        metrics = self.metrics = Metrics(server.now)
        server.observe.add(metrics)
        reactor.add_signal(signal.SIGHUP, lambda signum: self.hangup())
        if self.metrics_sock is not None:
            self.endpoint = MetricsEndpoint(reactor, self.metrics_sock,
                                            scraper(server, metrics), server.version)
            where = socket_name(self.metrics_sock)
            log.info("metrics on %s", where if self.metrics_path else f"http://{where}/metrics")

    def hangup(self) -> None:
        log.info("SIGHUP received: %s", self.output.reopen())

    def ready(self, reactor: Reactor, server: Server) -> None:
        self.notifier.start(reactor, lambda: status_text(server.stats()))

    def stopping(self, reason: str) -> None:
        self.notifier.stopping(reason)
        if self.endpoint is not None:
            self.endpoint.close()

    def close(self) -> None:
        self.notifier.close()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.metrics_path and self._metrics_inode:
            try:
                if os.lstat(self.metrics_path).st_ino == self._metrics_inode:
                    os.unlink(self.metrics_path)
            except FileNotFoundError:
                pass


def revision(server: Server) -> int | None:
    """The daemon's change revision, once it keeps one (STATS ``revision``)."""
    value = server.registry.stats().get("revision")
    return value if isinstance(value, int) else None


def scraper(server: Server, metrics: Metrics) -> Callable[[bool], str]:
    def render(openmetrics: bool) -> str:
        figures = {"cpu_seconds": process.cpu_seconds(), "open_fds": process.open_fds(),
                   "max_fds": process.max_fds(), "start_time_seconds": process.start_time()}
        live = sum(session.bytes_sent for session in server.sessions.values())
        return metrics.exposition(server.stats(), live, figures, openmetrics)
    return render
