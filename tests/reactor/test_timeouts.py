"""BufferEvent read and write timeouts, driven by a ManualClock."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from reactor import (BEV_EVENT_READING, BEV_EVENT_TIMEOUT, BEV_EVENT_WRITING, EV_READ,
                     EV_WRITE, BufferEvent, Reactor)
from reactor.clock import ManualClock
from tests.reactor.util import drain, run_until

READ_TIMEOUT = BEV_EVENT_READING | BEV_EVENT_TIMEOUT
WRITE_TIMEOUT = BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT
BIG = 4 << 20  # more than a socketpair buffers: the output stays non-empty


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


class Setup:
    def __init__(self, reactor: Reactor, clock: ManualClock) -> None:
        self.reactor = reactor
        self.clock = clock
        a, self.peer = socket.socketpair()
        self.bev = BufferEvent(reactor, a)
        self.events: list[tuple[int, int]] = []
        self.bev.set_callbacks(None, None, self.on_event)

    def on_event(self, bev: BufferEvent, what: int) -> None:
        self.events.append((what, bev.enabled))

    def tick(self, seconds: float) -> None:
        """Advance the clock and run the timers now due (no sleeping)."""
        self.clock.advance(seconds)
        self.reactor.run_once(0)
        self.reactor.run_once(0)  # a timer that re-armed itself runs here

    def close(self) -> None:
        self.bev.close()
        self.peer.close()


@pytest.fixture
def s(reactor: Reactor, clock: ManualClock) -> Iterator[Setup]:
    setup = Setup(reactor, clock)
    yield setup
    setup.close()


# -- read timeout ----------------------------------------------------------------------

def test_read_timeout_fires_after_silence_and_disables_reading_first(s: Setup) -> None:
    s.bev.set_timeouts(read=1.0)
    s.bev.enable(EV_READ | EV_WRITE)
    s.tick(0.999)
    assert s.events == []
    s.tick(0.001)
    assert s.events == [(READ_TIMEOUT, EV_WRITE)]


def test_read_timeout_is_restarted_by_every_recv_with_data(s: Setup) -> None:
    s.bev.set_timeouts(read=1.0)
    s.bev.enable(EV_READ)
    s.tick(0.8)
    s.peer.sendall(b"ping")
    run_until(s.reactor, lambda: len(s.bev.input) == 4)
    s.tick(0.8)
    assert s.events == []  # 1.6 s since enable, 0.8 s since data
    s.tick(0.2)
    assert s.events == [(READ_TIMEOUT, 0)]


def test_read_timeout_runs_only_while_read_is_enabled(s: Setup) -> None:
    s.bev.set_timeouts(read=1.0)
    s.tick(5.0)
    assert s.events == []
    s.bev.enable(EV_READ)  # the timeout counts from here
    s.tick(0.9)
    s.bev.disable(EV_READ)
    s.tick(5.0)
    assert s.events == []
    s.bev.enable(EV_READ)
    s.tick(1.0)
    assert s.events == [(READ_TIMEOUT, 0)]


def test_read_timeout_pauses_while_reading_is_suspended_by_high(s: Setup) -> None:
    s.bev.set_watermark(EV_READ, 0, 10)
    s.bev.set_timeouts(read=1.0)
    s.bev.enable(EV_READ)
    s.peer.sendall(b"x" * 10)
    run_until(s.reactor, lambda: len(s.bev.input) == 10)
    s.tick(5.0)
    assert s.events == []
    s.bev.read()  # below high again: reading and its timeout resume from now
    s.tick(0.9)
    assert s.events == []
    s.tick(0.1)
    assert s.events == [(READ_TIMEOUT, 0)]


# -- write timeout ---------------------------------------------------------------------

def test_write_timeout_runs_only_while_write_enabled_and_output_non_empty(s: Setup) -> None:
    s.bev.set_timeouts(write=1.0)
    s.bev.enable(EV_WRITE)
    s.tick(5.0)  # output empty: no timeout
    assert s.events == []
    s.bev.write(b"w" * BIG)
    s.bev.disable(EV_WRITE)
    s.tick(5.0)  # write disabled: no timeout
    assert s.events == []
    s.bev.enable(EV_WRITE | EV_READ)
    s.tick(0.9)
    assert s.events == []
    s.tick(0.1)
    assert s.events == [(WRITE_TIMEOUT, EV_READ)]
    assert len(s.bev.output) > 0  # the output is kept


def test_write_timeout_is_restarted_by_every_send_of_more_than_zero(s: Setup) -> None:
    s.bev.set_timeouts(write=1.0)
    s.bev.enable(EV_WRITE)
    s.bev.write(b"w" * BIG)
    s.tick(0.8)
    before = len(s.bev.output)
    drain(s.peer)
    run_until(s.reactor, lambda: len(s.bev.output) < before)
    s.tick(0.8)
    assert s.events == []
    s.tick(0.2)
    assert s.events == [(WRITE_TIMEOUT, 0)]


def test_write_timeout_stops_when_the_output_drains(s: Setup) -> None:
    s.bev.set_timeouts(write=1.0)
    s.bev.enable(EV_WRITE)
    s.bev.write(b"w" * 300_000)
    got = 0

    def take() -> bool:
        nonlocal got
        got += len(drain(s.peer))
        return len(s.bev.output) == 0

    run_until(s.reactor, take)
    s.tick(5.0)
    assert s.events == []


# -- set_timeouts --------------------------------------------------------------------------

def test_set_timeouts_restarts_armed_timers_from_now(s: Setup) -> None:
    s.bev.set_timeouts(read=1.0)
    s.bev.enable(EV_READ)
    s.tick(0.8)
    s.bev.set_timeouts(read=1.0)
    s.tick(0.8)
    assert s.events == []
    s.tick(0.2)
    assert s.events == [(READ_TIMEOUT, 0)]


def test_set_timeouts_sets_both_and_none_removes(s: Setup) -> None:
    s.bev.set_timeouts(read=1.0, write=1.0)
    s.bev.enable(EV_READ | EV_WRITE)
    s.bev.write(b"w" * BIG)
    s.bev.set_timeouts(write=2.0)  # read becomes None
    s.tick(1.5)
    assert s.events == []
    s.tick(0.5)
    assert s.events == [(WRITE_TIMEOUT, EV_READ)]


def test_shorter_timeout_replaces_a_longer_armed_one(s: Setup) -> None:
    s.bev.set_timeouts(read=300.0)
    s.bev.enable(EV_READ)
    s.bev.set_timeouts(read=1.0)
    s.tick(1.0)
    assert s.events == [(READ_TIMEOUT, 0)]


def test_timeouts_reject_non_positive_values(s: Setup) -> None:
    with pytest.raises(ValueError):
        s.bev.set_timeouts(read=0)
    with pytest.raises(ValueError):
        s.bev.set_timeouts(write=-1.0)


def test_closed_bufferevent_leaves_no_timer_behind(s: Setup) -> None:
    s.bev.set_timeouts(read=1.0, write=1.0)
    s.bev.enable(EV_READ | EV_WRITE)
    s.bev.write(b"w" * BIG)
    s.bev.close()
    s.tick(5.0)
    assert s.events == []
    assert s.reactor._timers.live == 0
