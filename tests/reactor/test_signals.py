"""Reactor signals: set_wakeup_fd, handlers in the loop, restore on remove/close."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from reactor import Reactor
from tests.reactor.util import CountingSelector, run_until


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    r = Reactor()
    yield r
    r.close()


# -- signals ----------------------------------------------------------------------------

def test_signal_handler_runs_inside_the_loop(reactor: Reactor) -> None:
    got: list[int] = []
    reactor.add_signal(signal.SIGUSR1, got.append)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert got == []  # not from the signal handler itself
    run_until(reactor, lambda: got == [signal.SIGUSR1])


def test_signal_wakes_a_sleeping_loop() -> None:
    r = Reactor()
    got: list[int] = []
    r.add_signal(signal.SIGUSR1, got.append)
    r.call_later(30.0, lambda: None)
    threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    started = time.monotonic()
    while not got and time.monotonic() - started < 5.0:
        r.run_once(10.0)
    assert got == [signal.SIGUSR1]
    assert time.monotonic() - started < 2.0
    r.close()


def test_repeated_signals_may_coalesce(reactor: Reactor) -> None:
    got: list[int] = []
    reactor.add_signal(signal.SIGUSR1, got.append)
    for _ in range(3):
        os.kill(os.getpid(), signal.SIGUSR1)
    run_until(reactor, lambda: bool(got))
    reactor.run_once(0.01)
    assert 1 <= len(got) <= 3 and set(got) == {signal.SIGUSR1}


def test_second_add_signal_replaces_the_handler(reactor: Reactor) -> None:
    first: list[int] = []
    second: list[int] = []
    reactor.add_signal(signal.SIGUSR2, first.append)
    reactor.add_signal(signal.SIGUSR2, second.append)
    os.kill(os.getpid(), signal.SIGUSR2)
    run_until(reactor, lambda: bool(second))
    assert first == []


def test_add_signal_outside_the_main_thread_is_refused(reactor: Reactor) -> None:
    errors: list[BaseException] = []
    before = signal.getsignal(signal.SIGUSR1)

    def attempt() -> None:
        try:
            reactor.add_signal(signal.SIGUSR1, lambda signum: None)
        except ValueError as err:
            errors.append(err)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert signal.getsignal(signal.SIGUSR1) is before


def test_remove_signal_restores_the_previous_disposition(reactor: Reactor) -> None:
    def previous(signum: int, frame: object) -> None:
        pass

    old = signal.signal(signal.SIGUSR1, previous)
    try:
        reactor.add_signal(signal.SIGUSR1, lambda signum: None)
        assert signal.getsignal(signal.SIGUSR1) is not previous
        assert reactor.remove_signal(signal.SIGUSR1)
        assert signal.getsignal(signal.SIGUSR1) is previous
        assert not reactor.remove_signal(signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_close_restores_wakeup_fd_and_dispositions() -> None:
    before = signal.getsignal(signal.SIGUSR2)
    r = Reactor()
    r.add_signal(signal.SIGUSR2, lambda signum: None)
    r.close()
    assert signal.getsignal(signal.SIGUSR2) is before
    assert signal.set_wakeup_fd(-1) == -1  # ours was withdrawn, the old one (-1) is back


def test_close_releases_the_selector_and_is_idempotent() -> None:
    sel = CountingSelector()
    r = Reactor(selector=sel)
    r.add_signal(signal.SIGUSR1, lambda signum: None)
    wakeup_fd = next(iter(sel.get_map()))
    r.close()
    r.close()
    assert sel.closed
    with pytest.raises(OSError):
        os.fstat(wakeup_fd)  # the wakeup socketpair is closed
    with pytest.raises(RuntimeError):
        r.run_once(0)
