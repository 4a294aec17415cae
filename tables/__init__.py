"""Tables of the control plane: sorted records with key cursors.

The package's shared plumbing lives here (the tables' modules import it):

- ``TableError``: a request refused by a table, with its wire errno;
- ``stage_adds`` / ``stage_deletes``: the §4 record order of a bulk ADD / DEL
  (request order; within a record EINVAL, then ENOENT, then EEXIST / EBUSY;
  the later occurrence of a repeated key is the failing one), validated whole
  before anything is applied;
- ``gather`` / ``split``: whole-payload byte shuffles done with C-level
  strided copies, so that a bulk request costs no Python work per byte.

Modules: ``sorted_items`` (key columns and record blobs in key order),
``keyed`` (key order, key cursor, keyed table), ``lpm`` (route GET and
longest-prefix match), ``nexthop``, ``route``, ``fdb``, ``conntrack``, and
``handlers`` (the only one importing ``api.registry``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from struct import iter_unpack
from typing import Protocol, TypeVar

from api import wire

V = TypeVar("V")
_first = itemgetter(0)


class TableError(Exception):
    """A request failed validation: ``status`` is the wire errno."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


def gather(records: bytes, record_size: int, offsets: Sequence[int]) -> bytes:
    """Rows of ``len(offsets)`` bytes: byte j of row i is byte ``offsets[j]`` of record i.

    An offset of -1 gives a zero byte.  This builds big-endian keys and items
    for a whole payload with one C-level strided copy per output column.
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


class KeySet(Protocol):
    """Anything that answers ``key in keys`` for int keys (a table, a dict)."""

    def __contains__(self, key: int, /) -> bool: ...


def stage_adds(entries: Iterable[tuple[int, V]], replace: bool,
               existing: KeySet) -> dict[int, V]:
    """Validate a bulk ADD's keys in request order: ``key -> value``, last one wins.

    ``entries`` yields each record after its own field checks (EINVAL, ENOENT),
    so a record's EEXIST is decided before the next record is read.
    """
    staged: dict[int, V] = {}
    for key, value in entries:
        if not replace and (key in staged or key in existing):
            raise TableError(wire.EEXIST, f"key {key:#x} exists")
        staged[key] = value
    return staged


def stage_deletes(keys: Iterable[int], missing_ok: bool, existing: KeySet,
                  busy: Callable[[int], bool] | None = None) -> list[int]:
    """Validate a bulk DEL's keys in request order: the distinct present keys."""
    seen: set[int] = set()
    for key in keys:
        if key in seen:
            continue
        if key not in existing:
            if missing_ok:
                continue
            raise TableError(wire.ENOENT, f"key {key:#x} not found")
        if busy is not None and busy(key):
            raise TableError(wire.EBUSY, f"key {key:#x} in use")
        seen.add(key)
    return list(seen)
