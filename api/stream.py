"""One active stream of a connection: its request id, handler state, flow and counts.

The concept: everything a stream needs between two production passes, owned by
the stream and never by the connection, so that a response is always addressed
with the id of the request it answers (grout kept the id connection-wide; a
pipelined request could then steal a stream's responses).

A stream is in one of three flows between batches:

- ``SCHEDULED``: more to send; one pump call for it is pending in the loop (or
  running);
- ``PAUSED``: more to send, but the output is above write_high; the write low
  watermark (``on_write``) schedules it again;
- ``WAITING``: its producer has nothing to send yet (``Then.WAIT``); only an
  explicit wake schedules it again.  No call, timer or poll runs for it.

Invariants:
- ``request_id`` is fixed at creation; every frame this stream produces,
  terminator included, carries it;
- ``state`` is the handler's cursor: a filter and the last key emitted, never
  an object or a position, so the table may change between two batches;
- ``frame`` admits at most ``batch_limit`` items of the declared size
  (``record_size``, or 1..``max_record_size``: ``item_min``..``item_max``),
  so a batch frames to at most ``batch_bytes`` and stream records never
  overshoot write_high by more than STREAM_OVERSHOOT; anything else raises
  ``ValueError`` (the stream ends EIO).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

from api import wire
from api.batch import Batch
from api.codec import encode_items
from api.registry import Stream


class Flow(enum.Enum):
    """Where a stream is between two batches."""

    SCHEDULED = "scheduled"
    PAUSED = "paused"
    WAITING = "waiting"


@dataclass(slots=True, eq=False)
class ActiveStream:
    request_id: int
    entry: Stream[Any]
    state: Any
    started: float
    batch_limit: int
    item_min: int
    """Bounds of an item's size: both ``record_size`` for fixed-size items,
    else 1 and ``max_record_size``."""
    item_max: int
    records: int = 0
    flow: Flow = Flow.SCHEDULED
    pump: Callable[[], None] = field(default=lambda: None)
    """The call that drives it from the loop (set by its session; one object,
    scheduled again and again, not a new one per batch)."""

    @classmethod
    def start(cls, request_id: int, entry: Stream[Any], state: Any, now: float,
              batch_bytes: int) -> ActiveStream:
        largest = entry.max_record_size
        limit = max(1, batch_bytes // (wire.HEADER_SIZE + largest))
        return cls(request_id, entry, state, now, limit, entry.record_size or 1, largest)

    @property
    def paused(self) -> bool:
        return self.flow is Flow.PAUSED

    @property
    def waiting(self) -> bool:
        return self.flow is Flow.WAITING

    def frame(self, batch: Batch) -> tuple[bytes, int]:
        """The item frames of one batch, as one buffer, and their count.

        Checked before framing, in O(1) Python steps (``min`` and ``max`` of a
        size list run in C): the count against ``batch_limit``, the sizes
        against ``item_min``..``item_max``; the codec then checks that the
        sizes cut the data into whole items.
        """
        sizes, data = batch.sizes, batch.data
        if isinstance(sizes, int):   # one size for all: the tables' path
            if not data:
                return b"", 0
            count = len(data) // sizes if sizes > 0 else 0
            smallest = largest = sizes
        else:
            count = len(sizes)
            smallest, largest = (min(sizes), max(sizes)) if count else (1, 1)
        if count > self.batch_limit or smallest < self.item_min or largest > self.item_max:
            raise ValueError(f"{self.entry.name}: a batch of {count} items of "
                             f"{smallest}..{largest} bytes (at most {self.batch_limit} items "
                             f"of {self.item_min}..{self.item_max} asked for)")
        return encode_items(self.request_id, data, sizes), count
