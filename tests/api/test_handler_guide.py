"""The example of docs/handlers.md, type-checked and run through a real server.

The code between the ``guide-example`` marker lines is shown verbatim in the
guide; ``test_guide_shows_this_example`` fails when the two drift apart.  The
server is an in-process ``api.server.Server`` on a ``Reactor`` with a manual
clock; its client is the other end of a socketpair, read without blocking
between loop passes (as in tests/server/test_session_inprocess.py).
"""

from __future__ import annotations

# guide-example: begin
import bisect
import struct
from dataclasses import dataclass

from api import wire
from api.batch import END, Batch
from api.registry import ApiError, Context, Registry

KV_MODULE = 0x6B76                       # "kv": a module no other handler uses
KV_GET = wire.msg_type(KV_MODULE, wire.OP_GET)
KV_LIST = wire.msg_type(KV_MODULE, wire.OP_LIST)
KEY = struct.Struct("<I")                # GET request: the key
LIST_REQ = struct.Struct("<I")           # LIST request: max_count (0 = all)
RECORD = struct.Struct("<I12s")          # key, value: every record is 16 bytes


class KvTable:
    """u32 keys to 12-byte values, iterable in key order from any key."""

    def __init__(self) -> None:
        self._values: dict[int, bytes] = {}
        self._keys: list[int] = []       # sorted

    def put(self, key: int, value: bytes) -> None:
        if key not in self._values:
            bisect.insort(self._keys, key)
        self._values[key] = value.ljust(12, b"\0")[:12]

    def delete(self, key: int) -> None:
        if self._values.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def get(self, key: int) -> bytes | None:
        return self._values.get(key)

    def items_after(self, key: int | None, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` items with keys strictly after ``key`` (None: the first)."""
        start = 0 if key is None else bisect.bisect_right(self._keys, key)
        return [(k, self._values[k]) for k in self._keys[start:start + limit]]


@dataclass
class ListCursor:
    """A LIST's whole state: its filter and the last key sent, nothing live."""

    max_count: int                       # 0 = no limit
    sent: int = 0
    last: int | None = None


def register_kv(registry: Registry, table: KvTable) -> None:
    def get(payload: bytes, ctx: Context) -> bytes:
        if len(payload) != KEY.size:     # shorter never gets here: EMSGSIZE
            raise ApiError(wire.EINVAL, "KV_GET takes one key")
        (key,) = KEY.unpack(payload)
        value = table.get(key)
        if value is None:
            raise ApiError(wire.ENOENT, f"no key {key}")
        return RECORD.pack(key, value)

    def list_init(payload: bytes, ctx: Context) -> ListCursor:
        if len(payload) != LIST_REQ.size:
            raise ApiError(wire.EINVAL, "KV_LIST takes max_count")
        (max_count,) = LIST_REQ.unpack(payload)
        return ListCursor(max_count)     # no side effects: EBUSY may still follow

    def list_next(cursor: ListCursor, ctx: Context, limit: int) -> Batch:
        if cursor.max_count:
            limit = min(limit, cursor.max_count - cursor.sent)
            if limit == 0:
                if table.items_after(cursor.last, 1):
                    raise ApiError(wire.EXFULL)   # the terminator's status
                return END                        # status 0
        items = table.items_after(cursor.last, limit)
        if items:
            cursor.last = items[-1][0]
            cursor.sent += len(items)
        records = b"".join(RECORD.pack(key, value) for key, value in items)
        return Batch(records, RECORD.size)        # no records: the end, status 0

    registry.register(KV_GET, get, min_size=KEY.size, name="KV_GET")
    registry.register_stream(KV_LIST, list_init, list_next, min_size=LIST_REQ.size,
                             record_size=RECORD.size, name="KV_LIST")
# guide-example: end


# Test-only imports, kept below the example so that it reads on its own.
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.batch import Then
from api.config import ServerConfig
from api.registry import OneShot, Stream
from api.session import Session
from reactor.clock import ManualClock
from tests.reactor.test_guide_example import doc_example, example_source
from tools.daemon import build_daemon
from tools.harness import Frame, request, take_frames

ROOT = Path(__file__).resolve().parents[2]
# Small limits, so that a few thousand records are enough to pause a stream.
SMALL = ServerConfig(write_high=16384, write_low=4096, output_cap=65536,
                     stream_batch_bytes=4096, stall_timeout=0)
KEYS = range(0, 20_000, 4)               # 5000 keys, 16-byte records: 140 kB of frames


class FakeContext:
    """Enough of a connection for calling handlers directly."""

    client_id = 1
    pid = 2
    uid = 3
    request_id = 4

    def __init__(self) -> None:
        self.extra: list[bytes] = []

    def respond(self, payload: bytes) -> None:
        self.extra.append(payload)


class KvServer:
    """A KV table behind a real Server, and one client on a socketpair."""

    def __init__(self) -> None:
        self.table = KvTable()
        for key in KEYS:
            self.table.put(key, b"v%d" % key)
        registry = Registry()
        register_kv(registry, self.table)
        daemon = build_daemon(SMALL, registry=registry, clock=ManualClock(1000.0))
        self.reactor, self.server = daemon.reactor, daemon.server
        ours, self.client = socket.socketpair()
        for sock in (ours, self.client):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.client.setblocking(False)
        self.session: Session = self.server.attach(ours)
        self._data = bytearray()
        self.inbox: list[Frame] = []

    def run_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run loop passes (reading what arrives) until ``predicate()``; fail at the deadline."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            self.reactor.run_once(0)

    def receive(self) -> None:
        """Move what arrived into ``inbox``, as frames."""
        try:
            self._data += self.client.recv(1 << 16)
        except BlockingIOError:
            return
        self.inbox += take_frames(self._data)

    def take(self, req_id: int) -> Frame:
        """Wait for the next frame for ``req_id``; frames for others stay in the inbox."""
        def arrived() -> bool:
            self.receive()
            return any(f.for_id == req_id for f in self.inbox)

        self.run_until(arrived)
        frame = next(f for f in self.inbox if f.for_id == req_id)
        self.inbox.remove(frame)
        return frame

    def call(self, req_id: int, req_type: int, payload: bytes = b"") -> Frame:
        self.client.sendall(request(req_id, req_type, payload))
        return self.take(req_id)

    def drain_stream(self, req_id: int) -> tuple[list[int], int]:
        """Keys of the stream's records, and its terminator's status."""
        keys: list[int] = []
        while (frame := self.take(req_id)).payload:
            assert frame.status == 0
            keys.append(RECORD.unpack(frame.payload)[0])
        return keys, frame.status

    def paused(self) -> bool:
        stream = self.session.stream
        return stream is not None and stream.paused


@pytest.fixture
def kv() -> Iterator[KvServer]:
    k = KvServer()
    yield k
    k.client.close()
    k.session.close()
    k.reactor.close()


def test_get_answers_the_record_or_an_errno(kv: KvServer) -> None:
    assert kv.call(1, KV_GET, KEY.pack(8)) == Frame(1, 0, RECORD.pack(8, b"v8".ljust(12, b"\0")))
    assert kv.call(2, KV_GET, KEY.pack(9)) == Frame(2, wire.ENOENT, b"")
    assert kv.call(3, KV_GET, b"\x08\x00") == Frame(3, wire.EMSGSIZE, b""), "below min_size"
    assert kv.call(4, KV_GET, KEY.pack(8) + b"x") == Frame(4, wire.EINVAL, b"")
    assert kv.call(5, wire.msg_type(KV_MODULE, wire.OP_DEL), b"") == Frame(5, wire.ENOTSUP, b"")


def test_list_pauses_at_write_high_and_resumes_when_drained(kv: KvServer) -> None:
    kv.client.sendall(request(7, KV_LIST, LIST_REQ.pack(0)))
    kv.run_until(kv.paused)     # the client reads nothing yet
    assert SMALL.write_high < kv.session.output_buffered
    assert kv.session.output_buffered <= SMALL.write_high + SMALL.stream_batch_bytes
    produced = kv.server.items_streamed
    for _ in range(50):
        kv.reactor.run_once(0)
    assert kv.server.items_streamed == produced, "produced while paused"
    assert kv.call(8, KV_GET, KEY.pack(4)).status == 0, "one-shots are served while paused"
    keys, status = kv.drain_stream(7)
    assert status == 0 and keys == list(KEYS)


def test_list_survives_deletions_while_paused(kv: KvServer) -> None:
    kv.client.sendall(request(7, KV_LIST, LIST_REQ.pack(0)))
    kv.run_until(kv.paused)
    stream = kv.session.stream
    assert stream is not None and isinstance(stream.state, ListCursor)
    last = stream.state.last
    assert last is not None and 0 < last and last + 1001 < KEYS[-1]
    # Delete the last key sent, the next 100 keys, and some already sent; add one ahead.
    for key in [last, *range(last + 4, last + 404, 4), 0, 4]:
        kv.table.delete(key)
    kv.table.put(last + 1000 + 1, b"new")
    keys, status = kv.drain_stream(7)
    assert status == 0
    expected_after = [k for k in KEYS if k > last + 400] + [last + 1001]
    assert keys == [k for k in KEYS if k <= last] + sorted(expected_after)
    assert keys == sorted(set(keys)), "strictly ascending, no key twice"


def test_max_count_ends_with_exfull_and_a_second_list_is_ebusy(kv: KvServer) -> None:
    kv.client.sendall(request(7, KV_LIST, LIST_REQ.pack(3000)))
    kv.run_until(kv.paused)
    assert kv.call(8, KV_LIST, LIST_REQ.pack(0)) == Frame(8, wire.EBUSY, b"")
    keys, status = kv.drain_stream(7)
    assert status == wire.EXFULL and keys == list(KEYS[:3000])


def test_cancel_ends_a_paused_stream(kv: KvServer) -> None:
    kv.client.sendall(request(7, KV_LIST, LIST_REQ.pack(0)))
    kv.run_until(kv.paused)
    kv.client.sendall(request(8, wire.STREAM_CANCEL, wire.U32.pack(7)))

    def cancel_replied() -> bool:
        kv.receive()
        return Frame(8, 0, b"") in kv.inbox

    kv.run_until(cancel_replied)
    assert kv.inbox[-2:] == [Frame(7, wire.ECANCELED, b""), Frame(8, 0, b"")]
    assert 0 < len(kv.inbox) - 2 < len(KEYS) and kv.session.stream is None


def test_handlers_without_io() -> None:
    table = KvTable()
    for key in (1, 2, 3):
        table.put(key, b"x")
    registry = Registry()
    register_kv(registry, table)
    ctx = FakeContext()
    get = registry.check(KV_GET, KEY.pack(2))      # what the server does first
    assert isinstance(get, OneShot)
    assert get.handler(KEY.pack(2), ctx) == RECORD.pack(2, b"x".ljust(12, b"\0"))
    with pytest.raises(ApiError) as err:
        registry.check(KV_GET, b"")
    assert err.value.status == wire.EMSGSIZE
    lst = registry.check(KV_LIST, LIST_REQ.pack(2))
    assert isinstance(lst, Stream)
    cursor = lst.init(LIST_REQ.pack(2), ctx)
    batch = lst.produce(cursor, ctx, 10)
    assert [RECORD.unpack(r)[0] for r in batch.items()] == [1, 2] and batch.then is Then.MORE
    table.delete(3)   # the only key left after the cursor is gone: a complete listing
    assert lst.produce(cursor, ctx, 10) is END
    cursor = lst.init(LIST_REQ.pack(0), ctx)
    assert lst.produce(cursor, ctx, 10).count == 2
    assert lst.produce(cursor, ctx, 10).count == 0, "no records left: the server ends it"


def test_guide_shows_this_example() -> None:
    source = example_source(Path(__file__))
    shown = doc_example(ROOT / "docs" / "handlers.md", "tests/api/test_handler_guide.py")
    assert shown == source, "docs/handlers.md and the example in this file have drifted"
