"""BufferEvent events (EOF, errors) and close (reactor-api.md)."""

from __future__ import annotations

import errno
import signal
import socket
from collections.abc import Callable


from reactor import (BEV_EVENT_EOF, BEV_EVENT_ERROR, BEV_EVENT_READING, BEV_EVENT_WRITING,
                     EV_READ, EV_WRITE, BufferEvent, Reactor)
from tests.reactor.util import drain, run_passes, run_until


class Events:
    """Records on_event calls with the enabled mask seen at that moment."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __call__(self, bev: BufferEvent, what: int) -> None:
        self.seen.append((what, bev.enabled))

    @property
    def whats(self) -> list[int]:
        return [what for what, _ in self.seen]


# -- events ------------------------------------------------------------------------------

def test_eof_disables_reading_before_on_event_and_writing_keeps_working(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    events = Events()
    bev.set_callbacks(None, None, events)
    bev.enable(EV_READ | EV_WRITE)
    peer.sendall(b"last words")
    peer.shutdown(socket.SHUT_WR)
    run_until(reactor, lambda: bool(events.seen))
    assert events.seen == [(BEV_EVENT_READING | BEV_EVENT_EOF, EV_WRITE)]
    assert bev.read() == b"last words"
    assert bev.error is None
    bev.write(b"reply")
    run_until(reactor, lambda: len(bev.output) == 0)
    assert drain(peer) == b"reply"


def test_broken_pipe_is_writing_error_even_with_default_sigpipe(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    events = Events()
    bev.set_callbacks(None, None, events)
    bev.enable(EV_READ | EV_WRITE)
    bev.set_watermark(EV_READ, 0, 1)  # stop reading so the error shows on the write side
    previous = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        peer.close()
        bev.write(b"x" * (1 << 20))
        run_until(reactor, lambda: bool(events.seen))
        assert signal.getsignal(signal.SIGPIPE) is signal.SIG_DFL  # never changed
    finally:
        signal.signal(signal.SIGPIPE, previous)
    assert events.whats[0] in (BEV_EVENT_WRITING | BEV_EVENT_ERROR,
                               BEV_EVENT_READING | BEV_EVENT_EOF)
    run_until(reactor, lambda: BEV_EVENT_WRITING | BEV_EVENT_ERROR in events.whats)
    assert bev.error == errno.EPIPE
    assert not bev.enabled & EV_WRITE


def test_error_from_the_immediate_send_is_reported_in_a_later_pass(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    events = Events()
    bev.set_callbacks(None, None, events)
    bev.enable(EV_WRITE)
    peer.close()
    bev.write(b"into the void")
    assert events.seen == []  # nothing runs inside write()
    assert bev.error == errno.EPIPE and not bev.enabled & EV_WRITE
    run_until(reactor, lambda: bool(events.seen))
    assert events.seen == [(BEV_EVENT_WRITING | BEV_EVENT_ERROR, 0)]


def test_connection_reset_is_reading_error_and_writing_keeps_its_state(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    events = Events()
    bev.set_callbacks(None, None, events)
    bev.write(b"unread by the peer")
    bev.enable(EV_WRITE)
    run_until(reactor, lambda: len(bev.output) == 0)
    peer.close()  # closing with unread input resets the connection
    bev.enable(EV_READ)
    run_until(reactor, lambda: bool(events.seen))
    assert events.seen == [(BEV_EVENT_READING | BEV_EVENT_ERROR, EV_WRITE)]
    assert bev.error == errno.ECONNRESET


def test_error_is_none_until_an_error_is_reported(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.enable(EV_READ)
    peer.shutdown(socket.SHUT_WR)
    run_until(reactor, lambda: not bev.enabled & EV_READ)
    assert bev.error is None


# -- close -------------------------------------------------------------------------------

def test_close_is_idempotent_and_closes_the_socket(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    sock = bev.socket
    fd = bev.fileno()
    bev.enable(EV_READ | EV_WRITE)
    bev.write(b"x" * (1 << 20))
    bev.close()
    bev.close()
    assert sock.fileno() == -1 and bev.closed
    assert fd not in reactor.selector.get_map()
    assert len(bev.output) == 0  # pending output dropped


def test_after_close_write_drops_read_is_empty_enable_does_nothing(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.enable(EV_READ)
    peer.sendall(b"unread")
    run_until(reactor, lambda: len(bev.input) == 6)
    bev.close()
    bev.write(b"dropped")
    assert len(bev.output) == 0
    assert bev.read() == b""
    bev.enable(EV_READ | EV_WRITE)
    assert bev.enabled == 0
    assert len(reactor.selector.get_map()) == 0


def test_nothing_runs_for_a_bufferevent_closed_by_another_callback(reactor: Reactor) -> None:
    a1, b1 = socket.socketpair()
    a2, b2 = socket.socketpair()
    bevs = [BufferEvent(reactor, a1), BufferEvent(reactor, a2)]
    calls: list[int] = []

    def make_on_read(me: int) -> Callable[[BufferEvent], None]:
        def on_read(bev: BufferEvent) -> None:
            calls.append(me)
            bevs[1 - me].close()
        return on_read

    for i, bev in enumerate(bevs):
        bev.set_callbacks(make_on_read(i), None, lambda b, w: calls.append(99))
        bev.enable(EV_READ)
    b1.sendall(b"1")
    b2.sendall(b"2")
    run_until(reactor, lambda: bool(calls))
    run_passes(reactor, 3, 0.01)
    assert len(calls) == 1
    b1.close()
    b2.close()
    for bev in bevs:
        bev.close()
