"""The daemon's one assembly (tools.daemon.build_daemon) and reactord's defaults."""

from __future__ import annotations

import socket

import pytest

from api import wire
from api.config import ServerConfig
from api.registry import Registry
from api.server import Server
from reactor import Reactor
from reactor.clock import ManualClock
from tables.handlers import Tables
from tests.reactor.util import CountingSelector, run_until
from tools.daemon import build_daemon
from tools.harness import request
from tools.reactord import build_config, parse_args

BUILTINS = (wire.HELLO, wire.STREAM_CANCEL, wire.STATS, wire.CLIENTS)


def peek(sock: socket.socket, size: int) -> int:
    """Bytes readable now, up to ``size``, without consuming them."""
    try:
        return len(sock.recv(size, socket.MSG_PEEK))
    except BlockingIOError:
        return 0


def test_the_server_leaves_its_registry_alone() -> None:
    registry = Registry()
    reactor = Reactor()
    try:
        Server(reactor, registry)
        assert not any(req_type in registry for req_type in BUILTINS)
    finally:
        reactor.close()


def test_build_daemon_registers_builtins_and_tables_around_what_it_is_given() -> None:
    selector, registry, tables = CountingSelector(), Registry(), Tables.create()
    daemon = build_daemon(ServerConfig(max_clients=3), tables=tables, selector=selector,
                          registry=registry)
    try:
        assert daemon.registry is registry and daemon.reactor.selector is selector
        assert daemon.tables is tables and daemon.server.config.max_clients == 3
        assert all(req_type in registry for req_type in BUILTINS)
        assert wire.ROUTE4_LIST in registry and wire.NH_ADD in registry
        ours, theirs = socket.socketpair()
        with theirs:
            daemon.server.attach(ours)
            theirs.sendall(request(5, wire.STATS))
            theirs.settimeout(0)
            run_until(daemon.reactor, lambda: peek(theirs, 12) == 12)
            assert wire.HEADER.unpack(theirs.recv(12))[:2] == (5, wire.OK)
        assert selector.selects > 0, "the injected selector is the one the loop uses"
    finally:
        daemon.reactor.close()


def test_build_daemon_without_tables_serves_only_the_builtins() -> None:
    daemon = build_daemon(clock=ManualClock(5.0))
    try:
        assert daemon.tables is None and daemon.reactor.clock() == 5.0
        assert wire.ROUTE4_LIST not in daemon.registry and wire.HELLO in daemon.registry
    finally:
        daemon.reactor.close()


def test_build_daemon_takes_a_reactor_or_what_makes_one() -> None:
    reactor = Reactor()
    try:
        with pytest.raises(ValueError, match="reactor"):
            build_daemon(reactor=reactor, clock=ManualClock(0.0))
        assert build_daemon(reactor=reactor).reactor is reactor
    finally:
        reactor.close()


def test_bad_limits_are_refused_at_assembly() -> None:
    with pytest.raises(ValueError, match="write_low"):
        build_daemon(ServerConfig(write_low=10, write_high=5))


def test_reactord_flag_defaults_are_the_config_defaults() -> None:
    assert build_config(parse_args(["--socket", "/nonexistent/s"])) == ServerConfig()
