"""What a stream producer hands the server: a batch of items, and what follows it.

The concept: every stream (a LIST over a table, a WATCH change stream, a test
listing) is one producer, ``produce(state, ctx, limit) -> Batch``.  A batch
holds its items end to end in one bytes object, and their sizes:

- one ``int`` when every item has that length: the tables' records, framed by
  strided copies with no Python object per record;
- one length per item otherwise: items of several sizes in one batch (WATCH
  events differ in size by table).

``then`` says what follows the batch:

- ``Then.MORE``: more to send; the server calls again as soon as the output
  allows (at or below write_high).  A MORE batch without items ends the stream
  like END: "call me again at once for nothing" would spin the loop;
- ``Then.WAIT``: nothing more to send yet, and the stream does not end; it is
  called again only once woken (``Session.wake_stream``,
  ``Server.wake_streams``).  A waiting stream costs nothing until then;
- ``Then.END``: the stream is complete after these items (terminator status 0).

Any other end is an ``ApiError`` raised by the producer (its status is the
terminator: EXFULL, ESTALE...).

Invariants: a batch is plain data, checked by the server against its stream's
limits (``api.stream.ActiveStream.frame``) and framed only by the codec
(``api.codec.encode_items``); ``items()`` splits it back for tests and tools.

Adapters onto this interface, for producers written another way:

- ``one_record(next_one)``: grout's ``next(state, ctx) -> bytes | None``, one
  record per call, ``None`` at the end;
- ``record_blobs(next_blob, record_size)``: ``next_blob(state, ctx, limit) ->
  bytes``, whole fixed-size records end to end, ``b""`` at the end (the tables'
  cursor step).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Callable, Iterable, Sequence, TypeVar, Union

if TYPE_CHECKING:
    from api.registry import Context

S = TypeVar("S")


class Then(enum.Enum):
    """What follows a batch."""

    MORE = "more"
    WAIT = "wait"
    END = "end"


@dataclass(slots=True)
class Batch:
    """Items end to end in ``data``; ``sizes`` is every item's length (an int)
    or each item's length in order; ``then`` is what follows.

    A value: never changed once made (not ``frozen`` only because a frozen
    dataclass takes twice as long to build, and the tables build one per
    batch)."""

    data: bytes = b""
    sizes: int | Sequence[int] = 0
    then: Then = Then.MORE

    @classmethod
    def of(cls, items: Iterable[bytes], then: Then = Then.MORE) -> Batch:
        """The batch of these items (each one stream response), whatever their sizes."""
        items = list(items)
        return cls(b"".join(items), [len(item) for item in items], then)

    @property
    def count(self) -> int:
        """Number of items (for a single size, whole items in ``data``)."""
        sizes = self.sizes
        if isinstance(sizes, int):
            return len(self.data) // sizes if sizes > 0 else 0
        return len(sizes)

    def items(self) -> list[bytes]:
        """The items, one bytes object each (for tests and tools; the server
        frames ``data`` without splitting it)."""
        sizes, data = self.sizes, self.data
        if isinstance(sizes, int):
            sizes = [sizes] * self.count
        ends = list(accumulate(sizes))
        return [data[end - size:end] for end, size in zip(ends, sizes)]


WAIT = Batch(then=Then.WAIT)
"""Nothing to send yet; do not end."""
END = Batch(then=Then.END)
"""The stream is complete."""

Producer = Callable[[S, "Context", int], Batch]
"""``produce(state, ctx, limit) -> Batch`` of at most ``limit`` items."""
NextRecord = Callable[[S, "Context"], Union[bytes, None]]
NextBlob = Callable[[S, "Context", int], bytes]


def one_record(next_one: NextRecord[S]) -> Producer[S]:
    """A producer calling grout-style ``next_one(state, ctx)`` up to ``limit``
    times per batch; its first ``None`` ends the stream (never called after)."""
    def produce(state: S, ctx: Context, limit: int) -> Batch:
        items: list[bytes] = []
        for _ in range(limit):
            item = next_one(state, ctx)
            if item is None:
                return Batch.of(items, Then.END)
            items.append(item)
        return Batch.of(items)

    return produce


def record_blobs(next_blob: NextBlob[S], record_size: int) -> Producer[S]:
    """A producer over ``next_blob(state, ctx, limit)``: whole ``record_size``-byte
    records end to end; ``b""`` ends the stream."""
    def produce(state: S, ctx: Context, limit: int) -> Batch:
        blob = next_blob(state, ctx, limit)
        return Batch(blob, record_size) if blob else END

    return produce
