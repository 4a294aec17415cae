"""Helpers for the reactor tests: condition waits with deadlines, a counting
selector, socketpairs whose recv/send/accept calls can be observed."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from reactor import Reactor


def run_until(reactor: Reactor, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Run passes of at most 0.05 s until ``predicate()`` or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        reactor.run_once(0.05)


def run_passes(reactor: Reactor, count: int, timeout: float = 0.0) -> None:
    for _ in range(count):
        reactor.run_once(timeout)


class CountingSelector(selectors.BaseSelector):
    """Delegates to a DefaultSelector; counts select(), modify() and (un)register()."""

    def __init__(self) -> None:
        self.inner = selectors.DefaultSelector()
        self.selects = 0
        self.modifies = 0
        self.registrations = 0
        self.closed = False

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        self.registrations += 1
        return self.inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        self.registrations += 1
        return self.inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        self.modifies += 1
        return self.inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.selects += 1
        return self.inner.select(timeout)

    def close(self) -> None:
        self.closed = True
        self.inner.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self.inner.get_map()


def registered_events(reactor: Reactor, fd: int) -> int:
    """The selector mask registered for ``fd`` (0 when not registered)."""
    key = reactor.selector.get_map().get(fd)
    return 0 if key is None else key.events


class RecordingSocket(socket.socket):
    """A socket that records the size asked of every recv and every send result."""

    recv_sizes: list[int]
    sent: list[int]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.recv_sizes.append(bufsize)
        return super().recv(bufsize, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        n = super().send(data, flags)
        self.sent.append(n)
        return n

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0,
                address: Any = None) -> int:
        n = super().sendmsg(buffers, ancdata, flags)
        self.sent.append(n)
        return n


def recording_pair() -> tuple[RecordingSocket, socket.socket]:
    """A UNIX stream socketpair whose first end records recv/send calls."""
    a, b = socket.socketpair()
    rec = RecordingSocket(a.family, a.type, a.proto, fileno=a.detach())
    rec.recv_sizes = []
    rec.sent = []
    return rec, b


def drain(sock: socket.socket, limit: int = 1 << 30) -> bytes:
    """Everything readable right now from a socket, without blocking."""
    sock.setblocking(False)
    chunks = []
    total = 0
    while total < limit:
        try:
            data = sock.recv(min(65536, limit - total))
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def fill_socket(sock: socket.socket) -> int:
    """Send until the kernel refuses more; returns the bytes sent."""
    sock.setblocking(False)
    total = 0
    chunk = b"f" * 65536
    while True:
        try:
            total += sock.send(chunk)
        except BlockingIOError:
            return total
