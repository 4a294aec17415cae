"""Callback rules: deferral, re-entrancy, closing from callbacks, exceptions."""

from __future__ import annotations

import logging
import socket

import pytest

from reactor import (BEV_EVENT_READING, BEV_EVENT_TIMEOUT, EV_READ, EV_WRITE, BufferEvent,
                     Reactor)
from reactor.clock import ManualClock
from tests.reactor.util import drain, run_passes, run_until


class Calls:
    """Callbacks that record their names; ``inside`` marks API calls in progress."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.inside = False
        self.called_inside: list[str] = []

    def _note(self, name: str) -> None:
        self.log.append(name)
        if self.inside:
            self.called_inside.append(name)

    def on_read(self, bev: BufferEvent) -> None:
        self._note("read")

    def on_write(self, bev: BufferEvent) -> None:
        self._note("write")

    def on_event(self, bev: BufferEvent, what: int) -> None:
        self._note(f"event:{what:#x}")

    def install(self, bev: BufferEvent) -> None:
        bev.set_callbacks(self.on_read, self.on_write, self.on_event)

    def read_then_close(self, bev: BufferEvent) -> None:
        self.on_read(bev)
        bev.close()

    def write_then_close(self, bev: BufferEvent) -> None:
        self.on_write(bev)
        bev.close()

    def event_then_close(self, bev: BufferEvent, what: int) -> None:
        self.on_event(bev, what)
        bev.close()


# -- no callback inside an API call ---------------------------------------------------------

def test_no_callback_runs_inside_api_calls(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    calls = Calls()
    calls.install(bev)
    peer.sendall(b"incoming")
    calls.inside = True
    bev.enable(EV_READ | EV_WRITE)
    bev.write(b"sent at once")       # flushes now: its on_write is deferred
    bev.set_watermark(EV_READ, 0, 0)
    bev.set_timeouts(read=10.0)
    bev.set_callbacks(calls.on_read, calls.on_write, calls.on_event)
    bev.read()
    bev.disable(EV_READ)
    bev.enable(EV_READ)
    calls.inside = False
    run_until(reactor, lambda: "write" in calls.log and "read" in calls.log)
    assert calls.called_inside == []
    calls.inside = True
    peer.close()
    bev.write(b"x")                  # broken pipe: on_event is deferred too
    bev.close()
    calls.inside = False
    run_passes(reactor, 3, 0.01)
    assert calls.called_inside == []


def test_on_write_after_an_immediate_full_send_runs_in_a_later_pass(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    calls = Calls()
    calls.install(bev)
    bev.enable(EV_WRITE)
    bev.write(b"flushed")
    assert calls.log == []
    reactor.run_once(0)
    assert calls.log == ["write"]
    assert drain(peer) == b"flushed"


def test_deferred_on_write_is_skipped_when_output_went_back_above_low(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    calls = Calls()
    calls.install(bev)
    bev.enable(EV_WRITE)
    bev.write(b"flushed at once")
    bev.write(b"w" * (4 << 20))  # the socket fills: the output stays above low
    reactor.run_once(0)
    assert "write" not in calls.log


# -- closing from inside callbacks ----------------------------------------------------------

def test_close_inside_on_read_skips_the_write_half_of_the_same_readiness(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    calls = Calls()
    bev.set_callbacks(calls.read_then_close, calls.on_write, calls.on_event)
    bev.write(b"queued")
    peer.sendall(b"ready to read")
    bev.enable(EV_READ | EV_WRITE)  # readable and writable in the same select
    run_until(reactor, lambda: bev.closed)
    run_passes(reactor, 2, 0.01)
    assert calls.log == ["read"]
    assert drain(peer) == b""


def test_disable_write_inside_on_read_holds_the_output_of_the_same_readiness(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.set_callbacks(lambda b: b.disable(EV_WRITE), None, None)
    bev.write(b"held back")
    peer.sendall(b"ready to read")
    bev.enable(EV_READ | EV_WRITE)  # readable and writable in the same select
    run_until(reactor, lambda: not bev.enabled & EV_WRITE)
    run_passes(reactor, 2, 0.01)
    assert drain(peer) == b"" and len(bev.output) == 9


def test_close_inside_on_write_stops_everything(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    calls = Calls()
    bev.set_callbacks(calls.on_read, calls.write_then_close, calls.on_event)
    bev.write(b"w" * (1 << 20))
    bev.enable(EV_READ | EV_WRITE)
    run_until(reactor, lambda: (drain(peer), bev.closed)[1])
    run_passes(reactor, 3, 0.01)
    assert calls.log == ["write"]
    assert len(reactor.selector.get_map()) == 0


def test_close_inside_deferred_on_write(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    calls = Calls()
    bev.set_callbacks(calls.on_read, calls.write_then_close, calls.on_event)
    bev.enable(EV_READ | EV_WRITE)
    bev.write(b"at once")
    peer.sendall(b"more")
    reactor.run_once(0.01)  # I/O first (on_read), then the deferred on_write closes
    assert calls.log == ["read", "write"] and bev.closed
    run_passes(reactor, 3, 0.01)
    assert calls.log == ["read", "write"]


def test_close_inside_on_event_for_eof(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    calls = Calls()
    bev.set_callbacks(calls.on_read, calls.on_write, calls.event_then_close)
    bev.write(b"w" * (1 << 20))
    bev.enable(EV_READ | EV_WRITE)
    peer.shutdown(socket.SHUT_WR)
    run_until(reactor, lambda: bev.closed)
    run_passes(reactor, 3, 0.01)
    assert len(calls.log) == 1 and calls.log[0].startswith("event:")


def test_close_inside_on_event_for_a_timeout(
        reactor: Reactor, clock: ManualClock, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    calls = Calls()
    bev.set_callbacks(calls.on_read, calls.on_write, calls.event_then_close)
    bev.set_timeouts(read=1.0, write=1.0)
    bev.write(b"w" * (4 << 20))
    bev.enable(EV_READ | EV_WRITE)  # both timeouts due in the same pass
    clock.advance(1.0)
    run_passes(reactor, 3)
    assert calls.log == [f"event:{BEV_EVENT_READING | BEV_EVENT_TIMEOUT:#x}"]


# -- changing things from callbacks -----------------------------------------------------------

def test_callbacks_may_change_callbacks_and_watermarks(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    first_calls: list[bytes] = []
    second: list[bytes] = []

    def first(b: BufferEvent) -> None:
        first_calls.append(b.read())
        b.set_watermark(EV_READ, 0, 3)
        b.set_callbacks(lambda b2: second.append(b2.read()), None, None)

    bev.set_callbacks(first, None, None)
    bev.enable(EV_READ)
    peer.sendall(b"one")
    run_until(reactor, lambda: first_calls == [b"one"])
    peer.sendall(b"abcdefgh")
    run_until(reactor, lambda: b"".join(second) == b"abcdefgh")
    assert all(len(chunk) <= 3 for chunk in second)


# -- exceptions -------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["read", "write", "event"])
def test_exception_in_a_callback_is_logged_and_closes_only_that_bufferevent(
        reactor: Reactor, caplog: pytest.LogCaptureFixture, which: str) -> None:
    a, peer = socket.socketpair()
    c, other_peer = socket.socketpair()
    bev, other = BufferEvent(reactor, a), BufferEvent(reactor, c)
    events: list[int] = []

    def boom(*args: object) -> None:
        raise ValueError(f"boom in {which}")

    bev.set_callbacks(boom if which == "read" else None,
                      boom if which == "write" else None,
                      boom if which == "event" else (lambda b, w: events.append(w)))
    got: list[bytes] = []
    other.set_callbacks(lambda b: got.append(b.read()), None, None)
    other.enable(EV_READ)
    bev.enable(EV_READ | EV_WRITE)
    if which == "read":
        peer.sendall(b"x")
    elif which == "write":
        bev.write(b"flushed")
    else:
        peer.shutdown(socket.SHUT_WR)
    with caplog.at_level(logging.ERROR, logger="reactor"):
        run_until(reactor, lambda: bev.closed)
    assert events == []
    records = [r for r in caplog.records if r.name == "reactor" and r.exc_info]
    assert len(records) == 1
    exc_info = records[0].exc_info
    assert exc_info is not None and f"boom in {which}" in str(exc_info[1])
    other_peer.sendall(b"still served")
    run_until(reactor, lambda: got == [b"still served"])
    for s in (peer, other_peer):
        s.close()
    other.close()


def test_base_exception_in_a_callback_propagates_out_of_run(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair

    def interrupt(b: BufferEvent) -> None:
        raise KeyboardInterrupt

    bev.set_callbacks(interrupt, None, None)
    bev.enable(EV_READ)
    peer.sendall(b"x")
    with pytest.raises(KeyboardInterrupt):
        reactor.run()
