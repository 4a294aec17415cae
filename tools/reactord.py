"""reactord: the control-plane daemon.

The concept: the process around the server.  It parses the command line into a
``ServerConfig``, binds the API socket (refusing a live daemon, replacing a
stale socket file, never following a symlink), assembles the daemon with its
tables (``tools.daemon.build_daemon``; every flag's default is the
``ServerConfig`` field's), and runs the reactor until SIGTERM or SIGINT.

Shutdown order (wire-v1 section 5): stop accepting and reading, end streams
with ESHUTDOWN after their queued records, flush for at most 5 s, close every
connection, remove the socket file, exit 0.

Logs (``tools.logs``): one line each, to stderr or ``--log-file``: start
(socket and limits), one audit line per change request, errors with their
context; at DEBUG also connects, disconnects (pid and uid from SO_PEERCRED)
and every request.  systemd, metrics and SIGHUP: ``tools.operate``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from typing import Sequence

from api.config import ServerConfig
from api.server import Server
from api.version import __version__
from reactor import Reactor
from reactor.handover import socket_name
from reactor.unix import SocketInUse, connect_unix, listen_unix
from tables.changelog import DEFAULT_MAX_EVENTS
from tables.handlers import Tables
from tools.daemon import build_daemon, preload_fullview
from tools.operate import Operations, StartError
from tools.paths import default_socket_path

log = logging.getLogger("reactord")
DEFAULTS = ServerConfig()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reactord", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=None,
                        help="API socket path (default: $REACTORD_SOCKET; as root "
                             "/run/reactord/reactord.sock if /run/reactord exists, else "
                             "/run/reactord.sock; $XDG_RUNTIME_DIR/reactord.sock, or a "
                             "per-user temp path)")
    parser.add_argument("--socket-mode", default="0660", type=octal_mode,
                        help="permissions of the socket file, octal (default 0660)")
    parser.add_argument("--write-high", type=int, default=DEFAULTS.write_high,
                        help="pause a stream above this many queued bytes (default %(default)s)")
    parser.add_argument("--write-low", type=int, default=DEFAULTS.write_low,
                        help="resume it at or below this many (default %(default)s)")
    parser.add_argument("--output-cap", type=int, default=DEFAULTS.output_cap,
                        help="stop reading a client whose output exceeds this (default "
                             "%(default)s)")
    parser.add_argument("--max-clients", type=int, default=DEFAULTS.max_clients,
                        help="connections beyond this are closed at once (default %(default)s)")
    parser.add_argument("--stall-timeout", type=float, default=DEFAULTS.stall_timeout,
                        help="close a connection whose client consumes none of its pending "
                             "output for this many seconds (closed within 1-2 periods); "
                             "0 disables (default %(default)s)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULTS.idle_timeout,
                        help="close a connection with nothing pending after this many "
                             "silent seconds; 0 disables (default %(default)s)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"],
                        help="debug adds connects, disconnects and a line per request "
                             "(default %(default)s)")
    parser.add_argument("--changelog-events", type=int, default=DEFAULT_MAX_EVENTS,
                        metavar="N", help="changes the changelog retains for WATCH "
                                          "(at least 1; default %(default)s)")
    parser.add_argument("--log-file", metavar="PATH",
                        help="append the log here instead of stderr; SIGHUP reopens it")
    parser.add_argument("--metrics-listen", metavar="ADDR",
                        help="serve OpenMetrics / Prometheus text on GET /metrics at "
                             "HOST:PORT or a UNIX socket path")
    parser.add_argument("--version", action="version", version=f"reactord {__version__}")
    parser.add_argument("--preload-fullview", type=int, default=0, metavar="N",
                        help="load a synthetic full view of N IPv4 routes at start")
    return parser


def octal_mode(text: str) -> int:
    """A file mode in octal, 0..0777 (``--socket-mode``)."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"not an octal file mode 0..0777: {text!r}")
    return mode


def build_config(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig(write_high=args.write_high, write_low=args.write_low,
                          output_cap=args.output_cap, max_clients=args.max_clients,
                          stall_timeout=args.stall_timeout, idle_timeout=args.idle_timeout)
    config.validate()
    if args.changelog_events < 1:
        raise ValueError("--changelog-events must be at least 1")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)   # the loop handles it once it runs
    args = parse_args(argv)
    try:
        ops = Operations.prepare(args)
    except StartError as err:
        if not err.logged:
            sys.stderr.write(f"reactord: cannot start: {err}\n")
        return 1
    path = args.socket or default_socket_path()
    try:
        config = build_config(args)
        if ops.inherited is None:
            refuse_live_daemon(path)
    except (ValueError, OSError) as err:
        return ops.cannot_start(str(err))
    tables = Tables.create(changelog_events=args.changelog_events)
    daemon = build_daemon(config, tables=tables)
    reactor, server = daemon.reactor, daemon.server
    ops.attach(reactor, server)
    # Handlers before the socket exists: once a client can connect, a signal
    # always takes the clean shutdown path (it is served when the loop starts).
    for signum in (signal.SIGTERM, signal.SIGINT):
        reactor.add_signal(signum, lambda signum: begin_shutdown(server, reactor, signum, ops))
    if args.preload_fullview:
        preload_fullview(tables, args.preload_fullview)
    try:
        inode = listen(server, ops, path, args.socket_mode)
    except OSError as err:
        reactor.close()
        ops.close()
        return ops.cannot_start(str(err))
    ops.ready(reactor, server)
    try:
        reactor.run()
    finally:
        reactor.close()
        ops.close()
        if inode:
            remove_socket_file(path, inode)
    log.info("stopped")
    return 0


def listen(server: Server, ops: Operations, path: str, mode: int) -> int:
    """Serve the socket systemd passed, else one bound at ``path``; the inode of
    the socket file to remove at exit (0: the path is not ours)."""
    sock = ops.inherited or listen_unix(path, mode=mode)
    server.listen(sock)
    config = server.config
    log.info("listening on %s (%s): write_high %d, write_low %d, output_cap %d, "
             "max_clients %d, stall_timeout %gs, idle_timeout %gs", socket_name(sock),
             "from systemd" if ops.inherited else f"mode {mode:o}",
             config.write_high, config.write_low, config.output_cap, config.max_clients,
             config.stall_timeout, config.idle_timeout)
    return 0 if ops.inherited else os.stat(path).st_ino


def refuse_live_daemon(path: str) -> None:
    """Fail before any slow start-up work when a daemon already answers on ``path``.

    ``listen_unix`` checks again when it binds; this early check only spares a
    second daemon its preload."""
    try:
        connect_unix(path, timeout=1.0).close()
    except OSError:
        return
    raise SocketInUse(errno.EADDRINUSE, f"a live daemon answers on {path}")


def begin_shutdown(server: Server, reactor: Reactor, signum: int, ops: Operations) -> None:
    name = signal.Signals(signum).name
    log.info("%s received", name)
    ops.stopping(f"{name} received")
    server.shutdown(reactor.stop)


def remove_socket_file(path: str, inode: int) -> None:
    """Unlink our socket file, unless another process has replaced it since."""
    try:
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    sys.exit(main())
