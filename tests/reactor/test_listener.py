"""Listener: bounded accepts, non-blocking sockets, errors, EMFILE back-off, close."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reactor import Listener, Reactor
from reactor.clock import ManualClock
from reactor.unix import connect_unix, listen_unix
from tests.reactor.util import run_passes, run_until


class Accepted:
    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def __call__(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        self.socks.append(sock)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


@pytest.fixture
def accepted() -> Iterator[Accepted]:
    acc = Accepted()
    yield acc
    acc.close()


def clients(path: Path, count: int) -> list[socket.socket]:
    return [connect_unix(str(path), timeout=5.0) for _ in range(count)]


def test_accepts_connections_and_makes_them_non_blocking(
        reactor: Reactor, tmp_path: Path, accepted: Accepted) -> None:
    path = tmp_path / "s.sock"
    lst = Listener(reactor, listen_unix(str(path)), accepted)
    assert lst.socket.getblocking() is False
    conns = clients(path, 3)
    run_until(reactor, lambda: len(accepted.socks) == 3)
    assert all(sock.getblocking() is False for sock in accepted.socks)
    lst.close()
    for conn in conns:
        conn.close()


def test_at_most_64_accepts_per_readiness(
        reactor: Reactor, tmp_path: Path, accepted: Accepted) -> None:
    path = tmp_path / "s.sock"
    lst = Listener(reactor, listen_unix(str(path), backlog=128), accepted)
    conns = clients(path, 100)
    reactor.run_once(1.0)
    assert len(accepted.socks) == 64
    reactor.run_once(1.0)
    assert len(accepted.socks) == 100
    lst.close()
    for conn in conns:
        conn.close()


def test_exception_in_on_accept_is_logged_and_the_socket_closed(
        reactor: Reactor, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "s.sock"
    handed: list[socket.socket] = []

    def on_accept(listener: Listener, sock: socket.socket, address: Any) -> None:
        handed.append(sock)
        raise ValueError("refused")

    lst = Listener(reactor, listen_unix(str(path)), on_accept)
    conns = clients(path, 2)
    with caplog.at_level(logging.ERROR, logger="reactor"):
        run_until(reactor, lambda: len(handed) == 2)
    assert all(sock.fileno() == -1 for sock in handed)
    assert len([r for r in caplog.records if r.name == "reactor" and r.exc_info]) == 2
    assert not lst.closed
    lst.close()
    for conn in conns:
        conn.close()


def test_close_unregisters_and_closes_the_listening_socket(
        reactor: Reactor, tmp_path: Path, accepted: Accepted) -> None:
    sock = listen_unix(str(tmp_path / "s.sock"))
    fd = sock.fileno()
    lst = Listener(reactor, sock, accepted)
    assert fd in reactor.selector.get_map()
    lst.close()
    lst.close()
    assert fd not in reactor.selector.get_map()
    assert sock.fileno() == -1 and lst.closed


def test_close_inside_on_accept_stops_accepting_at_once(
        reactor: Reactor, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    handed: list[socket.socket] = []

    def on_accept(listener: Listener, sock: socket.socket, address: Any) -> None:
        handed.append(sock)
        listener.close()

    Listener(reactor, listen_unix(str(path)), on_accept)
    conns = clients(path, 5)
    run_until(reactor, lambda: bool(handed))
    run_passes(reactor, 2, 0.01)
    assert len(handed) == 1
    for sock in handed + conns:
        sock.close()


class FlakySocket(socket.socket):
    """A listening socket whose accept() fails with ``errno`` ``failures`` times."""

    failures = 0
    failure_errno = errno.EMFILE
    calls = 0

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise OSError(self.failure_errno, "simulated")
        return super().accept()


def flaky_listening_socket(path: Path) -> FlakySocket:
    sock = FlakySocket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(16)
    return sock


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
def test_out_of_fds_backs_off_for_a_tenth_of_a_second_without_spinning(
        reactor: Reactor, clock: ManualClock, tmp_path: Path, accepted: Accepted,
        caplog: pytest.LogCaptureFixture, code: int) -> None:
    path = tmp_path / "s.sock"
    sock = flaky_listening_socket(path)
    sock.failures, sock.failure_errno = 3, code
    lst = Listener(reactor, sock, accepted)
    conns = clients(path, 1)
    with caplog.at_level(logging.WARNING, logger="reactor"):
        run_passes(reactor, 5, 0.01)
        assert sock.calls == 1  # backing off: the readable socket is not watched
        for _ in range(2):  # two more failing retries, one per 0.1 s
            clock.advance(0.1)
            run_passes(reactor, 3, 0.01)
        assert sock.calls == 3
        assert accepted.socks == []
        clock.advance(0.1)
        run_until(reactor, lambda: len(accepted.socks) == 1)
    warnings = [r for r in caplog.records if r.name == "reactor" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once for the whole episode
    lst.close()
    for conn in conns:
        conn.close()


def test_backing_off_listener_keeps_run_alive_and_close_cancels_the_resume(
        reactor: Reactor, clock: ManualClock, tmp_path: Path, accepted: Accepted) -> None:
    path = tmp_path / "s.sock"
    sock = flaky_listening_socket(path)
    sock.failures = 1
    lst = Listener(reactor, sock, accepted)
    conns = clients(path, 1)
    reactor.run_once(1.0)
    assert reactor._timers.live == 1
    lst.close()
    assert reactor._timers.live == 0
    reactor.run()  # returns: nothing left
    for conn in conns:
        conn.close()
