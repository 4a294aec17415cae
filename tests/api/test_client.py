"""Tests of api.client against a scripted fake server (a thread, a UNIX socket)."""

from __future__ import annotations

import json
import selectors
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from api import wire
from api.client import (
    ApiCallError, Client, ConnectionClosed, ProtocolError, VersionMismatch,
)
from api.codec import Oversized, Request, RequestDecoder, encode_items, encode_response

ECHO, FAIL, DEFER, RAW, CLOSE = (0x10001, 0x10002, 0x10003, 0x10004, 0x10005)
HIGH = 65536


def rec(i: int) -> bytes:
    return wire.ROUTE4.pack(0, 32, 0, i.to_bytes(4, "big"), 1)


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.dec = RequestDecoder()
        self.out = bytearray()
        self.stream: list[int] | None = None    # [sid, next index, stop, end, status]
        self.deferred: list[bytes] = []


class FakeServer:
    """Scripted daemon: echo, errors, streams of ``stream_len`` records, cancel."""

    def __init__(self, path: str, *, bad_hello: bool = False) -> None:
        self.bad_hello = bad_hello
        self.stream_len = 1000
        self.log: list[tuple[str, int, int]] = []    # (event, id, detail)
        self.cond = threading.Condition()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen()
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.sel.register(self.wake_r, selectors.EVENT_READ)
        self.conns: dict[socket.socket, Conn] = {}
        self.thread = threading.Thread(target=self.run, name="fake-server")
        self.thread.start()

    def note(self, event: str, req_id: int, detail: int = 0) -> None:
        with self.cond:
            self.log.append((event, req_id, detail))
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        with self.cond:
            assert self.cond.wait_for(pred, timeout), "fake server: condition not met"

    def stop(self) -> None:
        self.wake_w.send(b"x")
        self.thread.join(10)
        assert not self.thread.is_alive()
        for sock in (self.listener, self.wake_r, self.wake_w, *self.conns):
            sock.close()

    def run(self) -> None:
        while True:
            for conn in self.conns.values():
                self.produce(conn)
                mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
                self.sel.modify(conn.sock, mask)
            for key, mask in self.sel.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.wake_r:
                    return
                if sock is self.listener:
                    new, _ = sock.accept()
                    self.conns[new] = Conn(new)
                    self.sel.register(new, selectors.EVENT_READ)
                elif sock in self.conns:
                    self.service(self.conns[sock], mask)

    def service(self, conn: Conn, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            del conn.out[:conn.sock.send(conn.out)]
        if mask & selectors.EVENT_READ:
            data = conn.sock.recv(65536)
            if not data:
                return self.drop(conn)
            conn.dec.feed(data)
            while (event := conn.dec.next_event()) is not None:
                if event.req_type == CLOSE:
                    return self.drop(conn)
                if isinstance(event, Oversized):
                    conn.out += encode_response(event.req_id, wire.EMSGSIZE)
                    continue
                self.handle(conn, event.req_id, event.req_type, event.payload)
                self.produce(conn)

    def drop(self, conn: Conn) -> None:
        self.sel.unregister(conn.sock)
        del self.conns[conn.sock]
        conn.sock.close()

    def handle(self, conn: Conn, req_id: int, req_type: int, payload: bytes) -> None:
        self.note("request", req_id, req_type)
        reply = conn.out.extend
        if req_type == wire.HELLO:
            bad = self.bad_hello or payload[:4] != wire.HELLO_REQ.pack(1)
            reply(encode_response(req_id, wire.EBADMSG) if bad else
                  encode_response(req_id, 0, wire.HELLO_REQ.pack(1) + b"fake/1.0"))
        elif req_type == ECHO:
            reply(encode_response(req_id, 0, payload))
        elif req_type == FAIL:
            reply(encode_response(req_id, wire.U32.unpack(payload)[0]))
        elif req_type == DEFER:
            conn.deferred.append(encode_response(req_id, 0, payload))
        elif req_type == RAW:
            reply(payload)
        elif req_type == wire.STATS:
            reply(encode_response(req_id, 0, json.dumps({"clients": len(self.conns)}).encode()))
        elif req_type == wire.CLIENTS:
            clients = b"".join(wire.CLIENT.pack(i, 9, 0, 0, 0) for i in (1, 2))
            reply(encode_items(req_id, clients, 24) + encode_response(req_id, 0))
        elif req_type == wire.STREAM_CANCEL:
            self.cancel(conn, req_id, wire.CANCEL_REQ.unpack(payload)[0])
        elif req_type == wire.ROUTE4_LIST:
            self.start_list(conn, req_id, payload)
        else:
            reply(encode_response(req_id, wire.EEXIST if req_type == wire.ROUTE4_ADD
                                  else wire.ENOTSUP))

    def cancel(self, conn: Conn, req_id: int, sid: int) -> None:
        if conn.stream is not None and conn.stream[0] == sid:
            conn.out += encode_response(sid, wire.ECANCELED)
            conn.stream = None
            status = 0
        else:
            status = wire.ESRCH
        conn.out += encode_response(req_id, status)
        self.note("cancel", sid, status)

    def start_list(self, conn: Conn, req_id: int, payload: bytes) -> None:
        if conn.stream is not None:
            conn.out += encode_response(req_id, wire.EBUSY)
            return
        max_count, scope, flags = wire.LIST_REQ.unpack_from(payload)
        start = 0
        if flags & wire.LIST_AFTER:
            start = int.from_bytes(wire.ROUTE4.unpack_from(payload, 8)[3], "big") + 1
        end = self.stream_len
        stop = min(end, start + max_count) if max_count else end
        status = wire.EXFULL if stop < end else (0 if scope == wire.SCOPE_ALL else scope)
        conn.stream = [req_id, start, stop, end, status]

    def produce(self, conn: Conn) -> None:
        while conn.stream is not None and len(conn.out) < HIGH:
            sid, i, stop, _, status = conn.stream
            n = min(stop - i, 3 if conn.deferred else 500)
            conn.out += encode_items(sid, b"".join([rec(k) for k in range(i, i + n)]), 12)
            conn.stream[1] = i + n
            for deferred in conn.deferred:
                self.note("deferred", sid, i + n)
                conn.out += deferred
            conn.deferred.clear()
            if i + n == stop:
                conn.out += encode_response(sid, status)
                conn.stream = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeServer]:
    srv = FakeServer(str(tmp_path / "api.sock"))
    yield srv
    srv.stop()


@pytest.fixture
def client(server: FakeServer, tmp_path: Path) -> Iterator[Client]:
    with Client(str(tmp_path / "api.sock"), name="test", timeout=10) as cli:
        yield cli


def list_req(max_count: int = 0, scope: int = wire.SCOPE_ALL, after: bytes | None = None) -> bytes:
    flags = wire.LIST_AFTER if after is not None else 0
    return wire.LIST_REQ.pack(max_count, scope, flags) + (after or b"")


def requests(server: FakeServer, req_type: int) -> list[int]:
    with server.cond:
        return [i for ev, i, t in server.log if ev == "request" and t == req_type]


# -- one-shot requests ----------------------------------------------------------


def test_hello_echo_and_explicit_ids(client: Client, server: FakeServer) -> None:
    assert client.server_version == "fake/1.0" and client.api_version == 1
    assert client.call(ECHO, b"ping") == b"ping"
    assert client.call(ECHO) == b""
    assert [i for _, i, _ in server.log] == [1, 2, 3]
    assert client.stats()["clients"] == 1


def test_call_error_carries_status_and_name(client: Client) -> None:
    with pytest.raises(ApiCallError) as info:
        client.call(wire.ROUTE4_ADD, b"x")
    assert info.value.status == wire.EEXIST and info.value.request == "ROUTE4_ADD"
    assert str(info.value) == "ROUTE4_ADD: EEXIST (object already exists)"
    with pytest.raises(ApiCallError, match="0x00010002: ENOENT"):
        client.call(FAIL, wire.U32.pack(wire.ENOENT))


def test_bad_hello_is_a_clear_error(tmp_path: Path) -> None:
    srv = FakeServer(str(tmp_path / "bad.sock"), bad_hello=True)
    try:
        with pytest.raises(VersionMismatch, match="EBADMSG.*API version 1") as info:
            Client(str(tmp_path / "bad.sock"), timeout=10)
        assert info.value.status == wire.EBADMSG
    finally:
        srv.stop()


def test_from_socket_and_name_check(tmp_path: Path) -> None:
    mine, theirs = socket.socketpair()
    with theirs:
        theirs.sendall(encode_response(1, 0, wire.HELLO_REQ.pack(1) + b"pair/2"))
        with Client.from_socket(mine, name="n") as cli:
            assert cli.server_version == "pair/2"
        decoder = RequestDecoder()
        decoder.feed(theirs.recv(100))
        assert decoder.next_event() == Request(1, wire.HELLO, wire.HELLO_REQ.pack(1) + b"n")
    mine, theirs = socket.socketpair()
    with theirs, pytest.raises(ValueError, match="longer than 64"):
        Client.from_socket(mine, name="x" * 65)
    assert mine.fileno() < 0


def test_protocol_violations(client: Client, server: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="not outstanding"):
        client.call(RAW, encode_response(4242, 0))
    with Client(str(tmp_path / "api.sock"), timeout=10) as other:
        with pytest.raises(ProtocolError, match="MAX_PAYLOAD"):
            other.call(RAW, wire.HEADER.pack(2, 0, wire.MAX_PAYLOAD + 1))
    with Client(str(tmp_path / "api.sock"), timeout=10) as other:
        with pytest.raises(ConnectionClosed):
            other.call(CLOSE)


def test_timeout_abandons_request(server: FakeServer, tmp_path: Path) -> None:
    with Client(str(tmp_path / "api.sock"), timeout=0.2) as cli:
        with pytest.raises(TimeoutError):
            cli.call(DEFER, b"late")          # answered only amid the next stream
        cli.connection.sock.settimeout(10)
        server.stream_len = 20
        assert len(list(cli.stream(wire.ROUTE4_LIST, list_req()))) == 20
        assert cli.call(ECHO, b"ok") == b"ok" and not cli.connection.abandoned


# -- streams ----------------------------------------------------------------


def test_stream_raw_tuples_batches(client: Client, server: FakeServer) -> None:
    server.stream_len = 10000
    expected = [rec(i) for i in range(10000)]
    with client.stream(wire.ROUTE4_LIST, list_req()) as stream:
        assert list(stream) == expected
    assert stream.done and stream.status == 0 and not stream.incomplete
    assert stream.last_record == expected[-1]
    tuples = client.stream(wire.ROUTE4_LIST, list_req(), record=wire.ROUTE4)
    assert list(tuples) == [wire.ROUTE4.unpack(r) for r in expected]
    batches = list(client.stream(wire.ROUTE4_LIST, list_req()).batches())
    assert len(batches) > 1 and sum(batches, []) == expected
    clients = list(client.stream(wire.CLIENTS, record=wire.CLIENT))
    assert [c[0] for c in clients] == [1, 2]


def test_stream_items_and_batches_do_not_mix(client: Client) -> None:
    with client.stream(wire.ROUTE4_LIST, list_req()) as stream:
        next(stream)
        with pytest.raises(RuntimeError):
            stream.batches()


def test_exfull_is_resumable(client: Client, server: FakeServer) -> None:
    got: list[bytes] = []
    after: bytes | None = None
    while True:
        stream = client.stream(wire.ROUTE4_LIST, list_req(300, after=after))
        got += stream
        if not stream.incomplete:
            break
        assert stream.status == wire.EXFULL and len(got) % 300 == 0
        after = stream.last_record
    assert got == [rec(i) for i in range(1000)]


def test_call_inside_stream_loop(client: Client, server: FakeServer) -> None:
    server.stream_len = 50000
    got = []
    for i, record in enumerate(client.stream(wire.ROUTE4_LIST, list_req())):
        got.append(record)
        if i == 10:
            assert client.call(ECHO, b"mid") == b"mid"
    assert got == [rec(i) for i in range(50000)]


def test_reply_interleaved_amid_stream_frames(client: Client, server: FakeServer) -> None:
    deferred = client.send(DEFER, b"later")
    stream = client.stream(wire.ROUTE4_LIST, list_req())
    assert list(stream) == [rec(i) for i in range(1000)]
    assert ("deferred", stream.id, 3) in server.log      # the reply came after 3 items
    assert client.reply(deferred) == b"later"


def test_error_terminators(client: Client, server: FakeServer) -> None:
    with pytest.raises(ApiCallError) as info:
        list(client.stream(wire.ROUTE4_LIST, list_req(scope=wire.ECANCELED)))
    assert info.value.status == wire.ECANCELED and info.value.request == "ROUTE4_LIST"
    with pytest.raises(ApiCallError, match="ENOTSUP"):
        list(client.stream(wire.FDB_LIST, list_req()))


def test_second_stream_gets_ebusy(client: Client, server: FakeServer) -> None:
    server.stream_len = 100000
    with client.stream(wire.ROUTE4_LIST, list_req()) as first:
        assert next(first) == rec(0)
        with pytest.raises(ApiCallError, match="EBUSY"):
            list(client.stream(wire.ROUTE4_LIST, list_req()))
        assert next(first) == rec(1)
    assert first.status == wire.ECANCELED


# -- leaving a stream early -----------------------------------------------------------


def cancels(server: FakeServer) -> list[tuple[int, int]]:
    with server.cond:
        return [(i, status) for ev, i, status in server.log if ev == "cancel"]


def test_break_then_close_cancels(client: Client, server: FakeServer) -> None:
    server.stream_len = 100000
    stream = client.stream(wire.ROUTE4_LIST, list_req())
    for i, _ in enumerate(stream):
        if i == 5:
            break
    stream.close()
    assert stream.status == wire.ECANCELED and cancels(server) == [(stream.id, 0)]
    assert client.call(ECHO, b"after") == b"after" and not client.connection.outstanding


def test_exception_in_with_body_cancels(client: Client, server: FakeServer) -> None:
    server.stream_len = 100000
    with pytest.raises(KeyError):
        with client.stream(wire.ROUTE4_LIST, list_req(), record=wire.ROUTE4) as stream:
            for _ in stream:
                raise KeyError("boom")
    assert stream.status == wire.ECANCELED
    assert client.call(ECHO, b"x") == b"x" and not client.connection.outstanding


def test_cancel_after_natural_end_gets_esrch(client: Client, server: FakeServer) -> None:
    server.stream_len = 3
    with client.stream(wire.ROUTE4_LIST, list_req()) as stream:
        assert next(stream) == rec(0)
    assert stream.status == 0 and cancels(server) == [(stream.id, wire.ESRCH)]
    assert client.call(ECHO, b"x") == b"x" and not client.connection.outstanding


def test_garbage_collected_stream_is_cancelled(client: Client, server: FakeServer) -> None:
    server.stream_len = 100000
    for _ in client.stream(wire.ROUTE4_LIST, list_req()):
        break
    server.wait_for(lambda: bool(cancels(server)))
    assert client.call(ECHO, b"x") == b"x"     # the stream's leftovers were dropped
    assert not client.connection.outstanding and not client.connection.abandoned


def test_explicit_cancel(client: Client, server: FakeServer) -> None:
    server.stream_len = 100000
    stream = client.stream(wire.ROUTE4_LIST, list_req())
    assert next(stream) == rec(0)
    assert client.cancel(stream.id) == 0
    rest: list[Any] = list(stream)                 # queued records, then ECANCELED quietly
    assert rest == [rec(i) for i in range(1, len(rest) + 1)]
    assert stream.status == wire.ECANCELED
    assert client.cancel(stream.id) == wire.ESRCH
    assert client.cancel(12345) == wire.ESRCH and not client.connection.outstanding
