"""Blobs: fixed-size records end to end in one bytes object, and their columns.

The concept: a bulk payload, a page of a table and a LIST batch are blobs
(``record_size``-byte records end to end).  ``gather`` rearranges the bytes
of every record of a blob at once (to build big-endian sort keys, or rows of
key then record) with one C-level strided copy per output column; ``split``
cuts a blob into its records.  Neither does Python work per byte, so a bulk
request of k records costs O(row width) C calls plus O(k) C work.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from struct import iter_unpack

_first = itemgetter(0)


def gather(records: bytes, record_size: int, offsets: Sequence[int]) -> bytes:
    """Rows of ``len(offsets)`` bytes: byte j of row i is byte ``offsets[j]`` of record i.

    An offset of -1 gives a zero byte.
    """
    count, width = len(records) // record_size, len(offsets)
    out = bytearray(count * width)
    for column, offset in enumerate(offsets):
        if offset >= 0:
            out[column::width] = records[offset::record_size]
    return bytes(out)


def split(blob: bytes, size: int) -> list[bytes]:
    """``blob`` cut into ``size``-byte pieces."""
    return list(map(_first, iter_unpack(f"{size}s", blob)))
