"""Staging of bulk requests: the wire-v1 §4 order in which records fail.

The concept: a bulk ADD or DEL is all or nothing, so its records are staged
(validated in request order, nothing applied) and the table applies the
staged result in one step.  The order of failure is §4's: request order;
within a record EINVAL, then ENOENT, then EEXIST / EBUSY; the later
occurrence of a repeated key is the failing one.  The field checks (EINVAL,
ENOENT) are the table's own, done by the iterator it passes in, so a record's
EEXIST is decided before the next record is read.  The ``TableError`` of the
failing record gets its index in the request (wire-v1 section 2), whichever
check raised it: the iterators yield exactly one item per record.

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


def _hex(key: int) -> str:
    return f"key {key:#x}"


def stage_adds(entries: Iterable[tuple[int, V]], replace: bool, existing: KeySet,
               name: Callable[[int], str] = _hex,
               sequence: list[int] | None = None) -> dict[int, V]:
    """Validate a bulk ADD's keys in request order: ``key -> value``, last one wins.

    ``entries`` yields each record after its own field checks (EINVAL, ENOENT)
    and raises ``TableError`` for the first that fails; the error gets that
    record's index.  ``name(key)`` names an object in the EEXIST reason.
    ``sequence``, if given, receives every record's key in request order,
    repeats included (the changelog has one PUT per request record).
    """
    staged: dict[int, V] = {}
    index = 0
    try:
        for key, value in entries:
            if not replace and (key in staged or key in existing):
                raise TableError(wire.EEXIST, f"{name(key)} already exists")
            staged[key] = value
            if sequence is not None:
                sequence.append(key)
            index += 1
    except TableError as error:
        if error.index is None:
            error.index = index
        raise
    return staged


def stage_deletes(keys: Iterable[int], missing_ok: bool, existing: KeySet,
                  busy: Callable[[int], str] | None = None,
                  name: Callable[[int], str] = _hex) -> list[int]:
    """Validate a bulk DEL's keys in request order: the distinct present keys,
    in request order (first occurrence).

    ``keys`` yields one key per record (after its field checks); ``busy(key)``
    says why a present key cannot go (EBUSY), or ``""``; ``name(key)`` names an
    object in the ENOENT reason.  An error gets the failing record's index.
    """
    seen: dict[int, None] = {}   # a dict keeps the request order
    index = 0
    try:
        for key in keys:
            if key not in seen:
                if key not in existing:
                    if not missing_ok:
                        raise TableError(wire.ENOENT, f"{name(key)} does not exist")
                else:
                    why = busy(key) if busy is not None else ""
                    if why:
                        raise TableError(wire.EBUSY, why)
                    seen[key] = None
            index += 1
    except TableError as error:
        if error.index is None:
            error.index = index
        raise
    return list(seen)
