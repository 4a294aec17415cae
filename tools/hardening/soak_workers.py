"""The soak's clients, one process each: streamers, mutators, a canceller, a hostile client.

The concept: every worker runs against the live daemon until a shared
deadline (CLOCK_MONOTONIC is system-wide) and returns a ``Tally`` of what it
did and the guarantee violations it saw.  The key space is split so that the
streamers can check wire-v1 section 6 exactly:

- stable keys: the preloaded route4 records not in ``volatile`` and the fdb
  entries of bridge 1; no worker ever touches them, so every completed
  stream must emit each of them exactly once, with its preloaded record;
- volatile keys: the other preloaded routes (replaced, deleted and re-added by
  the mutators), the mutators' own routes (prefix length 25..32, which no
  preloaded route has) and the fdb entries of bridge 2 (added, deleted,
  flushed): they may or may not appear, in order, at most once;
- anything else in a listing is a violation.

The hostile client sends fuzz frames (``fuzz_gen``) made harmless for those
tables (a route4 or fdb ADD/DEL/FLUSH always gets one byte too many: EINVAL),
plus truncated, oversized and garbage frames, vanishing mid-stream, and a
pipeline it never reads.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from api import wire
from api.client import ApiCallError, Client
from tools.hardening.fuzz_gen import Gen
from tools.hardening.fuzz_model import Model
from tools.harness import Conn, Violation, request

ALL = wire.SCOPE_ALL
ROUTE_KEY = tuple[int, int, int]
ALLOWED = {wire.OP_ADD: {0, wire.EEXIST, wire.ENOENT}, wire.OP_DEL: {0, wire.ENOENT, wire.EBUSY},
           wire.OP_FLUSH: {0}}
GUARDED = {wire.ROUTE4_ADD, wire.ROUTE4_DEL, wire.FDB_ADD, wire.FDB_DEL, wire.FDB_FLUSH}


@dataclass
class Plan:
    """What every worker knows: the socket, the deadline, the key space."""

    path: str
    deadline: float
    stable_routes: list[bytes]
    volatile_routes: list[bytes]
    stable_fdb: list[bytes]
    seed: int


@dataclass
class Tally:
    role: str
    requests: int = 0
    streams: int = 0
    records: int = 0
    cancels: int = 0
    faults: int = 0
    bad_inputs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def violation(self, text: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(f"{self.role}: {text}")
        else:
            self.violations.append("")


def route_key(record: bytes) -> ROUTE_KEY:
    vrf, plen, _origin, prefix, _nh = wire.ROUTE4.unpack(record)
    return vrf, int.from_bytes(prefix, "big"), plen


def fdb_key(record: bytes) -> tuple[int, int, bytes]:
    bridge, vlan, mac = wire.FDB.unpack(record)[:3]
    return bridge, vlan, mac


def run(role: str, index: int, plan: Plan) -> Tally:
    """A worker process's entry point."""
    tally = Tally(f"{role} {index}")
    rng = random.Random(plan.seed * 100 + index)
    worker = {"streamer": streamer, "mutator": mutator, "canceller": canceller,
              "hostile": hostile}[role]
    try:
        worker(plan, rng, tally, index)
    except (OSError, EOFError, Violation, ApiCallError) as err:
        tally.violation(f"{type(err).__name__}: {err}")
    return tally


# -- streamers ------------------------------------------------------------------------


def streamer(plan: Plan, rng: random.Random, tally: Tally, index: int) -> None:
    stable_routes = {route_key(r): r for r in plan.stable_routes}
    volatile = {route_key(r) for r in plan.volatile_routes}
    stable_fdb = {fdb_key(r): r for r in plan.stable_fdb}
    with Client(plan.path, name=f"soak-streamer-{index}", timeout=30) as client:
        while time.monotonic() < plan.deadline:
            slow = rng.random() < 0.3
            if rng.random() < 0.8:
                records = listing(client, wire.ROUTE4_LIST, slow, rng)
                check_routes(records, stable_routes, volatile, tally)
            else:
                records = listing(client, wire.FDB_LIST, slow, rng)
                check_fdb(records, stable_fdb, tally)
            tally.requests += 1
            tally.streams += 1
            tally.records += len(records)


def listing(client: Client, req_type: int, slow: bool, rng: random.Random) -> list[bytes]:
    """A whole table; a slow reader pauses now and then (the stream pauses meanwhile)."""
    records: list[bytes] = []
    pause_every = rng.randrange(2000, 20000)
    with client.stream(req_type, wire.LIST_REQ.pack(0, ALL, 0)) as stream:
        for record in stream:
            records.append(bytes(record))
            if slow and len(records) % pause_every == 0:
                time.sleep(0.01)   # a slow consumer: mutations land while paused
    return records


def check_routes(records: list[bytes], stable: dict[ROUTE_KEY, bytes], volatile: set[ROUTE_KEY],
                 tally: Tally) -> None:
    keys = [route_key(r) for r in records]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        tally.violation("route4 keys not strictly ascending")
    seen = 0
    for key, record in zip(keys, records):
        if key in stable:
            seen += 1
            if record != stable[key]:
                tally.violation(f"stable route {key} emitted with another record")
        elif key not in volatile and key[2] < 25:
            tally.violation(f"route {key} that nobody added")
    if seen != len(stable):
        tally.violation(f"{len(stable) - seen} stable routes missing from a stream")


def check_fdb(records: list[bytes], stable: dict[tuple[int, int, bytes], bytes],
              tally: Tally) -> None:
    keys = [fdb_key(r) for r in records]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        tally.violation("fdb keys not strictly ascending")
    present = [k for k, r in zip(keys, records) if k in stable and stable[k] == r]
    if len(present) != len(stable):
        tally.violation(f"{len(stable) - len(present)} stable fdb entries missing or changed")
    if any(k[0] not in (1, 2) for k in keys):
        tally.violation("an fdb entry outside bridges 1 and 2")


# -- mutators -------------------------------------------------------------------------


def mutator(plan: Plan, rng: random.Random, tally: Tally, index: int) -> None:
    conn = Conn(plan.path, 30)
    own = [wire.ROUTE4.pack(0, 32, 77, ((index + 1) << 28 | rng.getrandbits(28)).to_bytes(
        4, "big"), 1) for _ in range(2000)]   # /32s: no preloaded route is longer than /24
    while time.monotonic() < plan.deadline:
        batch = [mutation(plan, rng, own) for _ in range(rng.randrange(1, 9))]
        conn.send_raw(b"".join(request(i, t, p) for i, (t, p) in enumerate(batch)))
        for i, (req_type, _payload) in enumerate(batch):
            reply = conn.frame()
            tally.requests += 1
            tally.statuses[wire.status_name(reply.status)] += 1
            if reply.for_id != i or reply.status not in ALLOWED[req_type & 0xFFFF]:
                tally.violation(f"{wire.type_name(req_type)} answered "
                                f"{wire.status_name(reply.status)} (id {reply.for_id})")
    conn.close()


def mutation(plan: Plan, rng: random.Random, own: list[bytes]) -> tuple[int, bytes]:
    roll = rng.random()
    flags = wire.BULK_FLAGS.pack
    if roll < 0.25:   # replace or re-add volatile preloaded routes with other records
        records = rng.sample(plan.volatile_routes, rng.randrange(1, 50))
        changed = [r[:3] + bytes((rng.randrange(256),)) + r[4:8] + wire.U32.pack(
            rng.randrange(1, 5)) for r in records]
        return wire.ROUTE4_ADD, flags(wire.ADD_REPLACE) + b"".join(changed)
    if roll < 0.45:
        return wire.ROUTE4_DEL, flags(wire.DEL_MISSING_OK) + b"".join(
            rng.sample(plan.volatile_routes, rng.randrange(1, 50)))
    if roll < 0.6:
        return wire.ROUTE4_ADD, flags(rng.choice((0, 1))) + b"".join(
            rng.sample(own, rng.randrange(1, 100)))
    if roll < 0.72:
        return wire.ROUTE4_DEL, flags(rng.choice((0, 1))) + b"".join(
            rng.sample(own, rng.randrange(1, 100)))
    if roll < 0.85:
        entries = [wire.FDB.pack(2, rng.randrange(4), bytes((2, 0, 0, 0, 1, rng.randrange(64))),
                                 1, rng.choice((1, 2)), 0) for _ in range(rng.randrange(1, 20))]
        op = rng.choice((wire.FDB_ADD, wire.FDB_DEL))
        return op, flags(1 if op == wire.FDB_ADD else rng.choice((0, 1))) + b"".join(entries)
    if roll < 0.9:
        return wire.FDB_FLUSH, wire.FLUSH_REQ.pack(2)
    if roll < 0.95:
        nh = wire.NEXTHOP.pack(rng.randrange(100, 110), 0, 1, wire.NH_BLACKHOLE, 0, bytes(16),
                               bytes(6))
        return wire.NH_ADD, flags(1) + nh
    return wire.CT_FLUSH, wire.FLUSH_REQ.pack(ALL)


# -- the canceller ----------------------------------------------------------------------


def canceller(plan: Plan, rng: random.Random, tally: Tally, index: int) -> None:
    conn = Conn(plan.path, 30)
    sid = 0
    while time.monotonic() < plan.deadline:
        sid += 2
        conn.send(sid, wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, ALL, 0))
        keys: list[ROUTE_KEY] = []
        for _ in range(rng.randrange(0, 30000)):
            f = conn.frame()
            if not f.payload:
                conn.send(sid + 1, wire.STREAM_CANCEL, wire.U32.pack(sid))
                expect_cancel(conn, sid + 1, wire.ESRCH, tally)
                break
            keys.append(route_key(f.payload))
        else:
            conn.send(sid + 1, wire.STREAM_CANCEL, wire.U32.pack(sid))
            items, status = conn.drain(sid)
            keys += [route_key(r) for r in items]
            expect_cancel(conn, sid + 1, wire.ESRCH if status != wire.ECANCELED else 0, tally)
        tally.cancels += 1
        tally.requests += 2
        tally.streams += 1
        tally.records += len(keys)
        if any(a >= b for a, b in zip(keys, keys[1:])):
            tally.violation("cancelled stream: keys not strictly ascending")
    conn.close()


def expect_cancel(conn: Conn, cancel_id: int, status: int, tally: Tally) -> None:
    reply = conn.frame()
    tally.statuses[wire.status_name(reply.status)] += 1
    if (reply.for_id, reply.status) != (cancel_id, status):
        tally.violation(f"cancel reply ({reply.for_id}, {wire.status_name(reply.status)}), "
                        f"expected ({cancel_id}, {wire.status_name(status)})")


# -- the hostile client ----------------------------------------------------------------


def hostile(plan: Plan, rng: random.Random, tally: Tally, index: int) -> None:
    gen = Gen(Model(), rng)
    while time.monotonic() < plan.deadline:
        conn = Conn(plan.path, 30)
        try:
            for _ in range(rng.randrange(1, 20)):
                req_type, payload = gen.request()
                if req_type in GUARDED:
                    payload = spoiled(req_type, payload)
                conn.send(rng.getrandbits(32), req_type, payload)
                tally.requests += 1
                tally.bad_inputs += 1
            fault(conn, rng, tally)
        finally:
            conn.close()
        tally.faults += 1


def spoiled(req_type: int, payload: bytes) -> bytes:
    """A route4 / fdb ADD, DEL or FLUSH payload made surely invalid (never applied)."""
    if req_type == wire.FDB_FLUSH:
        return payload + b"!" if len(payload) == wire.FLUSH_REQ.size else payload
    size = wire.ROUTE4.size if req_type >> 16 == wire.MODULE_ROUTE4 else wire.FDB.size
    whole = len(payload) >= 4 and (len(payload) - 4) % size == 0
    return payload + b"!" if whole else payload   # not a whole number of records: EINVAL


def fault(conn: Conn, rng: random.Random, tally: Tally) -> None:
    """End a hostile connection badly."""
    roll = rng.random()
    if roll < 0.25:
        conn.send(1, wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, ALL, 0))
        for _ in range(rng.randrange(100)):   # then vanish mid-stream
            f = conn.frame()
            if f.for_id == 1 and not f.payload:
                break   # EBUSY: a stream it pipelined before is still running
    elif roll < 0.45:
        conn.send_raw(request(2, wire.STATS)[:rng.randrange(1, 12)])   # truncated header
    elif roll < 0.6:
        conn.send_raw(wire.HEADER.pack(3, wire.ROUTE4_ADD, 0xFFFFFFFF) + bytes(1000))  # oversized
        for _ in range(100_000):   # past the replies (and a stream) it pipelined before
            reply = conn.frame()
            if reply.for_id == 3:
                if reply.status != wire.EMSGSIZE:
                    tally.violation(f"oversized header answered {reply}")
                break
    elif roll < 0.8:
        conn.send_raw(request(4, wire.STATS) * 5000)   # replies never read
    else:
        conn.send_raw(random.Random(rng.random()).randbytes(rng.randrange(1, 500)))
    tally.bad_inputs += 1
