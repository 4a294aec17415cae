"""The changelog: daemon-wide revisions and the changes they made, bounded.

The concept (watch-v1 sections 1 and 2): every request that changes at least
one record is one *revision*; the changelog numbers them (a u64 counter, 0 at
start) and keeps the changes of the most recent ones, shared by every watcher.
The tables record each change here at their apply step, the one place every
change passes through; a request groups what it records into one revision
(``request``); a change recorded outside a request is a revision of its own.

A change is stored as its record only: a revision is a few *segments*, each a
run of changes of one table and one kind (PUT or DEL) holding their records
end to end, in application order.  The event header (revision, kind, table,
flags) is the same for every change of a segment, so a reader gets runs of
(header, records) and frames them without a Python object per change.

A watcher's place is a ``Position`` (the next revision to read and the index
of the next change within it), never a reference into the changelog: when the
changelog drops what a position still needs, the position is *stale*.

Invariants:
- retained revisions are exactly ``oldest + 1 .. revision``, in order; every
  change of each is retained (revisions are dropped whole, oldest first);
- ``events`` (changes retained) <= ``max_events``; a revision of more changes
  than that is not retained, and neither is any revision older than it;
- ``oldest == revision`` when nothing is retained;
- a position ``(r, i)`` can be replayed iff ``r > oldest``.

Complexity: recording O(1) per call plus the bytes copied once at commit;
``read`` O(segments visited + chunks returned), independent of how many
changes are retained; trimming O(revisions dropped).  Memory per retained
change: its record (12 B for a route4, 36 B for a nexthop), plus about
170 B per revision and 120 B per segment.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from api import wire

DEFAULT_MAX_EVENTS = 1 << 20
"""``--changelog-events`` default: changes retained at most (watch-v1 section 2)."""
NO_ORIGIN = 0
"""The origin of changes made by no connection (start-up loads)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of changes of one table and one kind, in application order."""

    table: int
    kind: int
    record_size: int
    records: bytes

    @property
    def count(self) -> int:
        return len(self.records) // self.record_size


@dataclass(frozen=True, slots=True)
class Revision:
    """What one request changed."""

    number: int
    origin: int
    """The client id of the connection that made it (``NO_ORIGIN``: none)."""
    segments: tuple[Segment, ...]
    count: int
    tables: int
    """The WATCH mask bits of the tables it changed."""


class Position(NamedTuple):
    """A watcher's place: it has been sent every change of the revisions before
    ``revision`` and the first ``change`` changes of ``revision``."""

    revision: int
    change: int


class Chunk(NamedTuple):
    """Changes for one reader: each is ``header`` (flags 0) then its record."""

    header: bytes
    record_size: int
    records: bytes
    last: bool
    """The chunk's final change is the last of its revision for this reader (LAST)."""

    @property
    def changes(self) -> int:
        return len(self.records) // self.record_size

    def items(self) -> bytearray:
        """The event items end to end (header then record each), LAST set on the
        final one if ``last``: strided copies, no object per change (the caller
        joins the chunks of a batch, so no extra ``bytes`` copy here)."""
        items = prefixed(self.header, self.records, self.record_size)
        if self.last:
            items[len(items) - self.record_size - wire.EVENT_SIZE
                  + wire.EVENT_FLAGS_OFFSET] = wire.EV_LAST
        return items


def prefixed(prefix: bytes, records: bytes, record_size: int) -> bytearray:
    """``prefix`` + record for each ``record_size``-byte record of ``records``.

    A template of prefixes and blank records is filled column by column: byte
    j of every record is one strided slice, so the cost is 2·record_size C
    loops over the batch, with no Python object per record."""
    count = len(records) // record_size
    width = len(prefix) + record_size
    out = bytearray((prefix + bytes(record_size)) * count)
    for j in range(record_size):
        out[len(prefix) + j::width] = records[j::record_size]
    return out


class Changelog:
    """Revisions and their retained changes; see the module docstring."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if max_events < 1:
            raise ValueError("the changelog must hold at least 1 change")
        self.max_events = max_events
        self.revision = 0
        """The current revision (the last one committed)."""
        self.oldest = 0
        """``changelog_oldest``: every change of every revision above it is retained."""
        self.events = 0
        """Changes retained now."""
        self._revisions: deque[Revision] = deque()
        self._pending: list[tuple[int, int, int, list[bytes]]] = []
        self._origin = NO_ORIGIN
        self._depth = 0
        self.on_commit: Callable[[], None] | None = None
        """Called after each new revision (the server wakes its watchers)."""

    # -- recording -------------------------------------------------------------

    @contextmanager
    def request(self, origin: int) -> Iterator[None]:
        """Group the changes recorded inside into one revision made by ``origin``.

        What was recorded is committed even if the block raises: the tables
        changed, so the changelog must say so.
        """
        if self._depth == 0:
            self._origin = origin
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._commit()

    def record(self, table: int, kind: int, record_size: int, records: bytes) -> None:
        """Changes of ``table`` (PUT or DEL), their records end to end, in order."""
        if not records:
            return
        if len(records) % record_size:
            raise ValueError(f"{len(records)} bytes are not whole {record_size}-byte records")
        pending = self._pending
        if pending and pending[-1][:2] == (table, kind):
            pending[-1][3].append(bytes(records))
        else:
            pending.append((table, kind, record_size, [bytes(records)]))
        if self._depth == 0:
            self._origin = NO_ORIGIN
            self._commit()

    def _commit(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        self.revision += 1
        segments = tuple(Segment(table, kind, size, b"".join(parts))
                         for table, kind, size, parts in pending)
        count = sum(segment.count for segment in segments)
        tables = 0
        for segment in segments:
            tables |= wire.table_bit(segment.table)
        self._retain(Revision(self.revision, self._origin, segments, count, tables))
        if self.on_commit is not None:
            self.on_commit()

    def _retain(self, revision: Revision) -> None:
        revisions = self._revisions
        if revision.count > self.max_events:
            revisions.clear()
            self.events = 0
            self.oldest = revision.number
            return
        revisions.append(revision)
        self.events += revision.count
        while self.events > self.max_events:
            dropped = revisions.popleft()
            self.events -= dropped.count
            self.oldest = dropped.number

    # -- reading ----------------------------------------------------------------

    def stale(self, position: Position) -> bool:
        """Whether the changelog no longer holds what ``position`` needs next."""
        return position.revision <= self.oldest

    def origin_of(self, number: int) -> int:
        """The origin of retained revision ``number``."""
        return self._revisions[number - self.oldest - 1].origin

    def read(self, position: Position, mask: int, skip_origin: int,
             limit: int) -> tuple[list[Chunk], Position]:
        """At most ``limit`` next changes for a reader of the tables in ``mask`` that
        skips the revisions of ``skip_origin`` (0: none), as chunks, and the
        position after them.  The position must not be stale."""
        chunks: list[Chunk] = []
        number, index = position
        revisions, first = self._revisions, self.oldest + 1
        while number <= self.revision and limit > 0:
            revision = revisions[number - first]
            if revision.tables & mask and (not skip_origin or revision.origin != skip_origin):
                index, limit = _read_revision(revision, index, mask, limit, chunks)
                if index < revision.count:
                    break
            number, index = number + 1, 0
        return chunks, Position(number, index)


def _read_revision(revision: Revision, index: int, mask: int, limit: int,
                   chunks: list[Chunk]) -> tuple[int, int]:
    """Append the chunks of ``revision`` from change ``index``, at most ``limit``
    changes; return the index after them and the limit left."""
    segments = revision.segments
    last_selected = max(i for i, s in enumerate(segments) if wire.table_bit(s.table) & mask)
    start = 0
    for position, segment in enumerate(segments):
        count = segment.count
        end = start + count
        if index >= end:
            start = end
            continue
        if not wire.table_bit(segment.table) & mask:
            index = start = end
            continue
        size = segment.record_size
        take = min(end - index, limit)
        offset = (index - start) * size
        index += take
        limit -= take
        chunks.append(Chunk(wire.EVENT.pack(revision.number, segment.kind, segment.table, 0),
                            size, segment.records[offset:offset + take * size],
                            position == last_selected and index == end))
        if index < end:
            break               # the limit ran out inside this segment
        if position == last_selected:
            return revision.count, limit    # nothing more for this reader here
        start = end
    return index, limit
