"""A real server with test-only handlers, for wire-level and in-process tests.

Run as ``python -m tests.support.testserver --socket PATH [limits]``
(``start_test_server``); in a test process, ``build_test_daemon`` assembles
the same daemon (``tools.daemon``).
Besides the builtins it serves:
- TEST_LIST: a stream over ``--records`` synthetic 12-byte records
  (``<QI`` index, index & 0xffffffff); payload ``<I`` count (0 = all);
- TEST_ECHO: replies its payload;
- TEST_CRASH: a one-shot that raises an unexpected exception (-> EIO);
- TEST_CRASH_STREAM: a stream whose second batch raises (-> EIO terminator);
- TEST_FEED: a stream that never ends by itself: it sends every item posted to
  the server's feed from its start on, in posting order (items of any size, so a
  batch mixes sizes), and waits (``Then.WAIT``) whenever it has sent them all;
- TEST_POST: a one-shot appending its payload (1..FEED_MAX_ITEM bytes) to the
  feed, then waking the waiting streams (``Server.wake_streams``);
- TEST_POST_NOW: the same, waking them ``at_once`` (their items are queued
  before this request's reply); EIO if its ``ctx.request_id`` changed meanwhile.
"""

from __future__ import annotations

import argparse
import logging
import struct
import sys
from pathlib import Path
from typing import Callable

from api import wire
from api.batch import Batch, Then
from api.config import ServerConfig
from api.registry import ApiError, Context, Registry
from reactor import Reactor
from tools.daemon import Daemon, build_daemon, serve
from tools.harness import ServerProcess, start_server

TEST_MODULE = 0x7E57
TEST_LIST = wire.msg_type(TEST_MODULE, 4)
TEST_ECHO = wire.msg_type(TEST_MODULE, 1)
TEST_CRASH = wire.msg_type(TEST_MODULE, 2)
TEST_CRASH_STREAM = wire.msg_type(TEST_MODULE, 3)
TEST_FEED = wire.msg_type(TEST_MODULE, 5)
TEST_POST = wire.msg_type(TEST_MODULE, 6)
TEST_POST_NOW = wire.msg_type(TEST_MODULE, 7)
RECORD = struct.Struct("<QI")
FEED_MAX_ITEM = 256
DEFAULTS = ServerConfig()


class Counter:
    __slots__ = ("next", "end")

    def __init__(self, start: int, end: int) -> None:
        self.next = start
        self.end = end


def records(start: int, stop: int) -> Batch:
    """TEST_LIST's records [start, stop) as one batch."""
    pack = RECORD.pack
    return Batch(b"".join([pack(i, i & 0xFFFFFFFF) for i in range(start, stop)]), RECORD.size)


Wake = Callable[[bool], int]
"""``Server.wake_streams(at_once)``."""


def register_test_handlers(registry: Registry, count: int,
                           wake_streams: Wake = lambda at_once: 0) -> None:
    def list_init(payload: bytes, ctx: Context) -> Counter:
        if len(payload) != 4:
            raise ApiError(wire.EINVAL)
        (wanted,) = wire.U32.unpack(payload)
        return Counter(0, min(wanted, count) if wanted else count)

    def list_next(state: Counter, ctx: Context, limit: int) -> Batch:
        start = state.next
        state.next = stop = min(start + limit, state.end)
        return records(start, stop)

    def echo(payload: bytes, ctx: Context) -> bytes:
        return payload

    def crash(payload: bytes, ctx: Context) -> bytes:
        raise RuntimeError("test handler failure")

    def crash_next(state: Counter, ctx: Context, limit: int) -> Batch:
        if state.next > 0:
            raise RuntimeError("test stream failure")
        return list_next(state, ctx, min(limit, 10))

    registry.register_stream(TEST_LIST, list_init, list_next, min_size=4,
                             record_size=RECORD.size, name="TEST_LIST")
    registry.register(TEST_ECHO, echo, name="TEST_ECHO")
    registry.register(TEST_CRASH, crash, name="TEST_CRASH")
    registry.register_stream(TEST_CRASH_STREAM, list_init, crash_next, min_size=4,
                             record_size=RECORD.size, name="TEST_CRASH_STREAM")
    register_feed(registry, wake_streams)


def register_feed(registry: Registry, wake_streams: Wake) -> None:
    """TEST_FEED, TEST_POST and TEST_POST_NOW over one feed (a list that only grows)."""
    feed: list[bytes] = []

    def follow(payload: bytes, ctx: Context) -> list[int]:
        if payload:
            raise ApiError(wire.EINVAL)
        return [len(feed)]   # the index of the next item to send

    def next_items(position: list[int], ctx: Context, limit: int) -> Batch:
        start = position[0]
        position[0] = stop = min(len(feed), start + limit)
        caught_up = stop == len(feed)
        return Batch.of(feed[start:stop], Then.WAIT if caught_up else Then.MORE)

    def poster(at_once: bool) -> Callable[[bytes, Context], bytes]:
        def post(payload: bytes, ctx: Context) -> bytes:
            if not 0 < len(payload) <= FEED_MAX_ITEM:
                raise ApiError(wire.EINVAL)
            request_id = ctx.request_id
            feed.append(payload)
            wake_streams(at_once)
            if ctx.request_id != request_id:
                raise RuntimeError("a woken stream changed this request's id")
            return b""

        return post

    registry.register_stream(TEST_FEED, follow, next_items, max_record_size=FEED_MAX_ITEM,
                             name="TEST_FEED")
    registry.register(TEST_POST, poster(False), name="TEST_POST")
    registry.register(TEST_POST_NOW, poster(True), name="TEST_POST_NOW")


def build_test_daemon(config: ServerConfig | None = None, count: int = 1_000_000, *,
                      clock: Callable[[], float] | None = None,
                      reactor: Reactor | None = None) -> Daemon:
    """The test server's daemon, assembled in this process (not listening)."""
    daemon = build_daemon(config, clock=clock, reactor=reactor)
    register_test_handlers(daemon.registry, count, daemon.server.wake_streams)
    return daemon


def start_test_server(tmp: Path, *extra: str) -> ServerProcess:
    """This module as a server process on ``TMP/test.sock``, accepting."""
    return start_server("tests.support.testserver", *extra, directory=tmp, name="test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--write-high", type=int, default=DEFAULTS.write_high)
    parser.add_argument("--write-low", type=int, default=DEFAULTS.write_low)
    parser.add_argument("--output-cap", type=int, default=DEFAULTS.output_cap)
    parser.add_argument("--max-clients", type=int, default=DEFAULTS.max_clients)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="testserver: %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(write_high=args.write_high, write_low=args.write_low,
                          output_cap=args.output_cap, max_clients=args.max_clients)
    serve(build_test_daemon(config, args.records), args.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
