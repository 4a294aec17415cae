"""Reactor semantics, one test per line of reactor-api.md's "Reactor" section."""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import threading
import time

import pytest

from reactor import EV_READ, BufferEvent, Listener, Reactor
from reactor.clock import ManualClock
from tests.reactor.util import CountingSelector


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


# -- selector and clock ---------------------------------------------------------

def test_default_selector_is_a_default_selector() -> None:
    r = Reactor()
    try:
        assert isinstance(r.selector, selectors.DefaultSelector)
        assert r.clock is time.monotonic
    finally:
        r.close()


def test_every_waited_fd_is_registered_with_the_injected_selector() -> None:
    sel = CountingSelector()
    r = Reactor(selector=sel)
    a, b = socket.socketpair()
    listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listen.bind(b"\0reactor-test-" + str(os.getpid()).encode())
    listen.listen()
    try:
        bev = BufferEvent(r, a)
        bev.enable(EV_READ)
        lst = Listener(r, listen, lambda *args: None)
        assert a.fileno() in sel.get_map()
        assert listen.fileno() in sel.get_map()
        bev.close()
        lst.close()
        assert len(sel.get_map()) == 0
    finally:
        b.close()
        r.close()


def test_deadline_is_clock_plus_delay(reactor: Reactor, clock: ManualClock) -> None:
    timer = reactor.call_later(2.5, lambda: None)
    assert timer.deadline == 102.5


# -- timers ------------------------------------------------------------------------

def test_timer_fires_no_earlier_than_its_deadline(reactor: Reactor, clock: ManualClock) -> None:
    fired: list[float] = []
    reactor.call_later(1.0, lambda: fired.append(clock()))
    clock.advance(0.999)
    reactor.run_once(0)
    assert fired == []
    clock.advance(0.001)
    reactor.run_once(0)
    assert fired == [101.0]


def test_timer_ties_fire_in_scheduling_order(reactor: Reactor, clock: ManualClock) -> None:
    order: list[int] = []
    for i in range(20):
        reactor.call_later(1.0 if i % 2 else 0.5, order.append, i)
    clock.advance(1.0)
    reactor.run_once(0)
    assert order == list(range(0, 20, 2)) + list(range(1, 20, 2))


def test_negative_delay_counts_as_zero(reactor: Reactor, clock: ManualClock) -> None:
    fired: list[int] = []
    timer = reactor.call_later(-5.0, fired.append, 1)
    assert timer.deadline == 100.0
    reactor.run_once(0)
    assert fired == [1]


def test_cancel_prevents_firing_and_is_idempotent(reactor: Reactor, clock: ManualClock) -> None:
    fired: list[int] = []
    timer = reactor.call_later(1.0, fired.append, 1)
    timer.cancel()
    timer.cancel()
    clock.advance(2.0)
    reactor.run_once(0)
    assert fired == []
    assert not timer.active


def test_cancel_after_firing_is_a_no_op(reactor: Reactor, clock: ManualClock) -> None:
    fired: list[int] = []
    timer = reactor.call_later(0.0, fired.append, 1)
    reactor.run_once(0)
    timer.cancel()
    other = reactor.call_later(0.0, fired.append, 2)
    reactor.run_once(0)
    assert fired == [1, 2] and not other.active


def test_cancel_of_a_due_timer_by_an_earlier_one_in_the_same_pass(
        reactor: Reactor, clock: ManualClock) -> None:
    fired: list[str] = []
    second = reactor.call_later(1.0, fired.append, "second")
    reactor.call_later(0.5, second.cancel)
    clock.advance(1.0)
    reactor.run_once(0)
    assert fired == []


# -- call_soon -------------------------------------------------------------------

def test_call_soon_runs_fifo(reactor: Reactor) -> None:
    order: list[int] = []
    for i in range(10):
        reactor.call_soon(order.append, i)
    reactor.run_once(0)
    assert order == list(range(10))


def test_call_soon_scheduled_during_a_pass_runs_in_a_later_pass(reactor: Reactor) -> None:
    order: list[str] = []

    def first() -> None:
        order.append("first")
        reactor.call_soon(order.append, "later")

    reactor.call_soon(first)
    reactor.run_once(0)
    assert order == ["first"]
    reactor.run_once(0)
    assert order == ["first", "later"]


def test_timer_scheduled_during_a_pass_with_zero_delay_runs_in_a_later_pass(
        reactor: Reactor) -> None:
    order: list[str] = []
    reactor.call_soon(lambda: reactor.call_later(0, order.append, "timer"))
    reactor.run_once(0)
    assert order == []
    reactor.run_once(0)
    assert order == ["timer"]


# -- run / stop -----------------------------------------------------------------------

def test_run_returns_at_once_when_nothing_is_left() -> None:
    r = Reactor()
    started = time.monotonic()
    r.run()
    assert time.monotonic() - started < 0.5
    r.close()


def test_run_keeps_going_while_a_timer_is_pending() -> None:
    r = Reactor()
    fired: list[int] = []
    r.call_later(0.05, fired.append, 1)
    r.run()
    assert fired == [1]
    r.close()


def test_run_keeps_going_while_call_soon_callbacks_are_pending(reactor: Reactor) -> None:
    count = [0]

    def again() -> None:
        count[0] += 1
        if count[0] < 5:
            reactor.call_soon(again)

    reactor.call_soon(again)
    reactor.run()
    assert count[0] == 5


def test_run_keeps_going_while_a_listener_is_open() -> None:
    r = Reactor()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(b"\0reactor-run-test-" + str(os.getpid()).encode())
    sock.listen()
    lst = Listener(r, sock, lambda *args: None)
    r.call_later(0.05, lst.close)
    started = time.monotonic()
    r.run()
    assert lst.closed and time.monotonic() - started >= 0.04
    r.close()


def test_run_keeps_going_while_a_bufferevent_has_interest() -> None:
    r = Reactor()
    a, b = socket.socketpair()
    bev = BufferEvent(r, a)
    got: list[bytes] = []

    def on_read(bev: BufferEvent) -> None:
        got.append(bev.read())
        bev.disable(EV_READ)  # no interest left: run() may return

    bev.set_callbacks(on_read, None, None)
    bev.enable(EV_READ)
    threading.Timer(0.05, b.sendall, (b"x",)).start()
    r.run()
    assert got == [b"x"]
    bev.close()
    b.close()
    r.close()


def test_signal_handlers_alone_do_not_keep_run_alive() -> None:
    r = Reactor()
    r.add_signal(signal.SIGUSR1, lambda signum: None)
    started = time.monotonic()
    r.run()
    assert time.monotonic() - started < 0.5
    r.close()


def test_stop_makes_run_return_after_the_current_pass(reactor: Reactor) -> None:
    passes = [0]

    def forever() -> None:
        passes[0] += 1
        if passes[0] == 3:
            reactor.stop()
        reactor.call_soon(forever)

    reactor.call_soon(forever)
    reactor.run()
    assert passes[0] == 3


def test_stop_outside_run_has_no_effect(reactor: Reactor) -> None:
    fired: list[int] = []
    reactor.stop()
    reactor.call_soon(fired.append, 1)
    reactor.call_soon(lambda: reactor.call_soon(fired.append, 2))
    reactor.run()
    assert fired == [1, 2]


# -- run_once waits ------------------------------------------------------------------

def test_run_once_waits_at_most_until_the_next_timer() -> None:
    r = Reactor()
    fired: list[int] = []
    r.call_later(0.05, fired.append, 1)
    started = time.monotonic()
    while not fired:
        r.run_once(10.0)
    assert time.monotonic() - started < 2.0
    r.close()


def test_run_once_waits_at_most_timeout() -> None:
    r = Reactor()
    r.call_later(30.0, lambda: None)
    started = time.monotonic()
    r.run_once(0.05)
    elapsed = time.monotonic() - started
    assert 0.04 <= elapsed < 2.0
    r.close()


def test_run_once_does_not_wait_when_call_soon_callbacks_are_pending() -> None:
    r = Reactor()
    r.call_later(30.0, lambda: None)
    ran: list[int] = []
    r.call_soon(ran.append, 1)
    started = time.monotonic()
    r.run_once(10.0)
    assert ran == [1] and time.monotonic() - started < 1.0
    r.close()


def test_run_once_returns_at_once_when_nothing_could_wake_it() -> None:
    r = Reactor()
    started = time.monotonic()
    r.run_once(10.0)
    r.run_once(None)
    assert time.monotonic() - started < 1.0
    r.close()


def test_no_busy_loop_while_idle_with_a_timer_pending() -> None:
    sel = CountingSelector()
    r = Reactor(selector=sel)
    fired: list[int] = []
    r.call_later(0.2, fired.append, 1)
    r.run()
    assert fired == [1]
    assert sel.selects <= 3
    r.close()


# -- re-entrancy and errors ------------------------------------------------------------

@pytest.mark.parametrize("call", ["run", "run_once"])
def test_run_from_inside_a_callback_raises_runtime_error(reactor: Reactor, call: str) -> None:
    caught: list[BaseException] = []

    def nested() -> None:
        try:
            getattr(reactor, call)()
        except RuntimeError as err:
            caught.append(err)

    reactor.call_soon(nested)
    reactor.run_once(0)
    assert len(caught) == 1


def test_exception_in_a_callback_is_logged_and_the_loop_continues(
        reactor: Reactor, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def boom() -> None:
        raise ValueError("boom")

    reactor.call_soon(boom)
    reactor.call_soon(ran.append, "soon")
    reactor.call_later(0, boom)
    reactor.call_later(0, ran.append, "timer")
    with caplog.at_level(logging.ERROR, logger="reactor"):
        reactor.run()
    assert sorted(ran) == ["soon", "timer"]
    errors = [rec for rec in caplog.records if rec.name == "reactor" and rec.exc_info]
    assert len(errors) == 2


def test_base_exception_propagates_out_of_run(reactor: Reactor) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    reactor.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        reactor.run()
    fired: list[int] = []
    reactor.call_soon(fired.append, 1)
    reactor.run()  # usable afterwards: not stuck "inside a pass"
    assert fired == [1]
