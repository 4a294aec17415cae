"""A real server process with test-only handlers, for wire-level tests.

Run as ``python -m tests.support.testserver --socket PATH [limits]``.  Besides
the builtins it serves:
- TEST_LIST: a stream over ``--records`` synthetic 12-byte records
  (``<QI`` index, index & 0xffffffff); payload ``<I`` count (0 = all);
- TEST_ECHO: replies its payload;
- TEST_CRASH: a one-shot that raises an unexpected exception (-> EIO);
- TEST_CRASH_STREAM: a stream whose second batch raises (-> EIO terminator).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import struct
import sys

from api import wire
from api.config import ServerConfig
from api.registry import ApiError, Context, Registry
from api.server import Server
from reactor import Reactor
from reactor.unix import listen_unix

TEST_MODULE = 0x7E57
TEST_LIST = wire.msg_type(TEST_MODULE, 4)
TEST_ECHO = wire.msg_type(TEST_MODULE, 1)
TEST_CRASH = wire.msg_type(TEST_MODULE, 2)
TEST_CRASH_STREAM = wire.msg_type(TEST_MODULE, 3)
RECORD = struct.Struct("<QI")


class Counter:
    __slots__ = ("next", "end")

    def __init__(self, start: int, end: int) -> None:
        self.next = start
        self.end = end


def register_test_handlers(registry: Registry, records: int) -> None:
    pack = RECORD.pack

    def list_init(payload: bytes, ctx: Context) -> Counter:
        if len(payload) != 4:
            raise ApiError(wire.EINVAL)
        (count,) = wire.U32.unpack(payload)
        return Counter(0, min(count, records) if count else records)

    def list_next(state: Counter, ctx: Context, limit: int) -> list[bytes]:
        start = state.next
        stop = min(start + limit, state.end)
        state.next = stop
        return [pack(i, i & 0xFFFFFFFF) for i in range(start, stop)]

    def echo(payload: bytes, ctx: Context) -> bytes:
        return payload

    def crash(payload: bytes, ctx: Context) -> bytes:
        raise RuntimeError("test handler failure")

    def crash_next(state: Counter, ctx: Context, limit: int) -> list[bytes]:
        if state.next > 0:
            raise RuntimeError("test stream failure")
        return list_next(state, ctx, min(limit, 10))

    registry.register_stream_batch(TEST_LIST, list_init, list_next, min_size=4,
                                   record_size=RECORD.size, name="TEST_LIST")
    registry.register(TEST_ECHO, echo, name="TEST_ECHO")
    registry.register(TEST_CRASH, crash, name="TEST_CRASH")
    registry.register_stream_batch(TEST_CRASH_STREAM, list_init, crash_next, min_size=4,
                                   record_size=RECORD.size, name="TEST_CRASH_STREAM")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--write-high", type=int, default=wire.DEFAULT_WRITE_HIGH)
    parser.add_argument("--write-low", type=int, default=wire.DEFAULT_WRITE_LOW)
    parser.add_argument("--output-cap", type=int, default=wire.DEFAULT_OUTPUT_CAP)
    parser.add_argument("--max-clients", type=int, default=1024)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="testserver: %(levelname)s %(name)s: %(message)s")
    reactor = Reactor()
    registry = Registry()
    register_test_handlers(registry, args.records)
    config = ServerConfig(write_high=args.write_high, write_low=args.write_low,
                          output_cap=args.output_cap, max_clients=args.max_clients)
    server = Server(reactor, registry, config)
    for signum in (signal.SIGTERM, signal.SIGINT):   # before clients can connect
        reactor.add_signal(signum, lambda _signum: server.shutdown(reactor.stop))
    server.listen(listen_unix(args.socket, mode=0o600))
    reactor.run()
    reactor.close()
    os.unlink(args.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
