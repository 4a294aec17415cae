"""WATCH: a change stream over the changelog, opened by a snapshot or a revision.

The concept (watch-v1 section 3): a WATCH is a stream whose producer reads the
changelog from a ``Position`` the way a LIST cursor reads a table from a key.
Its state is plain data: the tables it selects, the origin it skips (NO_SELF),
its position, the tables still to list for a SNAPSHOT (key cursors), and
whether the SYNC event is still due.  It holds no reference into the
changelog, so a watcher costs what any stream costs however far behind it is.

What a batch holds, in this order:
1. while the position is stale (the changelog dropped a revision the watcher
   had not passed, or a SNAPSHOT's replay start): nothing, the stream ends
   ESTALE;
2. SNAPSHOT: SNAP events (revision 0) of each selected table in turn, in key
   order, from a LIST cursor (wire-v1 section 6 applies while it is paused);
3. the changes after the position (changelog ``read``: PUT/DEL, LAST set on
   the last one of each revision for this watcher);
4. once caught up, the SYNC event of the current revision, once;
5. then nothing: the stream waits (``Then.WAIT``) until the server wakes it
   after the next commit.
Each batch holds events of one kind of step, so it never mixes a snapshot and
changes; items of one table share one size and are framed by strided copies.

Checks at ``init``, in the spec's order: length (EMSGSIZE below 16 bytes is the
registry's, EINVAL above), EINVAL for no table, unknown table or flag bits,
SNAPSHOT with a revision, or a revision in the future; ESTALE for a revision
the changelog no longer holds; EBUSY is the session's, after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Protocol

from api import wire
from api.batch import WAIT, Batch
from api.registry import ApiError, Context, Registry
from tables.changelog import Changelog, Position, prefixed
from tables.keyed import KeyCursor, KeyOrder

FLAGS_KNOWN = wire.WATCH_SNAPSHOT | wire.WATCH_NO_SELF
LONGEST_EVENT = wire.EVENT_SIZE + max(
    wire.NEXTHOP.size, wire.ROUTE4.size, wire.ROUTE6.size, wire.FDB.size, wire.CONNTRACK.size)


class Listable(Protocol):
    """What a snapshot needs of a table: its key order, and a cursor over it."""

    @property
    def record_size(self) -> int: ...
    @property
    def order(self) -> KeyOrder: ...
    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor: ...


@dataclass(slots=True)
class WatchState:
    """One WATCH stream; see the module docstring."""

    mask: int
    skip_origin: int
    """The watching connection's client id with NO_SELF, else 0."""
    position: Position
    snapshot: list[tuple[int, KeyCursor]] = field(default_factory=list)
    """(table id, cursor) of the tables still to list, in SNAPSHOT order."""
    sync_due: bool = True
    sync_first: bool = False
    """from_revision 0 without SNAPSHOT: SYNC of the revision at the request first."""


class Watches:
    """The WATCH handler over ``changelog`` and the tables (by table id)."""

    def __init__(self, changelog: Changelog, tables: dict[int, Listable]) -> None:
        self._log = changelog
        self._tables = tables

    def register(self, registry: Registry) -> None:
        registry.register_stream(wire.WATCH, self.init, self.produce,
                                 min_size=wire.WATCH_REQ.size,
                                 max_record_size=LONGEST_EVENT)
        log = self._log
        registry.add_stats("revision", lambda: log.revision)
        registry.add_stats("changelog_events", lambda: log.events)
        registry.add_stats("changelog_oldest", lambda: log.oldest)

    def init(self, payload: bytes, ctx: Context) -> WatchState:
        if len(payload) != wire.WATCH_REQ.size:
            raise ApiError(wire.EINVAL, f"payload of {len(payload)} bytes, not 16")
        from_revision, mask, flags = wire.WATCH_REQ.unpack(payload)
        log = self._log
        problem = _why_invalid(from_revision, mask, flags, log.revision)
        if problem:
            raise ApiError(wire.EINVAL, problem)
        if from_revision and log.stale(Position(from_revision + 1, 0)):
            raise ApiError(wire.ESTALE, f"revision {from_revision} is older than "
                                        f"changelog_oldest {log.oldest}")
        skip = ctx.client_id if flags & wire.WATCH_NO_SELF else 0
        if not flags & wire.WATCH_SNAPSHOT:
            start = from_revision or log.revision
            return WatchState(mask, skip, Position(start + 1, 0), sync_first=not from_revision)
        listing = [(table, self._tables[table].cursor(wire.SCOPE_ALL, None, 0))
                   for table in wire.TABLE_IDS if wire.table_bit(table) & mask]
        return WatchState(mask, skip, Position(log.revision + 1, 0), listing)

    def produce(self, state: WatchState, ctx: Context, limit: int) -> Batch:
        log = self._log
        if log.stale(state.position):
            raise ApiError(wire.ESTALE, "the changelog dropped changes this watcher needs")
        if state.sync_first:       # nothing read yet: the position is the request's
            state.sync_first = state.sync_due = False
            return _sync(state.position.revision - 1)
        while state.snapshot:
            table, cursor = state.snapshot[0]
            listed = self._tables[table]
            records = listed.order.step_blob(cursor, limit)
            if cursor.finished:
                del state.snapshot[0]
            if records:
                size = listed.record_size
                header = wire.EVENT.pack(0, wire.EV_SNAP, table, 0)
                return Batch(bytes(prefixed(header, records, size)), wire.EVENT_SIZE + size)
        chunks, state.position = log.read(state.position, state.mask, state.skip_origin, limit)
        if chunks:
            sizes = list(chain.from_iterable(
                repeat(wire.EVENT_SIZE + chunk.record_size, chunk.changes) for chunk in chunks))
            return Batch(b"".join(chunk.items() for chunk in chunks), sizes)
        if state.sync_due:
            state.sync_due = False
            return _sync(log.revision)
        return WAIT


def _sync(revision: int) -> Batch:
    return Batch(wire.EVENT.pack(revision, wire.EV_SYNC, 0, 0), wire.EVENT_SIZE)


def _why_invalid(from_revision: int, mask: int, flags: int, current: int) -> str:
    if not mask or mask & ~wire.ALL_TABLES_MASK:
        return f"tables mask {mask:#x}"
    if flags & ~FLAGS_KNOWN:
        return f"unknown flag bits {flags & ~FLAGS_KNOWN:#x}"
    if flags & wire.WATCH_SNAPSHOT and from_revision:
        return "SNAPSHOT with a from_revision"
    if from_revision > current:
        return f"from_revision {from_revision} is ahead of revision {current}"
    return ""
