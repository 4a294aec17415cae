"""The daemon's assembly: reactor, registry, server, builtins and tables, built once.

The concept: every process that serves the API (``tools.reactord``, the test
server of ``tests.support.testserver``, the benchmarks' traced and synthetic
servers, in-process tests) is assembled by ``build_daemon``, so that what a
test or a benchmark exercises is what users run.  It lives in tools/ because
it joins api/ and tables/, which do not import each other.

Order of assembly: the reactor (given, or made from ``selector`` and
``clock``), the registry (given, or a new one), the ``Server`` (which reads
the registry and never changes it), then the builtins (HELLO,
STREAM_CANCEL, STATS, CLIENTS), then the tables' handlers when ``tables`` is
given.  The caller registers anything else on ``daemon.registry`` before it
listens.  Every limit comes from the ``ServerConfig``, whose defaults are the
daemon's defaults (reactord's flags read them from there).

Injection points, for tracing without patching: a ``selector`` (stamps around
``select``), a ``registry`` subclass (stamps in ``check``), a ``clock`` (a
manual clock for deterministic tests), or a whole ``reactor``.

``serve`` runs an assembled daemon the simple way (stop on SIGTERM/SIGINT with
the clean shutdown of wire-v1 section 5, remove the socket file); reactord has
its own run sequence (logging, a live-daemon check, socket file ownership).
"""

from __future__ import annotations

import itertools
import logging
import os
import selectors
import signal
import time
from dataclasses import dataclass
from typing import Callable

from api import builtin
from api.config import ServerConfig
from api.registry import Registry
from api.server import Server
from reactor import Reactor
from reactor.unix import listen_unix
from tables.changelog import NO_ORIGIN
from tables.handlers import Tables, register_tables
from tools.fullview import generate_nexthops, generate_routes4

log = logging.getLogger("reactord")

PRELOAD_NEXTHOPS = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class Daemon:
    """An assembled daemon, not yet listening."""

    reactor: Reactor
    registry: Registry
    server: Server
    tables: Tables | None


def build_daemon(config: ServerConfig | None = None, *, tables: Tables | None = None,
                 reactor: Reactor | None = None,
                 selector: selectors.BaseSelector | None = None,
                 clock: Callable[[], float] | None = None,
                 registry: Registry | None = None) -> Daemon:
    """Assemble a daemon (see the module docstring); ``ValueError`` for a bad config."""
    if reactor is not None and (selector is not None or clock is not None):
        raise ValueError("pass a reactor, or a selector and a clock for a new one")
    if reactor is None:
        reactor = Reactor(selector=selector, clock=clock)
    if registry is None:
        registry = Registry()
    server = Server(reactor, registry, config or ServerConfig())   # validates it
    builtin.register(registry, server)
    if tables is not None:
        register_tables(registry, tables)
        # watchers hear of a revision before the next request is read (watch-v1 §6.4)
        def wake_watchers() -> None:
            server.wake_streams(at_once=True)

        tables.changelog.on_commit = wake_watchers
    return Daemon(reactor, registry, server, tables)


def preload_fullview(tables: Tables, routes4: int) -> None:
    """A synthetic full view straight into the tables (no socket): nexthops 1-4,
    then ``routes4`` IPv4 routes with the DFZ prefix-length mix."""
    started = time.monotonic()
    with tables.changelog.request(NO_ORIGIN):      # one revision (watch-v1 section 1)
        tables.nexthops.add(b"".join(generate_nexthops(PRELOAD_NEXTHOPS)), True)
        records = generate_routes4(routes4, nh_ids=PRELOAD_NEXTHOPS)
        chunk = 1 << 16
        while batch := b"".join(itertools.islice(records, chunk)):
            tables.routes4.add(batch, False)
    log.info("preloaded a synthetic full view: %d IPv4 routes in %.2f s", routes4,
             time.monotonic() - started)


def serve(daemon: Daemon, path: str, *, mode: int = 0o600) -> None:
    """Listen on ``path`` and run until SIGTERM or SIGINT has shut the server
    down cleanly; then close the reactor and remove the socket file."""
    reactor, server = daemon.reactor, daemon.server
    for signum in (signal.SIGTERM, signal.SIGINT):   # before clients can connect
        reactor.add_signal(signum, lambda _signum: server.shutdown(reactor.stop))
    server.listen(listen_unix(path, mode=mode))
    try:
        reactor.run()
    finally:
        reactor.close()
        os.unlink(path)
