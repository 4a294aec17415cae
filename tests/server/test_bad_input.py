"""Every bad input of wire-v1 section 4, through a real server process."""

from __future__ import annotations

import json
import socket
import threading

from api import wire
from tests.support.testserver import TEST_CRASH, TEST_CRASH_STREAM, TEST_ECHO, TEST_LIST
from tools.harness import Conn, ServerProcess, request, wait_for

U32 = wire.U32


def test_oversized_payload_answered_at_header_then_skipped(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        size = wire.MAX_PAYLOAD + 1
        conn.send_raw(wire.HEADER.pack(11, TEST_ECHO, size))
        reply = conn.frame()  # before a single payload byte was sent
        assert (reply.for_id, reply.status, reply.payload) == (11, wire.EMSGSIZE, b"")
        payload = b"\xab" * size
        for offset in range(0, size, 4096):
            conn.send_raw(payload[offset:offset + 4096])
        assert conn.call(12, TEST_ECHO, b"after").payload == b"after"


def test_huge_declared_length_is_not_allocated(server: ServerProcess) -> None:
    with Conn(server.path) as conn, Conn(server.path) as observer:
        conn.send_raw(wire.HEADER.pack(1, wire.STATS, 0xFFFFFFFF) + b"x" * 1000)
        assert conn.frame().status == wire.EMSGSIZE
        assert json.loads(observer.call(2, wire.STATS).payload)["clients"] == 2
        assert server.rss() < 200 << 20


def test_unknown_type_is_enotsup(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        for req_type in (0, 0xFFFFFFFF, wire.msg_type(wire.MODULE_MAIN, 99),
                         wire.msg_type(0x1234, 1)):
            assert conn.call(1, req_type, b"abcd").status == wire.ENOTSUP


def test_short_payload_is_emsgsize(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        assert conn.call(1, wire.HELLO).status == wire.EMSGSIZE
        assert conn.call(2, wire.HELLO, b"\x01\x00").status == wire.EMSGSIZE
        assert conn.call(3, wire.STREAM_CANCEL, b"\x01").status == wire.EMSGSIZE
        assert conn.call(4, TEST_LIST, b"").status == wire.EMSGSIZE


def test_wrong_length_is_einval(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        assert conn.call(1, wire.STATS, b"x").status == wire.EINVAL
        assert conn.call(2, wire.CLIENTS, b"xy").status == wire.EINVAL
        assert conn.call(3, wire.STREAM_CANCEL, b"12345").status == wire.EINVAL
        too_long = U32.pack(1) + b"n" * 65
        assert conn.call(4, wire.HELLO, too_long).status == wire.EINVAL
        assert conn.call(5, wire.HELLO, U32.pack(1) + b"n" * 64).status == 0


def test_hello_version_mismatch_keeps_connection(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        assert conn.call(1, wire.HELLO, U32.pack(2) + b"future").status == wire.EBADMSG
        reply = conn.call(2, wire.HELLO, U32.pack(1) + b"test")
        assert reply.status == 0
        assert U32.unpack_from(reply.payload)[0] == 1
        assert reply.payload[4:].startswith(b"reactord")


def test_requests_before_hello_are_served(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        assert conn.call(1, TEST_ECHO, b"x").payload == b"x"


def test_handler_exception_is_eio_and_logged(server: ServerProcess) -> None:
    with Conn(server.path) as conn:
        assert conn.call(77, TEST_CRASH).status == wire.EIO
        conn.send(78, TEST_CRASH_STREAM, U32.pack(0))
        items, status, _ = conn.drain_stream(78)
        assert (len(items), status) == (10, wire.EIO)
        assert conn.call(79, TEST_ECHO, b"alive").payload == b"alive"
    wait_for(lambda: "TEST_CRASH failed on request id 77" in server.log(), what="log line")
    assert "TEST_CRASH_STREAM failed on request id 78" in server.log()


def test_truncated_frame_then_disconnect_leaves_server_serving(server: ServerProcess) -> None:
    for cut in (1, 11, 12, 20):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.connect(server.path)
            raw.sendall(request(1, TEST_ECHO, b"x" * 16)[:cut])
    with Conn(server.path) as conn:
        wait_for(lambda: json.loads(conn.call(1, wire.STATS).payload)["clients"] == 1,
                 what="truncated clients gone")


def test_read_side_cap_bounds_output_of_a_client_that_does_not_read(
        server: ServerProcess) -> None:
    big = b"z" * 100_000
    count = 40   # 4 MB of replies asked for, 4x the cap
    with Conn(server.path) as greedy, Conn(server.path) as observer:
        pipelined = request(0, TEST_ECHO, big) * count
        sender = threading.Thread(target=greedy.sock.sendall, args=(pipelined,))
        sender.start()   # blocks once the server stops reading us

        def buffered() -> int:
            return int(json.loads(observer.call(5, wire.STATS).payload)
                       ["output_buffered_bytes"])

        wait_for(lambda: buffered() > wire.DEFAULT_OUTPUT_CAP, what="output past the cap")
        for _ in range(20):
            assert buffered() <= wire.DEFAULT_OUTPUT_CAP + wire.HEADER_SIZE + len(big)
        assert sender.is_alive(), "the server kept reading a client past its cap"
        replies = [greedy.frame() for _ in range(count)]   # reading lets it resume
        sender.join(10)
        assert not sender.is_alive()
        assert all(f.payload == big for f in replies)
