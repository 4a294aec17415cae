"""BufferEvent semantics: construction, reading, writing (reactor-api.md)."""

from __future__ import annotations

import selectors
import socket


from reactor import EV_READ, EV_WRITE, BufferEvent, Reactor
from tests.reactor.util import (CountingSelector, drain, fill_socket, recording_pair,
                                registered_events, run_passes, run_until)


# -- construction ------------------------------------------------------------------

def test_new_bufferevent_is_non_blocking_and_has_nothing_enabled(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    assert bev.socket.getblocking() is False
    assert bev.enabled == 0
    assert registered_events(reactor, bev.fileno()) == 0
    assert bev.error is None and not bev.closed


def test_enable_and_disable_change_the_enabled_mask(
        pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    bev.enable(EV_READ | EV_WRITE)
    bev.disable(EV_READ)
    assert bev.enabled == EV_WRITE


# -- reading -----------------------------------------------------------------------

def test_each_read_readiness_does_one_recv_of_at_most_65536(reactor: Reactor) -> None:
    rec, peer = recording_pair()
    peer.setblocking(False)
    bev = BufferEvent(reactor, rec)
    bev.enable(EV_READ)
    sent = fill_socket(peer)
    assert sent > 65536
    reactor.run_once(1.0)
    assert rec.recv_sizes == [65536]
    assert len(bev.input) <= 65536
    bev.close()
    peer.close()


def test_recv_size_is_limited_to_high_minus_input(reactor: Reactor) -> None:
    rec, peer = recording_pair()
    bev = BufferEvent(reactor, rec)
    bev.set_watermark(EV_READ, 0, 1000)
    bev.enable(EV_READ)
    peer.sendall(b"a" * 600)
    run_until(reactor, lambda: len(bev.input) == 600)
    peer.sendall(b"b" * 5000)
    run_until(reactor, lambda: len(bev.input) == 1000)
    assert rec.recv_sizes == [1000, 400]
    bev.close()
    peer.close()


def test_input_never_exceeds_high_and_reading_stops_there(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.set_watermark(EV_READ, 0, 1000)
    bev.enable(EV_READ)
    peer.sendall(b"x" * 5000)
    run_until(reactor, lambda: len(bev.input) == 1000)
    run_passes(reactor, 3)
    assert len(bev.input) == 1000
    assert registered_events(reactor, bev.fileno()) & selectors.EVENT_READ == 0


def test_reading_resumes_by_itself_once_read_below_high(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.set_watermark(EV_READ, 0, 1000)
    bev.enable(EV_READ)
    peer.sendall(b"x" * 1500)
    run_until(reactor, lambda: len(bev.input) == 1000)
    assert len(bev.read(1)) == 1
    assert registered_events(reactor, bev.fileno()) & selectors.EVENT_READ
    run_until(reactor, lambda: len(bev.input) == 1000)
    assert len(bev.read()) == 1000
    run_until(reactor, lambda: len(bev.input) == 499)


def test_on_read_runs_after_a_recv_that_leaves_at_least_low(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    seen: list[int] = []
    bev.set_callbacks(lambda b: seen.append(len(b.input)), None, None)
    bev.set_watermark(EV_READ, 100, 0)
    bev.enable(EV_READ)
    peer.sendall(b"x" * 60)
    run_until(reactor, lambda: len(bev.input) == 60)
    run_passes(reactor, 2)
    assert seen == []
    peer.sendall(b"y" * 60)
    run_until(reactor, lambda: bool(seen))
    assert seen == [120]


def test_on_read_runs_after_every_recv_with_default_low(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    seen: list[int] = []
    bev.set_callbacks(lambda b: seen.append(len(b.input)), None, None)
    bev.enable(EV_READ)
    peer.sendall(b"x")
    run_until(reactor, lambda: seen == [1])
    peer.sendall(b"y")
    run_until(reactor, lambda: seen == [1, 2])


def test_read_removes_up_to_n_bytes_in_order(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.enable(EV_READ)
    peer.sendall(b"abcdefghij")
    run_until(reactor, lambda: len(bev.input) == 10)
    assert bev.read(3) == b"abc"
    assert bev.read(0) == b""
    assert len(bev.input) == 7
    assert bev.read(100) == b"defghij"
    assert bev.read() == b""
    peer.sendall(b"klm")
    run_until(reactor, lambda: len(bev.input) == 3)
    assert bev.read(-1) == b"klm"


def test_input_accumulates_across_recvs_until_read(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.enable(EV_READ)
    for part in (b"one,", b"two,", b"three"):
        peer.sendall(part)
        expected = len(bev.input) + len(part)
        run_until(reactor, lambda: len(bev.input) == expected)
    assert bev.read(2) == b"on"
    peer.sendall(b",four")
    run_until(reactor, lambda: len(bev.input) == 16)
    assert bev.read() == b"e,two,three,four"
    assert len(bev.input) == 0


# -- writing -------------------------------------------------------------------------

def test_write_appends_a_copy(reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    data = bytearray(b"hello")
    bev.write(data)
    bev.write(memoryview(b" world"))
    data[:] = b"XXXXX"
    assert len(bev.output) == 11
    bev.enable(EV_WRITE)
    run_until(reactor, lambda: len(bev.output) == 0)
    assert drain(peer) == b"hello world"


def test_bytes_leave_only_while_ev_write_is_enabled(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.write(b"queued")
    run_passes(reactor, 3, 0.01)
    assert drain(peer) == b"" and len(bev.output) == 6
    bev.enable(EV_WRITE)
    bev.write(b"+more")
    run_until(reactor, lambda: len(bev.output) == 0)
    bev.disable(EV_WRITE)
    bev.write(b"held")
    run_passes(reactor, 3, 0.01)
    assert drain(peer) == b"queued+more"
    assert len(bev.output) == 4


def test_write_with_empty_output_and_write_enabled_sends_at_once(
        pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.enable(EV_WRITE)
    bev.write(b"now")
    assert len(bev.output) == 0
    assert drain(peer) == b"now"


def test_write_interest_only_while_output_non_empty_and_write_enabled(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    fd = bev.fileno()
    bev.enable(EV_WRITE)
    assert registered_events(reactor, fd) == 0
    bev.write(b"z" * (4 << 20))  # more than the socket can take
    assert len(bev.output) > 0
    assert registered_events(reactor, fd) == selectors.EVENT_WRITE
    bev.disable(EV_WRITE)
    assert registered_events(reactor, fd) == 0
    bev.enable(EV_WRITE)
    total = 0

    def take() -> bool:
        nonlocal total
        total += len(drain(peer))
        return len(bev.output) == 0

    run_until(reactor, take)
    assert registered_events(reactor, fd) == 0
    assert total + len(drain(peer)) == 4 << 20


def test_large_writes_arrive_complete_and_in_order(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    bev.enable(EV_WRITE)
    expected = bytearray()
    for i in range(3000):  # mixes immediate sends, coalesced small writes, big chunks
        chunk = bytes([i % 251]) * (1 + (i * 7919) % 5000)
        expected += chunk
        bev.write(chunk)
    got = bytearray()

    def take() -> bool:
        got.extend(drain(peer))
        return len(bev.output) == 0

    run_until(reactor, take)
    got += drain(peer)
    assert got == expected


def test_on_write_runs_when_a_send_brings_output_to_low_or_below(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    seen: list[int] = []
    bev.set_callbacks(None, lambda b: seen.append(len(b.output)), None)
    bev.set_watermark(EV_WRITE, 4096, 0)
    bev.write(b"w" * (1 << 20))
    bev.enable(EV_WRITE)
    run_passes(reactor, 2, 0.01)
    assert seen == []  # the socket is full, output far above low
    run_until(reactor, lambda: (drain(peer), bool(seen))[1])
    assert len(seen) == 1 and seen[0] <= 4096


def test_on_write_with_default_low_means_fully_flushed(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    seen: list[int] = []
    bev.set_callbacks(None, lambda b: seen.append(len(b.output)), None)
    bev.write(b"w" * (1 << 20))
    bev.enable(EV_WRITE)
    run_until(reactor, lambda: (drain(peer), bool(seen))[1])
    assert seen == [0]


def test_send_starting_at_or_below_low_never_calls_on_write(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, peer = pair
    seen: list[int] = []
    bev.set_callbacks(None, lambda b: seen.append(1), None)
    bev.set_watermark(EV_WRITE, 100, 0)
    bev.write(b"x" * 100)
    bev.enable(EV_WRITE)
    run_until(reactor, lambda: len(bev.output) == 0)
    bev.write(b"y" * 50)  # immediate send of 50 <= low
    run_passes(reactor, 3, 0.01)
    assert seen == []
    assert drain(peer) == b"x" * 100 + b"y" * 50


def test_enabling_write_with_empty_output_never_calls_on_write(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    seen: list[int] = []
    bev.set_callbacks(None, lambda b: seen.append(1), None)
    bev.enable(EV_WRITE)
    run_passes(reactor, 3, 0.01)
    assert seen == []


def test_write_full_while_write_high_is_set_and_output_above_it(
        pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    states = []
    bev.write(b"x" * 100)
    states.append(bev.write_full)  # high 0: never full
    bev.set_watermark(EV_WRITE, 0, 100)
    states.append(bev.write_full)  # == high is not above it
    bev.write(b"x")
    states.append(bev.write_full)
    bev.set_watermark(EV_WRITE, 0, 0)
    states.append(bev.write_full)
    assert states == [False, False, True, False]


def test_small_writes_coalesce_into_bounded_chunks(
        pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, _peer = pair
    bev.write(b"first")  # EV_WRITE disabled: everything queues
    for _ in range(10_000):
        bev.write(b"m" * 48)
    bev.write(b"b" * 100_000)  # large writes are kept as they are
    bev.write(bytearray(b"tail"))
    sizes = [len(chunk) for chunk in bev.output._chunks]
    assert sum(sizes) == len(bev.output) == 5 + 480_000 + 100_000 + 4
    assert len(sizes) < 15
    assert max(size for size in sizes if size != 100_000) <= 65536 + 4096


def test_selector_changes_only_when_the_interest_mask_changes() -> None:
    sel = CountingSelector()
    reactor = Reactor(selector=sel)
    a, peer = socket.socketpair()
    bev = BufferEvent(reactor, a)
    chunk = b"c" * 65536
    left = [64]

    def refill(b: BufferEvent) -> None:  # a producer: refills as soon as drained
        while left[0] and not b.write_full:
            b.write(chunk)
            left[0] -= 1

    bev.set_watermark(EV_WRITE, 0, 4 * 65536)
    bev.set_callbacks(None, refill, None)
    bev.enable(EV_WRITE)
    bev.enable(EV_WRITE)  # no change: no selector call
    refill(bev)
    total = 0

    def take() -> bool:
        nonlocal total
        total += len(drain(peer))
        return total == 64 * 65536

    run_until(reactor, take)
    assert sel.modifies == 0
    assert sel.registrations <= 4  # not one register/unregister pair per refill
    bev.close()
    peer.close()
    reactor.close()
