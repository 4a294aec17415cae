"""Baseline for ``tools.bench.fullview``: the natural asyncio peer of reactord.

The concept: what a Python programmer would write with the standard library to
serve the same route4 table over the same wire protocol (wire-v1), so that the
benchmark can quote reactord against the obvious alternative.  It is a
benchmark baseline, never imported by the product.

What it serves (one UNIX socket, any number of connections):
- HELLO; NH_ADD (only the nh_ids are kept); ROUTE4_ADD (all or nothing:
  EINVAL, ENOENT, EEXIST checked for every record before any is stored);
  ROUTE4_GET (longest prefix match: one dict probe per prefix length);
  ROUTE4_LIST (scope and AFTER honoured; max_count ignored); STREAM_CANCEL;
  anything else ENOTSUP;
- the table is one ``SortedDict`` of ``vrf << 40 | prefix << 8 | plen`` ->
  the 12-byte record, as received: the same contents as reactord's;
- a LIST writes one frame per record with one ``transport.write`` each, and
  obeys the transport's flow control (``pause_writing``/``resume_writing``,
  with reactord's watermarks: high 128 KiB, low 32 KiB); after a pause it
  resumes strictly after the last key sent, so the table may change meanwhile.

``python -m tools.bench.baseline_asyncio --socket PATH [--preload-fullview N]``;
SIGTERM or SIGINT stops it and removes the socket file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import struct
import sys
from typing import Sequence

from sortedcontainers import SortedDict

from api import wire
from tools.fullview import generate_routes4

PRELOAD_NEXTHOPS = (1, 2, 3, 4)
VRF_SHIFT = 40
HOST_MASKS = [0xFFFFFFFF >> plen for plen in range(33)]
ROUTE = struct.Struct("<HBBII")  # vrf_id, prefixlen, origin, prefix (as read), nh_id
PREFIX_BE = struct.Struct(">4xI4x")


def route_key(record: bytes) -> tuple[int, int, int, int]:
    """(sort key, prefixlen, host bits, nh_id) of a route4 record."""
    vrf_id, plen, _origin, _raw, nh_id = ROUTE.unpack(record)
    (prefix,) = PREFIX_BE.unpack(record)
    host = prefix & HOST_MASKS[plen] if plen <= 32 else 0
    return (vrf_id << VRF_SHIFT) | (prefix << 8) | plen, plen, host, nh_id


class Tables:
    """The route4 table and the set of known nexthop ids."""

    def __init__(self) -> None:
        self.routes: SortedDict[int, bytes] = SortedDict()
        self.nexthops: set[int] = set()

    def preload(self, count: int) -> None:
        self.nexthops.update(PRELOAD_NEXTHOPS)
        records = generate_routes4(count, nh_ids=PRELOAD_NEXTHOPS)
        self.routes.update((route_key(record)[0], record) for record in records)

    def add_routes(self, payload: bytes) -> int:
        """ROUTE4_ADD: a status; nothing is stored unless every record is good."""
        if len(payload) < 16 or (len(payload) - 4) % 12:
            return wire.EINVAL if len(payload) >= 16 else wire.EMSGSIZE
        (flags,) = wire.BULK_FLAGS.unpack_from(payload)
        if flags & ~wire.ADD_REPLACE:
            return wire.EINVAL
        staged: dict[int, bytes] = {}
        for offset in range(4, len(payload), 12):
            record = payload[offset:offset + 12]
            key, plen, host, nh_id = route_key(record)
            if plen > 32 or host or nh_id == 0 or key >> VRF_SHIFT == wire.SCOPE_ALL:
                return wire.EINVAL
            if nh_id not in self.nexthops:
                return wire.ENOENT
            if not flags and (key in staged or key in self.routes):
                return wire.EEXIST
            staged[key] = record
        self.routes.update(staged)
        return wire.OK

    def lookup(self, payload: bytes) -> bytes | None:
        """ROUTE4_GET: the longest-prefix-match record, or None."""
        vrf_id, addr = wire.ROUTE4_GET_REQ.unpack(payload)
        value = int.from_bytes(addr, "big")
        base = vrf_id << VRF_SHIFT
        get = self.routes.get
        for plen in range(32, -1, -1):
            record = get(base | ((value & ~HOST_MASKS[plen] & 0xFFFFFFFF) << 8) | plen)
            if record is not None:
                return record
        return None


class Connection(asyncio.Protocol):
    """One client: frames in, replies and LIST streams out."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.stream_id: int | None = None
        """The active LIST's request id; its task stops once this changes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=wire.DEFAULT_WRITE_HIGH,
                                          low=wire.DEFAULT_WRITE_LOW)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stream_id = None
        self.resumed.set()

    def pause_writing(self) -> None:
        self.resumed.clear()

    def resume_writing(self) -> None:
        self.resumed.set()

    def reply(self, req_id: int, status: int, payload: bytes = b"") -> None:
        assert self.transport is not None
        self.transport.write(wire.HEADER.pack(req_id, status, len(payload)) + payload)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        while len(buf) - pos >= wire.HEADER_SIZE:
            req_id, req_type, length = wire.HEADER.unpack_from(buf, pos)
            if len(buf) - pos - wire.HEADER_SIZE < length:
                break
            start = pos + wire.HEADER_SIZE
            payload = bytes(buf[start:start + length])
            pos = start + length
            self.dispatch(req_id, req_type, payload)
        del buf[:pos]

    def dispatch(self, req_id: int, req_type: int, payload: bytes) -> None:
        if req_type == wire.HELLO:
            self.reply(req_id, 0, wire.HELLO_REQ.pack(wire.API_VERSION) + b"asyncio baseline")
        elif req_type == wire.NH_ADD:
            for (nh_id,) in struct.iter_unpack("<I32x", payload[4:]):
                self.tables.nexthops.add(nh_id)
            self.reply(req_id, 0)
        elif req_type == wire.ROUTE4_ADD:
            self.reply(req_id, self.tables.add_routes(payload))
        elif req_type == wire.ROUTE4_GET:
            record = self.tables.lookup(payload) if len(payload) == 8 else None
            self.reply(req_id, wire.ENOENT if record is None else 0, record or b"")
        elif req_type == wire.ROUTE4_LIST:
            self.start_list(req_id, payload)
        elif req_type == wire.STREAM_CANCEL:
            (for_id,) = wire.CANCEL_REQ.unpack(payload)
            if for_id != self.stream_id:
                self.reply(req_id, wire.ESRCH)
                return
            self.stream_id = None
            self.reply(for_id, wire.ECANCELED)
            self.reply(req_id, 0)
        else:
            self.reply(req_id, wire.ENOTSUP)

    def start_list(self, req_id: int, payload: bytes) -> None:
        if self.stream_id is not None:
            self.reply(req_id, wire.EBUSY)
            return
        _max_count, scope, flags = wire.LIST_REQ.unpack_from(payload)
        after = route_key(payload[8:20])[0] if flags & wire.LIST_AFTER else None
        if scope == wire.SCOPE_ALL:
            low, high = 0, 1 << 64
        else:
            low, high = scope << VRF_SHIFT, (scope + 1) << VRF_SHIFT
        self.stream_id = req_id
        asyncio.get_running_loop().create_task(self.stream(req_id, low, high, after))

    async def stream(self, req_id: int, low: int, high: int, last: int | None) -> None:
        """One frame per record, one write per frame; wait while paused."""
        assert self.transport is not None
        write = self.transport.write
        header = wire.HEADER.pack(req_id, 0, 12)
        routes = self.tables.routes
        resumed = self.resumed
        while self.stream_id == req_id:
            start, inclusive = (low, True) if last is None else (last, False)
            for key in routes.irange(start, high, inclusive=(inclusive, False)):
                write(header + routes[key])
                last = key
                if not resumed.is_set():
                    break
            else:
                self.stream_id = None
                self.reply(req_id, 0)
                return
            await resumed.wait()


async def serve(path: str, tables: Tables) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_unix_server(lambda: Connection(tables), path)
    try:
        await stop.wait()
    finally:
        server.close()
        if os.path.exists(path):
            os.unlink(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--preload-fullview", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    tables = Tables()
    if args.preload_fullview:
        tables.preload(args.preload_fullview)
    asyncio.run(serve(args.socket, tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
