"""Staging of bulk requests: the wire-v1 §4 order in which records fail.

The concept: a bulk ADD or DEL is all or nothing, so its records are staged
(validated in request order, nothing applied) and the table applies the
staged result in one step.  The order of failure is §4's: request order;
within a record EINVAL, then ENOENT, then EEXIST / EBUSY; the later
occurrence of a repeated key is the failing one.  The field checks (EINVAL,
ENOENT) are the table's own, done by the iterator it passes in, so a record's
EEXIST is decided before the next record is read.

Complexity: O(k) set and dict operations for k records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from api import wire
from tables.errors import TableError

V = TypeVar("V")


class KeySet(Protocol):
    """Anything that answers ``key in keys`` for int keys (a table, a dict)."""

    def __contains__(self, key: int, /) -> bool: ...


def stage_adds(entries: Iterable[tuple[int, V]], replace: bool,
               existing: KeySet, sequence: list[int] | None = None) -> dict[int, V]:
    """Validate a bulk ADD's keys in request order: ``key -> value``, last one wins.

    ``entries`` yields each record after its own field checks (EINVAL, ENOENT).
    ``sequence``, if given, receives every record's key in request order,
    repeats included (the changelog has one PUT per request record).
    """
    staged: dict[int, V] = {}
    for key, value in entries:
        if not replace and (key in staged or key in existing):
            raise TableError(wire.EEXIST, f"key {key:#x} exists")
        staged[key] = value
        if sequence is not None:
            sequence.append(key)
    return staged


def stage_deletes(keys: Iterable[int], missing_ok: bool, existing: KeySet,
                  busy: Callable[[int], bool] | None = None) -> list[int]:
    """Validate a bulk DEL's keys in request order: the distinct present keys,
    in request order (first occurrence)."""
    seen: dict[int, None] = {}   # a dict keeps the request order
    for key in keys:
        if key in seen:
            continue
        if key not in existing:
            if missing_ok:
                continue
            raise TableError(wire.ENOENT, f"key {key:#x} not found")
        if busy is not None and busy(key):
            raise TableError(wire.EBUSY, f"key {key:#x} in use")
        seen[key] = None
    return list(seen)
