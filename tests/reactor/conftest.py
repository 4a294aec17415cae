"""Shared reactor fixtures: a manual clock, a reactor on it, a BufferEvent on a socketpair.

A test module overrides ``clock`` for another start time, or ``reactor`` for
the real monotonic clock.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from reactor import BufferEvent, Reactor
from reactor.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def reactor(clock: ManualClock) -> Iterator[Reactor]:
    r = Reactor(clock=clock)
    yield r
    r.close()


@pytest.fixture
def pair(reactor: Reactor) -> Iterator[tuple[BufferEvent, socket.socket]]:
    a, b = socket.socketpair()
    bev = BufferEvent(reactor, a)
    yield bev, b
    bev.close()
    b.close()
