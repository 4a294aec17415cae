"""TimerHeap (ordering, lazy cancel, pruning), ActivityTimeout and ManualClock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.clock import ManualClock
from reactor.timers import ActivityTimeout, Timer, TimerHeap


def noop() -> None:
    pass


def test_pop_due_returns_due_timers_in_deadline_then_scheduling_order() -> None:
    heap = TimerHeap()
    late = heap.schedule(2.0, noop, ())
    first = heap.schedule(1.0, noop, ())
    second = heap.schedule(1.0, noop, ())
    assert heap.pop_due(1.5) == [first, second]
    assert heap.pop_due(1.9) == []
    assert heap.pop_due(2.0) == [late]


@given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=200))
def test_heap_fires_live_timers_in_order_whatever_is_cancelled(
        plan: list[tuple[int, bool]]) -> None:
    heap = TimerHeap()
    timers = [(heap.schedule(float(deadline), noop, ()), cancel) for deadline, cancel in plan]
    for timer, cancel in timers:
        if cancel:
            timer.cancel()
    expected = sorted((t for t, cancel in timers if not cancel),
                      key=lambda t: t.deadline)  # sorted() is stable: scheduling order
    assert heap.live == len(expected)
    assert heap.pop_due(100.0) == expected
    assert heap.live == 0 and heap.next_deadline() is None


def test_cancelled_entries_are_pruned_past_half_the_heap() -> None:
    heap = TimerHeap()
    timers = [heap.schedule(float(i), noop, ()) for i in range(100)]
    for timer in timers[:50]:
        timer.cancel()
    assert len(heap._heap) == 100  # exactly half: still lazy
    timers[50].cancel()
    assert len(heap._heap) == 49 and heap.live == 49
    assert heap.next_deadline() == 51.0


def test_heap_never_holds_more_than_twice_the_live_timers_plus_one() -> None:
    heap = TimerHeap()
    for _ in range(1000):
        heap.schedule(5.0, noop, ()).cancel()
        heap.schedule(5.0, noop, ())
        assert len(heap._heap) <= 2 * heap.live + 1


def test_next_deadline_skips_cancelled_heads() -> None:
    heap = TimerHeap()
    head = heap.schedule(1.0, noop, ())
    heap.schedule(3.0, noop, ())
    heap.schedule(4.0, noop, ())
    heap.schedule(5.0, noop, ())
    head.cancel()
    assert heap.next_deadline() == 3.0


def test_timer_cancel_is_idempotent_and_reports_activity() -> None:
    heap = TimerHeap()
    timer = heap.schedule(1.0, noop, ())
    states = [timer.active]
    timer.cancel()
    timer.cancel()
    states.append(timer.active)
    assert states == [True, False] and heap.live == 0


def test_activity_timeout_expires_timeout_after_the_last_touch() -> None:
    heap = TimerHeap()
    clock = ManualClock()
    expired: list[float] = []

    def schedule_at(deadline: float, fn: Callable[[], object]) -> Timer:
        return heap.schedule(deadline, fn, ())

    timeout = ActivityTimeout(schedule_at, clock, lambda: expired.append(clock()))
    timeout.timeout = 1.0
    timeout.start()

    def run_due() -> None:
        for timer in heap.pop_due(clock()):
            fn = timer._fn
            timer._fn = None
            assert fn is not None
            fn()

    clock.advance(0.6)
    timeout.touch()
    clock.advance(0.6)
    run_due()  # the first timer fires early and re-arms for the rest
    assert expired == [] and timeout.running and heap.live == 1
    clock.advance(0.4)
    run_due()
    assert expired == [1.6] and not timeout.running


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(5.0)
    clock.advance(1.5)
    clock.set(10.0)
    assert clock() == 10.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(9.0)
