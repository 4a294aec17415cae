"""Faults around a real reactord: clients vanishing mid-stream, SIGTERM under load, SIGKILL.

Memory and descriptors are read from /proc; every wait has a deadline.
"""

from __future__ import annotations

import signal
import stat
import time
from pathlib import Path

import pytest

from api import wire
from tools.harness import Conn, ServerProcess

from .util import start, wait_stats

LIST_ALL = wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0)
HELLO = wire.U32.pack(1) + b"hardening"


def route_key(record: bytes) -> tuple[int, int, int]:
    vrf, plen, _origin, prefix, _nh = wire.ROUTE4.unpack(record)
    return vrf, int.from_bytes(prefix, "big"), plen


def vanish_wave(daemon: ServerProcess, observer: Conn, clients: int) -> None:
    """``clients`` connections each start a full LIST, read a little, and close abruptly
    while the daemon holds output for every one of them (all streams paused)."""
    conns = [Conn(daemon.path) for _ in range(clients)]
    for index, conn in enumerate(conns):
        conn.send(index, wire.ROUTE4_LIST, LIST_ALL)
    for index, conn in enumerate(conns):
        first = conn.frame()
        assert (first.for_id, first.status) == (index, 0) and first.payload
    wait_stats(observer, "every stream paused", streams_paused=clients)
    for index, conn in enumerate(conns):
        if index % 3 == 0:   # some also leave a request half-sent
            conn.send_raw(wire.HEADER.pack(1, wire.STATS, 4) + b"x")
        conn.close()
    wait_stats(observer, "the wave is gone", clients=1, streams_active=0,
               output_buffered_bytes=0)


@pytest.mark.slow
def test_a_thousand_clients_vanishing_mid_stream_leak_no_memory_or_fds(tmp_path: Path) -> None:
    daemon = start(tmp_path, "--preload-fullview", "200000", "--log-level", "debug")
    try:
        observer = Conn(daemon.path)
        wait_stats(observer, "start-up probe gone", clients=1)
        vanish_wave(daemon, observer, 100)   # warm-up: the allocator reaches its steady state
        rss, fds = daemon.rss(), daemon.fds()
        streamed = observer.stats()["items_streamed"]
        for _ in range(10):
            vanish_wave(daemon, observer, 100)
        figures = observer.stats()
        assert figures["items_streamed"] - streamed >= 1000 * 1000, "streams barely started"
        assert daemon.fds() == fds
        assert daemon.rss() <= rss * 1.05, \
            f"RSS {daemon.rss() >> 10} KiB after 1,000 vanished clients, {rss >> 10} before"
        assert observer.call(1, wire.HELLO, HELLO).status == 0
        assert daemon.log().count("disconnected (pid") >= 1100
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def test_sigterm_ends_ten_paused_streams_after_their_queued_records(tmp_path: Path) -> None:
    daemon = start(tmp_path, "--preload-fullview", "50000", "--log-level", "debug")
    try:
        observer = Conn(daemon.path)
        table = observer.listing(wire.ROUTE4_LIST)
        keys = [route_key(r) for r in table]
        assert len(table) == 50_000 and all(a < b for a, b in zip(keys, keys[1:]))
        streamers = [Conn(daemon.path) for _ in range(10)]
        for index, conn in enumerate(streamers):
            conn.send(100 + index, wire.ROUTE4_LIST, LIST_ALL)
        wait_stats(observer, "ten streams paused", streams_paused=10)
        daemon.proc.send_signal(signal.SIGTERM)
        for index, conn in enumerate(streamers):
            items, status = conn.drain(100 + index)
            assert status == wire.ESHUTDOWN
            assert 0 < len(items) < len(table)
            assert items == table[:len(items)], "records missing or out of order before ESHUTDOWN"
            with pytest.raises(EOFError):
                conn.frame()
        with pytest.raises(EOFError):
            observer.frame()
        assert daemon.proc.wait(10) == 0
        assert not Path(daemon.path).exists()
        log = daemon.log()
        assert "SIGTERM received" in log and log.count("ended ESHUTDOWN") == 10
    finally:
        daemon.kill()


def test_sigterm_with_a_client_that_never_reads_exits_after_the_flush_limit(
        tmp_path: Path) -> None:
    daemon = start(tmp_path, "--preload-fullview", "50000")
    try:
        hog, observer = Conn(daemon.path), Conn(daemon.path)
        hog.send(1, wire.ROUTE4_LIST, LIST_ALL)
        wait_stats(observer, "stream paused", streams_paused=1)
        observer.close()
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(20) == 0
        elapsed = time.monotonic() - started
        assert wire.SHUTDOWN_FLUSH_S - 0.5 < elapsed < wire.SHUTDOWN_FLUSH_S + 5
        assert "shutdown: output not flushed in time" in daemon.log()
        assert not Path(daemon.path).exists()
    finally:
        daemon.kill()


def test_sigkilled_daemon_leaves_a_stale_socket_the_next_start_replaces(tmp_path: Path) -> None:
    first = start(tmp_path)
    try:
        assert Conn(first.path).call(1, wire.HELLO, HELLO).status == 0
        first.proc.kill()
        first.proc.wait(10)
    finally:
        first.kill()
    path = Path(first.path)
    assert stat.S_ISSOCK(path.lstat().st_mode), "SIGKILL leaves the socket file behind"
    with pytest.raises(ConnectionRefusedError):
        Conn(first.path)
    second = start(tmp_path)
    try:
        assert second.path == first.path
        conn = Conn(second.path)
        assert conn.call(1, wire.HELLO, HELLO).status == 0
        conn.close()
        assert second.terminate() == 0
        assert not path.exists()
    finally:
        second.kill()
