"""reactord: the control-plane daemon.

The concept: the process around the server.  It parses the command line into a
``ServerConfig``, binds the API socket (refusing a live daemon, replacing a
stale socket file, never following a symlink), assembles the daemon with its
tables (``tools.daemon.build_daemon``; every flag's default is the
``ServerConfig`` field's), and runs the reactor until SIGTERM or SIGINT.

Shutdown order (wire-v1 section 5): stop accepting and reading, end streams
with ESHUTDOWN after their queued records, flush for at most 5 s, close every
connection, remove the socket file, exit 0.

Logs go to stderr, one line each: start (socket and limits), client connect
and disconnect (pid and uid from SO_PEERCRED), stream ends (type, records,
status, duration) and errors with their context.
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
from reactor import Reactor
from reactor.unix import SocketInUse, connect_unix, listen_unix
from tables.changelog import DEFAULT_MAX_EVENTS
from tables.handlers import Tables
from tools.daemon import build_daemon, preload_fullview
from tools.paths import default_socket_path

log = logging.getLogger("reactord")
DEFAULTS = ServerConfig()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="reactord", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=None,
                        help="API socket path (default: $REACTORD_SOCKET, /run/reactord.sock "
                             "as root, $XDG_RUNTIME_DIR/reactord.sock, or a per-user temp path)")
    parser.add_argument("--socket-mode", default="0660", type=lambda s: int(s, 8),
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
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--changelog-events", type=int, default=DEFAULT_MAX_EVENTS,
                        metavar="N", help="changes the changelog retains for WATCH "
                                          "(at least 1; default %(default)s)")
    parser.add_argument("--preload-fullview", type=int, default=0, metavar="N",
                        help="load a synthetic full view of N IPv4 routes at start")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig(write_high=args.write_high, write_low=args.write_low,
                          output_cap=args.output_cap, max_clients=args.max_clients,
                          stall_timeout=args.stall_timeout, idle_timeout=args.idle_timeout)
    config.validate()
    if args.changelog_events < 1:
        raise ValueError("--changelog-events must be at least 1")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="reactord: %(levelname)s: %(message)s")
    path = args.socket or default_socket_path()
    try:
        config = build_config(args)
        refuse_live_daemon(path)
    except (ValueError, OSError) as err:
        log.error("cannot start: %s", err)
        return 1
    tables = Tables.create(changelog_events=args.changelog_events)
    daemon = build_daemon(config, tables=tables)
    reactor, server = daemon.reactor, daemon.server
    # Handlers before the socket exists: once a client can connect, a signal
    # always takes the clean shutdown path (it is served when the loop starts).
    for signum in (signal.SIGTERM, signal.SIGINT):
        reactor.add_signal(signum, lambda signum: begin_shutdown(server, reactor, signum))
    if args.preload_fullview:
        preload_fullview(tables, args.preload_fullview)
    try:
        server.listen(listen_unix(path, mode=args.socket_mode))
    except OSError as err:
        log.error("cannot start: %s", err)
        reactor.close()
        return 1
    inode = os.stat(path).st_ino
    log.info("listening on %s (mode %o): write_high %d, write_low %d, output_cap %d, "
             "max_clients %d, stall_timeout %gs, idle_timeout %gs", path, args.socket_mode,
             config.write_high, config.write_low, config.output_cap, config.max_clients,
             config.stall_timeout, config.idle_timeout)
    try:
        reactor.run()
    finally:
        reactor.close()
        remove_socket_file(path, inode)
    log.info("stopped")
    return 0


def refuse_live_daemon(path: str) -> None:
    """Fail before any slow start-up work when a daemon already answers on ``path``.

    ``listen_unix`` checks again when it binds; this early check only spares a
    second daemon its preload."""
    try:
        connect_unix(path, timeout=1.0).close()
    except OSError:
        return
    raise SocketInUse(errno.EADDRINUSE, f"a live daemon answers on {path}")


def begin_shutdown(server: Server, reactor: Reactor, signum: int) -> None:
    log.info("%s received", signal.Signals(signum).name)
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
