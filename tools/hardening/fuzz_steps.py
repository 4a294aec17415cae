"""The fuzzer's steps: what one round sends, how it reads the replies back.

The concept: each step uses one of the fuzzer's connections and leaves it idle
(every reply read, no stream active) or replaces it with a new connection
after closing it abruptly.  Steps that close a connection without reading its
replies send only read-only requests or an incomplete frame, so the model
always knows what was applied.

- ``pipeline``: 1-13 requests of any type in one write; a LIST that starts a
  stream ends the burst (nothing mutates the table under it); so does a WATCH
  that starts, followed by its cancel: ECANCELED after valid events, then the
  cancel's 0 (a WATCH never ends by itself);
- ``stream``: a LIST that starts, with pipelined STATS / HELLO / GET, a second
  LIST (EBUSY when the first is sure to be still running) and a cancel;
- ``abandon``: a full route4 LIST, a few items read, then a disconnect;
- ``hangup``: read-only requests pipelined, then a disconnect;
- ``truncated``: the first bytes of any frame, then a disconnect;
- ``oversized``: a header announcing more than MAX_PAYLOAD (EMSGSIZE at once),
  then the payload (full of valid frames that must NOT be served) and a HELLO,
  or a disconnect half-way;
- ``garbage``: random bytes, then a disconnect; ``hello``: a new connection.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from api import wire
from api.events import EventError, decode_event
from tools.hardening.fuzz_model import ALL, Expect
from tools.harness import Conn, Violation, request

if TYPE_CHECKING:
    from tools.hardening.fuzz import Fuzzer

BIG_STREAM = 600_000
"""Bytes of stream frames that cannot all be queued before the client reads:
a stream that long is surely still active when its pipelined extras arrive."""


@dataclass
class Pending:
    req_id: int
    req_type: int
    payload: bytes
    expect: Expect
    status: int | None = None
    reply: bytes = b""
    items: list[bytes] = field(default_factory=list)
    done_at: int = -1

    @property
    def streamish(self) -> bool:
        return self.req_type == wire.CLIENTS or self.expect.watch or (
            self.req_type >> 16 in (wire.MODULE_NEXTHOP, wire.MODULE_ROUTE4, wire.MODULE_ROUTE6,
                                    wire.MODULE_FDB, wire.MODULE_CONNTRACK)
            and self.req_type & 0xFFFF == wire.OP_LIST)


class Steps:
    def __init__(self, fuzzer: Fuzzer) -> None:
        self.fz = fuzzer
        self.table: list[tuple[float, str, Callable[[int], None]]] = [
            (0.50, "pipeline", self.pipeline), (0.70, "stream", self.stream),
            (0.75, "abandon", self.abandon), (0.80, "hangup", self.hangup),
            (0.87, "truncated", self.truncated), (0.92, "oversized", self.oversized),
            (0.97, "garbage", self.garbage), (1.01, "hello", self.hello)]

    @property
    def rng(self) -> random.Random:
        return self.fz.rng

    def run_one(self) -> str:
        roll = self.rng.random()
        index = self.rng.randrange(len(self.fz.conns))
        for bound, name, step in self.table:
            if roll < bound:
                step(index)
                return name
        raise AssertionError("unreachable")

    def new_id(self, taken: list[Pending]) -> int:
        ids = {p.req_id for p in taken}
        while True:
            req_id = self.rng.getrandbits(32)
            if req_id not in ids:
                return req_id

    def pending(self, taken: list[Pending], req_type: int, payload: bytes,
                expect: Expect | None = None) -> Pending:
        expect = expect or self.fz.model.expect(req_type, payload)
        p = Pending(self.new_id(taken), req_type, payload, expect)
        taken.append(p)
        return p

    def send(self, conn: Conn, pend: list[Pending]) -> None:
        conn.send_raw(b"".join(request(p.req_id, p.req_type, p.payload) for p in pend))
        self.fz.report.frames += len(pend)

    def collect(self, conn: Conn, pend: list[Pending],
                stop: Callable[[], bool] | None = None) -> None:
        """Read until every request of ``pend`` is complete (or ``stop()``, checked
        before each frame); check one-shot order."""
        waiting = {p.req_id: p for p in pend if p.status is None}
        done = 1 + max((p.done_at for p in pend), default=-1)
        while waiting:
            if stop is not None and stop():
                return
            f = conn.frame()
            p = waiting.get(f.for_id)
            if p is None:
                raise Violation(f"a frame for id {f.for_id}, which is not outstanding")
            if p.streamish and f.payload:
                if f.status:
                    raise Violation(f"stream item with status {f.status}")
                p.items.append(f.payload)
                continue
            p.status, p.reply, p.done_at = f.status, f.payload, done
            done += 1
            del waiting[f.for_id]
        ordered = [p for p in pend if p.req_type & 0xFFFF != wire.OP_LIST or not p.streamish]
        if [p.done_at for p in ordered] != sorted(p.done_at for p in ordered):
            self.fz.report.violation("one-shot replies out of request order")

    def judge(self, p: Pending) -> bool:
        assert p.status is not None
        return self.fz.judge(p.req_type, p.expect, p.status, p.reply,
                             p.items if p.streamish else None)

    # -- the steps -----------------------------------------------------------------

    def pipeline(self, index: int) -> None:
        gen = self.fz.gen
        self.burst(index, [gen.request() for _ in range(self.rng.choice((1, 1, 2, 3, 5, 8, 13)))])

    def burst(self, index: int, requests: list[tuple[int, bytes]]) -> None:
        """Send ``requests`` in one write (up to the first LIST that starts), judge the replies."""
        conn = self.fz.conns[index]
        pend: list[Pending] = []
        cancel: Pending | None = None
        for req_type, payload in requests:
            p = self.pending(pend, req_type, payload)
            if p.expect.cancel:
                p.expect = Expect(wire.ESRCH)   # this connection has no active stream
            if p.expect.items is not None or p.expect.watch:
                break
        if pend[-1].expect.watch:
            cancel = self.watch(conn, pend, pend[-1])
        else:
            self.send(conn, pend)
            self.collect(conn, pend)
        for p in pend:
            if cancel is not None and p.expect.watch:
                self.judge_watch(p, cancel)
            elif p is not cancel:
                self.judge(p)

    def stream(self, index: int) -> None:
        conn, gen, model = self.fz.conns[index], self.fz.gen, self.fz.model
        table = self.rng.choice(model.tables)
        pend: list[Pending] = []
        first = self.pending(pend, table.type(wire.OP_LIST), gen.list_payload(table, valid=True))
        items = first.expect.items
        big = items is not None and len(items) * (wire.HEADER_SIZE + table.size) > BIG_STREAM
        for _ in range(self.rng.randrange(4)):
            req_type, payload = gen.request(mutating=False)
            if req_type == wire.STREAM_CANCEL or (req_type & 0xFFFF == wire.OP_LIST
                                                  and not big):
                continue
            expect = self.fz.model.expect(req_type, payload)
            if expect.watch and not big:
                continue
            p = self.pending(pend, req_type, payload, expect)
            if p.expect.items is not None or p.expect.watch:
                p.expect = Expect(wire.EBUSY)
        cancel = None
        if items is not None and self.rng.random() < 0.4:
            cancel = self.pending(pend, wire.STREAM_CANCEL, wire.U32.pack(first.req_id),
                                  Expect(0))
        self.send(conn, pend)
        self.collect(conn, pend)
        for p in pend:
            if p is not first and p is not cancel:
                self.judge(p)
        if cancel is None:
            self.judge(first)
        else:
            self.judge_cancel(first, cancel, big)

    def judge_cancel(self, stream: Pending, cancel: Pending, big: bool) -> None:
        report = self.fz.report
        wanted = stream.expect.items or []
        if stream.status == wire.ECANCELED:
            report.statuses["ECANCELED"] += 1
            report.statuses[wire.status_name(cancel.status or 0)] += 1
            ok = cancel.status == 0 and stream.done_at < cancel.done_at \
                and [self.fz.model.by_module[stream.req_type >> 16].canonical(r)
                     for r in stream.items] == wanted[:len(stream.items)]
            if not ok:
                report.violation(f"cancelled stream: cancel reply {cancel.status}, "
                                 f"{len(stream.items)} items not a prefix of the listing")
            return
        if big:
            report.violation("a cancel of a stream that cannot have ended did not cancel it")
        self.judge(stream)
        self.fz.judge(cancel.req_type, Expect(wire.ESRCH), cancel.status or 0, cancel.reply,
                      None)

    def watch(self, conn: Conn, pend: list[Pending], watch: Pending) -> Pending:
        """Send ``pend``, which ends with a WATCH that starts, and its cancel: at once,
        or once the WATCH's SYNC came; read every reply.  The cancel."""
        if self.rng.random() < 0.5:
            cancel = self.pending(pend, wire.STREAM_CANCEL, wire.U32.pack(watch.req_id),
                                  Expect(0))
            self.send(conn, pend)
        else:
            self.send(conn, pend)
            self.collect(conn, pend, stop=lambda: _synced(watch))
            cancel = self.pending(pend, wire.STREAM_CANCEL, wire.U32.pack(watch.req_id),
                                  Expect(0))
            self.send(conn, [cancel])
        self.collect(conn, pend)
        return cancel

    def judge_watch(self, watch: Pending, cancel: Pending) -> None:
        """A WATCH cancelled: ECANCELED after valid events, then the cancel's 0; a
        SYNC it sent carries the model's revision, after the model's tables if it
        snapshot them."""
        report = self.fz.report
        report.statuses[wire.status_name(watch.status or 0)] += 1
        report.statuses[wire.status_name(cancel.status or 0)] += 1
        try:
            events = [decode_event(item) for item in watch.items]
        except EventError as err:
            report.violation(f"WATCH: an invalid event: {err}")
            return
        if (watch.status, cancel.status) != (wire.ECANCELED, 0) or watch.reply \
                or cancel.reply or watch.done_at > cancel.done_at:
            report.violation(f"WATCH cancelled: terminator {watch.status}, cancel reply "
                             f"{cancel.status}, in order {watch.done_at < cancel.done_at}")
        model = self.fz.model
        future = [e for e in events if e.revision > model.revision]
        if future:
            report.violation(f"WATCH: an event of revision {future[0].revision}, ahead of "
                             f"{model.revision}")
        syncs = [n for n, e in enumerate(events) if e.kind == wire.EV_SYNC]
        if syncs and (len(syncs) > 1 or len(events) > syncs[0] + 1):
            report.violation("WATCH: events after its SYNC, nothing having changed")
        _, mask, flags = wire.WATCH_REQ.unpack(watch.payload)
        if syncs and flags & wire.WATCH_SNAPSHOT:
            wanted = [t.canonical(r) for table_id, t in zip(wire.TABLE_IDS, model.tables)
                      if wire.table_bit(table_id) & mask for r in t.rows.values()]
            got = [model.tables[e.table - 1].canonical(e.record) for e in events[:-1]]
            if got != wanted or any(e.kind != wire.EV_SNAP for e in events[:-1]):
                report.violation(f"WATCH: a snapshot of {len(got)} records, not the model's "
                                 f"{len(wanted)}")

    def abandon(self, index: int) -> None:
        conn = self.fz.conns[index]
        conn.send(7, wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, ALL, 0))
        self.fz.report.frames += 1
        for _ in range(self.rng.randrange(200)):
            f = conn.frame()
            if f.for_id != 7 or not f.payload:
                raise Violation(f"abandoned stream: frame ({f.for_id}, {f.status})")
        self.fz.replace(index)

    def hangup(self, index: int) -> None:
        pend: list[Pending] = []
        for _ in range(self.rng.randrange(1, 8)):
            req_type, payload = self.fz.gen.request(mutating=False)
            pend.append(Pending(self.new_id(pend), req_type, payload, Expect(0)))
        self.send(self.fz.conns[index], pend)
        self.fz.replace(index)

    def truncated(self, index: int) -> None:
        req_type, payload = self.fz.gen.request()
        data = request(self.rng.getrandbits(32), req_type, payload)
        self.fz.conns[index].send_raw(data[:self.rng.randrange(1, len(data))])
        self.fz.report.frames += 1
        self.fz.replace(index)

    def oversized(self, index: int) -> None:
        conn, rng = self.fz.conns[index], self.rng
        size = wire.MAX_PAYLOAD + rng.choice((1, 2, rng.randrange(1, 200_000)))
        whole = rng.random() < 0.7
        if not whole and rng.random() < 0.5:
            size = 0xFFFFFFFF
        req_type = self.fz.gen.request()[0]
        conn.send_raw(wire.HEADER.pack(99, req_type, size))
        self.fz.report.frames += 1
        reply = conn.frame()   # before a single payload byte was sent
        self.fz.judge(req_type, Expect(wire.EMSGSIZE), reply.status,
                      reply.payload if reply.for_id == 99 else b"wrong id", None)
        # Frames that would flush the fdb and conntrack if the payload were parsed.
        bait = (request(5, wire.FDB_FLUSH, wire.FLUSH_REQ.pack(ALL))
                + request(6, wire.CT_FLUSH, wire.FLUSH_REQ.pack(ALL)))
        length = size if whole else rng.randrange(min(size, 400_000) // 2)
        payload = (bait * (length // len(bait) + 1))[:length]
        for start in range(0, len(payload), 65536):
            conn.send_raw(payload[start:start + 65536])
        if not whole:
            self.fz.replace(index)
            return
        hello = conn.call(100, wire.HELLO, wire.U32.pack(1))
        self.fz.report.frames += 1
        self.fz.judge(wire.HELLO, Expect(0, reply=wire.U32.pack(1)), hello.status,
                      hello.payload, None)

    def garbage(self, index: int) -> None:
        self.fz.conns[index].send_raw(self.fz.gen.blob(self.rng.randrange(1, 300)))
        self.fz.report.frames += 1
        self.fz.replace(index)

    def hello(self, index: int) -> None:
        self.fz.replace(index)
        self.fz.report.disconnects -= 1   # a polite goodbye, not a fault
        name = self.fz.gen.blob(self.rng.randrange(0, 65))
        reply = self.fz.conns[index].call(3, wire.HELLO, wire.U32.pack(1) + name)
        self.fz.report.frames += 1
        self.fz.judge(wire.HELLO, Expect(0, reply=wire.U32.pack(1)), reply.status,
                      reply.payload, None)


def _synced(watch: Pending) -> bool:
    """Whether the WATCH ``watch`` has sent its SYNC (or ended)."""
    if watch.status is not None:
        return True
    return bool(watch.items) and decode_event(watch.items[-1]).kind == wire.EV_SYNC
