"""Record text for typed records: reactorctl's grammar on ``api.records`` dataclasses.

The concept: the text a person reads and writes for a record is the one of
reactorctl, from the one grammar both use (``api.text_grammar``, over wire
tuples): ``parse(Route4, "10.0.0.0/8 via 1 vrf 2")`` reads an add line (the
arguments of ``reactorctl route4 add``, a line of ``route4 load``),
``line(record)`` writes one, ``cells`` and ``as_json`` are what ``list`` and
``--json list`` print, ``key_text``/``parse_key`` are the ``--after`` token.

Invariants:
- ``parse(type(r), line(r)) == r`` for every record the grammar can express
  (daemon-set fields read back as 0; a blackhole's or reject's MAC is not
  written);
- bad text raises ``TextError`` (a ``ValueError``), one line naming the bad
  token; ``parse_lines`` adds the line number.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, TypeVar, overload

from api.records import (
    ConntrackEntry, ConntrackKey, FdbEntry, FdbKey, Key, Nexthop, Record, Route4, Route4Key,
    Route6, Route6Key, TableRecord,
)
from api.text_grammar import TABLES, TextTable
from api.text_words import TextError

__all__ = ["TextError", "parse", "parse_lines", "line", "columns", "cells", "as_json",
           "key_text", "parse_key"]

R = TypeVar("R", bound=TableRecord[Any])


def _grammar(kind: type[TableRecord[Any]]) -> TextTable:
    return TABLES[kind.TABLE]


def parse(kind: type[R], text: str) -> R:
    """The record of an add line: ``parse(Nexthop, "1 gw 192.0.2.1 iface 2")``."""
    return kind.from_wire(_grammar(kind).add(text.split()))


def parse_lines(kind: type[R], lines: Iterable[str]) -> Iterator[R]:
    """The records of a load file's lines, lazily; blank lines and ``#`` comments skipped.

    A bad line raises ``TextError("line N: ...")`` when it is reached.
    """
    add = _grammar(kind).add
    for number, text in enumerate(lines, 1):
        words = text.partition("#")[0].split()
        if not words:
            continue
        try:
            raw = add(words)
        except TextError as exc:
            raise TextError(f"line {number}: {exc}") from None
        yield kind.from_wire(raw)


def line(record: Record) -> str:
    """The add line that makes ``record`` (what ``parse`` reads)."""
    return _grammar(type(record)).line(record.to_tuple())


def columns(kind: type[Record]) -> tuple[str, ...]:
    """The column names of reactorctl's listing of ``kind``."""
    return _grammar(kind).view.columns


def cells(record: Record) -> tuple[Any, ...]:
    """The cells of ``record``'s row in reactorctl's listing (see ``columns``)."""
    return _grammar(type(record)).view.rows([record.to_tuple()])[0]


def as_json(record: Record) -> dict[str, Any]:
    """The JSON object ``reactorctl --json ... list`` prints for ``record``."""
    obj: dict[str, Any] = json.loads(_grammar(type(record)).view.json_lines(
        [record.to_tuple()])[0])
    return obj


def key_text(record: Record) -> str:
    """The ``--after`` token of ``record``'s key (``10.0.0.0/8@vrf2``)."""
    return _grammar(type(record)).key_text(record.to_tuple())


@overload
def parse_key(kind: type[Nexthop], text: str) -> int: ...
@overload
def parse_key(kind: type[Route4], text: str) -> Route4Key: ...
@overload
def parse_key(kind: type[Route6], text: str) -> Route6Key: ...
@overload
def parse_key(kind: type[FdbEntry], text: str) -> FdbKey: ...
@overload
def parse_key(kind: type[ConntrackEntry], text: str) -> ConntrackKey: ...


def parse_key(kind: type[Record], text: str) -> Key:
    """The key of an ``--after`` token (as in reactorctl's EXFULL hint)."""
    grammar = _grammar(kind)
    row = grammar.record.unpack(grammar.parse_key(text))
    if kind is Nexthop:
        nh_id: int = row[0]
        return nh_id
    if kind is Route4:
        return Route4Key.from_tuple(row)
    if kind is Route6:
        return Route6Key.from_tuple(row)
    if kind is FdbEntry:
        return FdbKey.from_tuple(row)
    return ConntrackKey.from_tuple(row)
