"""What a stream handler may hand the server, enforced: wire-v1 section 5's bound
(stream records never bring the output above write_high + 65536) must hold
whatever a handler returns, and a handler cannot answer outside its own frames.

Regressions: a producer could return more records than asked for, and a
variable-size stream could return records of up to MAX_PAYLOAD bytes; both put
the output far above the bound.  ``ctx.respond()`` from a stream's ``init`` or
batch call answered under the id of the connection's last one-shot request.
Each test drives a real session on a socketpair with a manual clock.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from api import wire
from api.batch import END, Batch
from api.registry import Context, Registry
from api.session import Session
from tests.server.test_session_inprocess import SMALL, Frame, Harness, read_frames
from tests.support.testserver import TEST_ECHO
from tools.harness import request

BATCH_TYPE, VARIABLE_TYPE, RESPOND_TYPE, MIXED_TYPE = (0x7E570020, 0x7E570021, 0x7E570022,
                                                      0x7E570023)
BOUND = SMALL.write_high + wire.STREAM_OVERSHOOT


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness(SMALL)
    yield h
    h.reactor.close()


def start(state: bytes, ctx: Context) -> list[int]:
    return [0]


def peak_output(harness: Harness, session: Session, client: socket.socket,
                req_id: int, req_type: int) -> tuple[int, list[Frame]]:
    """Run the stream to its end, reading only when the server is stuck: the
    highest output seen after any pass, and the frames."""
    client.sendall(request(req_id, req_type))
    peak = 0
    for _ in range(20):
        harness.spin(1)
        peak = max(peak, session.output_buffered)
    return peak, read_frames(harness, client, req_id)


def test_a_batch_larger_than_asked_for_ends_the_stream_eio(harness: Harness) -> None:
    def greedy(state: list[int], ctx: Context, limit: int) -> Batch:
        state[0] += 1
        return Batch(b"r" * 12 * {1: limit, 2: 50_000}.get(state[0], 0), 12)

    harness.server.registry.register_stream(BATCH_TYPE, start, greedy, record_size=12)
    session, client = harness.connect()
    peak, frames = peak_output(harness, session, client, 5, BATCH_TYPE)
    limit = SMALL.stream_batch_bytes // 24
    assert frames == [(5, 0, b"r" * 12)] * limit + [(5, wire.EIO, b"")]
    assert peak <= BOUND


def test_a_variable_record_beyond_the_overshoot_ends_the_stream_eio(harness: Harness) -> None:
    sizes = [wire.MAX_STREAM_RECORD, wire.MAX_STREAM_RECORD + 1]

    def big(state: list[int], ctx: Context, limit: int) -> Batch:
        state[0] += 1
        return Batch.of([b"v" * sizes[state[0] - 1]] if state[0] <= len(sizes) else [])

    harness.server.registry.register_stream(VARIABLE_TYPE, start, big)
    session, client = harness.connect()
    peak, frames = peak_output(harness, session, client, 11, VARIABLE_TYPE)
    assert frames == [(11, 0, b"v" * wire.MAX_STREAM_RECORD), (11, wire.EIO, b"")]
    assert peak <= BOUND


def test_items_over_the_declared_maximum_end_the_stream_eio(harness: Harness) -> None:
    def mixed(state: list[int], ctx: Context, limit: int) -> Batch:
        state[0] += 1
        if state[0] == 1:
            return Batch.of([b"a" * 100, b"b" * 7] * (limit // 2))
        return Batch.of([b"c" * 101]) if state[0] == 2 else END

    harness.server.registry.register_stream(MIXED_TYPE, start, mixed, max_record_size=100)
    session, client = harness.connect()
    peak, frames = peak_output(harness, session, client, 13, MIXED_TYPE)
    pairs = SMALL.stream_batch_bytes // (wire.HEADER_SIZE + 100) // 2
    assert frames == [(13, 0, b"a" * 100), (13, 0, b"b" * 7)] * pairs + [(13, wire.EIO, b"")]
    assert peak <= BOUND


def test_fixed_records_beyond_the_overshoot_are_refused_at_registration() -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="record_size"):
        registry.register_stream(BATCH_TYPE, start, lambda s, c, n: END,
                                 record_size=wire.MAX_STREAM_RECORD + 1)
    with pytest.raises(ValueError, match="max_record_size"):
        registry.register_stream(VARIABLE_TYPE, start, lambda s, c, n: END,
                                 max_record_size=wire.MAX_STREAM_RECORD + 1)
    registry.register_stream(BATCH_TYPE, start, lambda s, c, n: END,
                             record_size=wire.MAX_STREAM_RECORD)


def test_respond_outside_a_one_shot_is_refused(harness: Harness) -> None:
    seen: list[int] = []

    def init(payload: bytes, ctx: Context) -> list[int]:
        seen.append(ctx.request_id)
        return [0]

    def answers_aside(state: list[int], ctx: Context, limit: int) -> Batch:
        seen.append(ctx.request_id)
        ctx.respond(b"not a record")
        state[0] += 1
        return Batch.of([b"one"] if state[0] == 1 else [])

    harness.server.registry.register_stream(RESPOND_TYPE, init, answers_aside)
    session, client = harness.connect()
    client.sendall(request(3, TEST_ECHO, b"echo"))   # a one-shot first: its id must not leak
    client.sendall(request(9, RESPOND_TYPE))
    frames = read_frames(harness, client, 9)
    assert (9, wire.EIO, b"") == frames[-1]
    assert all(for_id != 3 for for_id, _, _ in frames[1:])
    assert seen == [9, 9]
    assert not session.closed
