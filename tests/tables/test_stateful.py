"""Stateful tests: each table against a plain dict model, with streams interleaved.

Rules: bulk ADD (with or without REPLACE, invalid records mixed in), bulk DEL
(MISSING_OK or not), FLUSH, start a LIST (scope, AFTER, max_count), step a
LIST by a random batch size.  Every request's status is predicted from the
§4 order; a refused request must change nothing.  Every LIST step checks the
§6 guarantees: keys strictly ascending (after the AFTER key), in scope, each
record equal to the model's current one; at its end every key present and in
scope since the stream started was emitted, and EXFULL exactly when max_count
records were sent and a matching key is left.  After every step the table
matches the model and passes its own invariant check (``_check``), with pages
small enough (LOAD 4 or 8) that a few records cut, re-key and join them.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from api import wire
from api.registry import ApiError, Stream
from tables import keyed, record_pages
from tests.tables.specs import SPECS, Key, Spec
from tests.tables.support import (Daemon, FakeContext, as_records, bulk, ends, list_req, nexthop,
                                  route4)

SCOPES = st.sampled_from([0, 1, 2, 7, wire.SCOPE_ALL, wire.SCOPE_ALL])


@dataclass
class Listing:
    entry: Stream[Any]
    state: Any
    scope: int
    after: Key | None
    max_count: int
    alive: set[Key]
    last: Key | None = None
    emitted: int = 0
    ctx: FakeContext = field(default_factory=FakeContext)


class TableMachine(RuleBasedStateMachine):
    spec: Spec

    def __init__(self) -> None:
        super().__init__()
        self.saved_load, record_pages.LOAD = record_pages.LOAD, 4
        self.daemon = Daemon.create()
        self.model: dict[Key, bytes] = {}
        self.busy: set[Key] = set()
        self.listings: list[Listing] = []
        self.last_id = 0
        self.daemon.ok(wire.NH_ADD, bulk(nexthop(1), nexthop(2), nexthop(3)))
        if self.spec.module == wire.MODULE_NEXTHOP:
            self.daemon.ok(wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8", 1)))
            self.busy = {(1,)}
            self.model = {(i,): nexthop(i) for i in (1, 2, 3)}

    def teardown(self) -> None:
        record_pages.LOAD = self.saved_load

    @initialize(load=st.sampled_from([4, 8]))
    def page_size(self, load: int) -> None:
        """LOAD 4: pages of 1..8 records (never short); 8: 2..16, a page of 1 is joined."""
        record_pages.LOAD = load

    # -- oracles -------------------------------------------------------------

    def in_scope(self, record: bytes, scope: int) -> bool:
        return scope == wire.SCOPE_ALL or self.spec.scope(record) == scope

    def expect_add(self, records: list[bytes], replace: bool) -> tuple[int, dict[Key, bytes]]:
        staged: dict[Key, bytes] = {}
        for record in records:
            key = self.spec.key(record)
            if self.spec.invalid(record):
                return wire.EINVAL, {}
            if self.spec.missing_nh(record):
                return wire.ENOENT, {}
            if not replace and (key in self.model or key in staged):
                return wire.EEXIST, {}
            staged[key] = record
        return wire.OK, staged

    def expect_del(self, records: list[bytes], missing_ok: bool) -> tuple[int, set[Key]]:
        gone: set[Key] = set()
        for record in records:
            if self.spec.key_invalid(record):
                return wire.EINVAL, set()
            key = self.spec.key(record)
            if key in gone or (key not in self.model and missing_ok):
                continue
            if key not in self.model:
                return wire.ENOENT, set()
            if key in self.busy:
                return wire.EBUSY, set()
            gone.add(key)
        return wire.OK, gone

    def request(self, op: int, payload: bytes, expected: int) -> None:
        status, _ = self.daemon.call(self.spec.msg(op), payload)
        assert wire.status_name(status) == wire.status_name(expected)

    def changed(self) -> None:
        for listing in self.listings:
            listing.alive = {key for key in listing.alive if key in self.model
                             and self.in_scope(self.model[key], listing.scope)}

    # -- rules ---------------------------------------------------------------

    @rule(data=st.data(), replace=st.booleans())
    def add(self, data: st.DataObject, replace: bool) -> None:
        records = data.draw(st.lists(self.spec.record, min_size=1, max_size=6))
        expected, staged = self.expect_add(records, replace)
        self.request(wire.OP_ADD, bulk(*records, flags=int(replace)), expected)
        now = self.daemon.clock.now
        for key, record in staged.items():
            old = self.model.get(key)
            if old is not None:
                entry_id = int.from_bytes(old[:4], "little")
            else:
                self.last_id += self.spec.uses_ids
                entry_id = self.last_id
            self.model[key] = self.spec.stored(record, entry_id, now)
        self.changed()

    @rule(data=st.data(), missing_ok=st.booleans())
    def delete(self, data: st.DataObject, missing_ok: bool) -> None:
        present = st.sampled_from(sorted(self.model.values())) if self.model else self.spec.record
        records = data.draw(st.lists(st.one_of(self.spec.record, present), min_size=1,
                                     max_size=5))
        records = [self.spec.del_record(record) for record in records]
        expected, gone = self.expect_del(records, missing_ok)
        self.request(wire.OP_DEL, bulk(*records, flags=int(missing_ok)), expected)
        for key in gone:
            del self.model[key]
        self.changed()

    @precondition(lambda self: self.spec.flushable)
    @rule(scope=SCOPES)
    def flush(self, scope: int) -> None:
        self.request(wire.OP_FLUSH, wire.FLUSH_REQ.pack(scope), wire.OK)
        self.model = {k: r for k, r in self.model.items() if not self.in_scope(r, scope)}
        self.changed()

    @precondition(lambda self: len(self.listings) < 3)
    @rule(data=st.data(), scope=SCOPES, max_count=st.sampled_from([0, 0, 1, 2, 3, 5]))
    def start_listing(self, data: st.DataObject, scope: int, max_count: int) -> None:
        size = len(data.draw(self.spec.record))
        after = data.draw(st.one_of(st.none(), self.spec.record,
                                    st.binary(min_size=size, max_size=size)))
        payload = list_req(max_count, scope, after)
        entry = self.daemon.registry.check(self.spec.msg(wire.OP_LIST), payload)
        assert isinstance(entry, Stream)
        after_key = None if after is None else self.spec.key(after)
        alive = {k for k, r in self.model.items() if self.in_scope(r, scope)
                 and (after_key is None or k > after_key)}
        state = entry.init(payload, FakeContext())
        self.listings.append(Listing(entry, state, scope, after_key, max_count, alive))

    @precondition(lambda self: bool(self.listings))
    @rule(data=st.data(), limit=st.integers(1, 4))
    def step_listing(self, data: st.DataObject, limit: int) -> None:
        listing = data.draw(st.sampled_from(self.listings))
        batch: list[bytes] = []
        status, ended = wire.OK, True
        try:
            produced = listing.entry.produce(listing.state, listing.ctx, limit)
            batch = as_records(produced, listing.entry.record_size or 0)
            ended = ends(produced)
        except ApiError as error:
            status = error.status
        assert len(batch) <= limit
        for record in batch:
            self.check_emitted(listing, record)
        if ended:
            self.check_end(listing, status)
            self.listings.remove(listing)

    def check_emitted(self, listing: Listing, record: bytes) -> None:
        key = self.spec.key(record)
        lower = listing.last if listing.last is not None else listing.after
        assert lower is None or key > lower, "keys not strictly ascending"
        assert self.in_scope(record, listing.scope)
        assert self.model.get(key) == record, "not the current record"
        listing.last, listing.emitted = key, listing.emitted + 1
        listing.alive.discard(key)
        assert not listing.max_count or listing.emitted <= listing.max_count

    def check_end(self, listing: Listing, status: int) -> None:
        assert status in (wire.OK, wire.EXFULL)
        lower = listing.last if listing.last is not None else listing.after
        more = any(self.in_scope(r, listing.scope) and (lower is None or k > lower)
                   for k, r in self.model.items())
        at_max = bool(listing.max_count) and listing.emitted == listing.max_count
        if status == wire.EXFULL:
            assert at_max and more
        else:
            assert not listing.alive, f"keys present throughout were not emitted: {listing.alive}"
            assert not (at_max and more), "EXFULL expected"

    # -- invariants ------------------------------------------------------------

    @invariant()
    def table_matches_model(self) -> None:
        table = self.table()
        table._check()   # the key order's own invariants (pages, scope index, key set)
        stored = [record for _key, record in table.items()]
        assert stored == [self.model[k] for k in sorted(self.model)]
        assert len(table) == len(self.model)
        if self.spec.module in (wire.MODULE_ROUTE4, wire.MODULE_ROUTE6):
            nh_ids = Counter(int.from_bytes(r[-4:], "little") for r in self.model.values())
            assert self.daemon.tables.nexthops.refs == dict(nh_ids)
            self.check_lookups()

    def check_lookups(self) -> None:
        """LPM in each VRF, for every stored prefix +1 and a few fixed addresses."""
        routes = (self.daemon.tables.routes4 if self.spec.module == wire.MODULE_ROUTE4
                  else self.daemon.tables.routes6)
        bits = routes.bits
        assert len(routes.index) == len(self.model)
        assert all(routes.index.get(k) == r for k, r in routes.order.items())
        probes = {x + 1 for _v, x, _p in self.model} | {0, (1 << bits) - 1, 0x0A010203 << (bits - 32)}
        for vrf_id in (0, 1, 2):
            lengths = {p for v, _x, p in self.model if v == vrf_id}
            assert routes.prefix_lengths(vrf_id) == sorted(lengths, reverse=True)
            for addr in probes:
                matches = [(p, k) for k in self.model for v, x, p in [k]
                           if v == vrf_id and addr >> (bits - p) == x >> (bits - p)]
                expected = self.model[max(matches)[1]] if matches else None
                assert routes.lookup(vrf_id, addr.to_bytes(bits // 8, "big")) == expected

    def table(self) -> keyed.KeyOrder:
        tables = self.daemon.tables
        return {wire.MODULE_NEXTHOP: tables.nexthops.order,
                wire.MODULE_ROUTE4: tables.routes4.order,
                wire.MODULE_ROUTE6: tables.routes6.order, wire.MODULE_FDB: tables.fdb.order,
                wire.MODULE_CONNTRACK: tables.conntrack.order}[self.spec.module]


SETTINGS = settings(max_examples=int(os.environ.get("TABLES_STATEFUL_EXAMPLES", "35")),
                    stateful_step_count=40, deadline=None)


def machine(name: str) -> type[TableMachine]:
    cls = cast("type[TableMachine]",
               type(f"{name.title()}Machine", (TableMachine,), {"spec": SPECS[name]}))
    cls.TestCase.settings = SETTINGS
    return cls


TestNexthop = machine("nexthop").TestCase
TestRoute4 = machine("route4").TestCase
TestRoute6 = machine("route6").TestCase
TestFdb = machine("fdb").TestCase
TestConntrack = machine("conntrack").TestCase
