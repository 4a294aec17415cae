"""One active stream of a connection: its request id, handler state and counts.

The concept: everything a LIST needs between two production passes, owned by
the stream and never by the connection, so that a response is always addressed
with the id of the request it answers (grout kept the id connection-wide; a
pipelined request could then steal a stream's responses).

Invariants:
- ``request_id`` is fixed at creation; every frame this stream produces,
  terminator included, carries it;
- ``state`` is the handler's cursor: a filter and the last key emitted, never
  an object or a position, so the table may change between two batches;
- ``batch_limit`` records of ``record_size`` bytes frame to at most
  ``batch_bytes``, and a variable-size stream gets one record per batch of at
  most ``MAX_STREAM_RECORD`` bytes: stream records never overshoot write_high
  by more than STREAM_OVERSHOOT.  A handler that returns more records than
  asked for, or a larger record, is refused and its stream ends EIO.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api import wire
from api.codec import encode_record_blob
from api.registry import Stream


@dataclass(slots=True, eq=False)
class ActiveStream:
    request_id: int
    entry: Stream[Any]
    state: Any
    started: float
    batch_limit: int
    records: int = 0
    paused: bool = False
    header: bytes = field(default=b"")
    """The item header shared by every record (fixed-size records only)."""

    @classmethod
    def start(cls, request_id: int, entry: Stream[Any], state: Any, now: float,
              batch_bytes: int) -> ActiveStream:
        size = entry.record_size
        if size is None:
            return cls(request_id, entry, state, now, 1)
        limit = max(1, batch_bytes // (wire.HEADER_SIZE + size))
        header = wire.HEADER.pack(request_id, wire.OK, size)
        return cls(request_id, entry, state, now, limit, header=header)

    def frame(self, records: list[bytes]) -> bytes:
        """The item frames of one batch, as one buffer.

        Fixed-size records are framed with one C-level join; the total length
        is checked in O(1), so a handler returning a record of the wrong size
        ends the stream with EIO instead of corrupting the framing.  A record
        of 0 bytes would read as a terminator, so variable records are checked
        one by one.
        """
        if len(records) > self.batch_limit:
            raise ValueError(f"{self.entry.name}: a batch of {len(records)} records, "
                             f"more than the {self.batch_limit} asked for")
        header = self.header
        if header:
            frames = header + header.join(records)
            if len(frames) != len(records) * (len(header) + self._record_size):
                raise ValueError(f"{self.entry.name}: a record is not "
                                 f"{self._record_size} bytes")
            return frames
        pack = wire.HEADER.pack
        rid = self.request_id
        for record in records:
            if not 0 < len(record) <= wire.MAX_STREAM_RECORD:
                raise ValueError(f"{self.entry.name}: record of {len(record)} bytes "
                                 f"(stream items are 1..{wire.MAX_STREAM_RECORD})")
        return b"".join(pack(rid, wire.OK, len(r)) + r for r in records)

    def frame_blob(self, blob: bytes) -> tuple[bytes, int]:
        """The item frames of a blob of whole records, and their count."""
        size = self._record_size
        count = len(blob) // size
        if count > self.batch_limit:
            raise ValueError(f"{self.entry.name}: a blob of {count} records, "
                             f"more than the {self.batch_limit} asked for")
        return encode_record_blob(self.request_id, blob, size), count

    @property
    def _record_size(self) -> int:
        return self.entry.record_size or 0
