"""WATCH against one real reactord, stateful: random writes, slow watchers, restarts.

A writer connection does random ADD (with or without REPLACE), DEL (MISSING_OK)
on nexthop, route4, fdb and conntrack and FLUSH on fdb and
conntrack (route4 has no FLUSH on the wire); the model (``watch_tables``)
predicts each reply and revision, is checked against the daemon's LIST, and
the daemon's tables are recorded per revision.  Watchers on connections of
their own keep a ``TableCopy``: they read a bounded number of frames per step,
start with SNAPSHOT or from their last complete revision, cancel and restart,
or fall out with ESTALE (``--changelog-events 40``) and start again with a
SNAPSHOT.  After every SYNC and LAST a watcher applies, its copy must equal
the recorded tables at that revision; events come in revision order, and no
revision is sent twice in one stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from api import wire
from api.events import Synced, TableCopy, decode_event, table_key
from tests.hardening.watch_tables import (FLUSH_TYPE, LIST_TYPE, MASK, NH_FREE, ROUTE_NEXTHOPS, ROUTES, TABLES,
                                          Request, TableModel, Tables, record)
from tests.tables.support import bulk, nexthop, nh_ids
from tools.harness import Conn, Frame, ServerProcess, start_reactord

WID = 0x5741
CANCEL_ID = 0x5742
WATCHERS = 3

daemon_path: list[str] = []      # the daemon of the running test function


@dataclass
class Watcher:
    """One watching connection and what it has applied."""

    conn: Conn
    copy: TableCopy = field(default_factory=lambda: TableCopy(MASK))
    active: bool = False
    synced: bool = False
    """The running stream has sent its SYNC."""
    staged: bool = False
    """A SNAPSHOT is staged in ``copy`` (begun, its SYNC not yet applied)."""
    last_revision: int = 0
    """The highest revision of an event of the running stream (order check)."""
    completed: int = 0
    """The highest revision completed (LAST or SYNC) in the running stream."""


def list_tables(conn: Conn) -> Tables:
    return {t: {table_key(t, r): r for r in conn.listing(LIST_TYPE[t])} for t in TABLES}


class WatchMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.path = daemon_path[0]
        self.writer = Conn(self.path, timeout=5)
        self.watchers = [Watcher(Conn(self.path, timeout=5)) for _ in range(WATCHERS)]
        self.model = TableModel()
        self.at: dict[int, Tables] = {}
        """The daemon's tables at each revision this example made."""

    def teardown(self) -> None:
        self.writer.close()
        for watcher in self.watchers:
            watcher.conn.close()

    @initialize()
    def reset(self) -> None:
        """Empty what the writer touches; the route nexthops present."""
        for flush in FLUSH_TYPE.values():
            assert self._call(flush, wire.FLUSH_REQ.pack(wire.SCOPE_ALL)) == 0
        assert self._call(wire.ROUTE4_DEL, bulk(*(record(wire.TABLE_ROUTE4, k, 0) for k in ROUTES),
                                                flags=wire.DEL_MISSING_OK)) == 0
        assert self._call(wire.NH_DEL, nh_ids(*NH_FREE, flags=wire.DEL_MISSING_OK)) == 0
        assert self._call(wire.NH_ADD, bulk(*(nexthop(i) for i in ROUTE_NEXTHOPS),
                                            flags=wire.ADD_REPLACE)) == 0
        self.model.revision = self.writer.stats()["revision"]
        listed = list_tables(self.writer)
        self.model.tables = {t: dict(rows) for t, rows in listed.items()}
        self.at[self.model.revision] = listed

    def _call(self, req_type: int, payload: bytes) -> int:
        return self.writer.call(0x77, req_type, payload).status

    # -- the writer -------------------------------------------------------------

    def write(self, request: Request) -> None:
        status = self._call(request.req_type, request.payload)
        assert (status == 0) == request.succeeds, wire.status_name(status)
        assert self.writer.stats()["revision"] == self.model.revision
        listed = list_tables(self.writer)
        assert self.model.matches(listed)
        if request.changes:
            self.at[self.model.revision] = listed

    @rule(table=st.sampled_from(TABLES), keys=st.sets(st.integers(0, len(ROUTES) - 1), min_size=1, max_size=4),
          variant=st.integers(0, 2), replace=st.booleans())
    def add(self, table: int, keys: set[int], variant: int, replace: bool) -> None:
        records = [record(table, k, variant) for k in sorted(keys)]
        self.write(self.model.add(table, records, replace))

    @rule(key=st.sampled_from(ROUTES), variant=st.integers(0, 2),
          copies=st.sampled_from([30, 3000]))
    def burst(self, key: int, variant: int, copies: int) -> None:
        """One route replaced ``copies`` times in one ADD: enough output (3000 x 36
        bytes) to pause a watcher that is not reading, and to overflow the changelog."""
        self.write(self.model.add(wire.TABLE_ROUTE4, [record(wire.TABLE_ROUTE4, key, variant)]
                                  * copies, True))

    @rule(table=st.sampled_from(TABLES), keys=st.lists(st.integers(0, len(ROUTES) - 1), min_size=1, max_size=4))
    def delete(self, table: int, keys: list[int]) -> None:
        self.write(self.model.delete(table, [record(table, k, 0) for k in keys]))

    @rule(table=st.sampled_from(sorted(FLUSH_TYPE)))
    def flush(self, table: int) -> None:
        self.write(self.model.flush(table))

    # -- the watchers -----------------------------------------------------------

    @rule(n=st.integers(0, WATCHERS - 1), from_revision=st.booleans())
    def start(self, n: int, from_revision: bool) -> None:
        w = self.watchers[n]
        if w.active:
            return
        resume = from_revision and w.copy.revision > 0 and not w.staged
        if resume:
            payload = wire.WATCH_REQ.pack(w.copy.revision, MASK, 0)
        else:
            w.copy.begin_snapshot()
            w.staged = True
            payload = wire.WATCH_REQ.pack(0, MASK, wire.WATCH_SNAPSHOT)
        w.conn.send(WID, wire.WATCH, payload)
        w.active, w.synced = True, False
        w.last_revision = w.completed = w.copy.revision if resume else 0

    @rule(n=st.integers(0, WATCHERS - 1), frames=st.integers(1, 30))
    def read(self, n: int, frames: int) -> None:
        w = self.watchers[n]
        for _ in range(frames):
            if not self._pending(w):
                return
            self._take(w, w.conn.frame())

    @rule(n=st.integers(0, WATCHERS - 1))
    def cancel(self, n: int) -> None:
        w = self.watchers[n]
        if not w.active:
            return
        w.conn.send(CANCEL_ID, wire.STREAM_CANCEL, wire.CANCEL_REQ.pack(WID))
        while not self._take(w, w.conn.frame(), cancelling=True):
            pass
        reply = w.conn.frame()
        assert reply.for_id == CANCEL_ID and not reply.payload

    def _pending(self, w: Watcher) -> bool:
        """Whether the daemon owes this watcher a frame (so reading cannot hang)."""
        return w.active and (not w.synced or w.copy.revision < self.model.revision)

    def _take(self, w: Watcher, frame: Frame, cancelling: bool = False) -> bool:
        """Apply one frame of the stream; whether it was the terminator."""
        assert frame.for_id == WID, frame
        if not frame.payload:
            allowed = {wire.ESTALE, wire.ECANCELED} if cancelling else {wire.ESTALE}
            assert frame.status in allowed, wire.status_name(frame.status)
            w.active = False
            return True
        assert frame.status == 0
        event = decode_event(frame.payload)
        if event.kind in (wire.EV_PUT, wire.EV_DEL):
            assert event.revision > w.completed and event.revision >= w.last_revision
            w.last_revision = event.revision
        elif event.kind == wire.EV_SYNC:
            assert not w.synced and event.revision >= w.completed
            w.synced, w.staged = True, False
        for update in w.copy.apply(event):
            if isinstance(update, Synced):
                w.completed = update.revision
                assert w.copy.tables == self.at[update.revision], update.revision
        return False


@pytest.fixture
def reactord(tmp_path: Path) -> Iterator[ServerProcess]:
    daemon = start_reactord("--changelog-events", "40", "--write-high", "2048",
                            "--write-low", "512", directory=tmp_path)
    daemon_path[:] = [daemon.path]
    try:
        yield daemon
    finally:
        daemon.kill()


def test_watchers_mirror_the_tables_at_every_revision(reactord: ServerProcess) -> None:
    run_state_machine_as_test(WatchMachine, settings=settings(
        max_examples=40, stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
