"""reactorctl's command text -> request payloads, over the library's record grammar.

The concept: the grammar of records (add lines, DEL/GET words, ``--after``
key tokens, one ``Table`` per table) is the library's ``api.text_grammar``,
shared with the typed client's ``api.text``; this module adds what only the
command line has: a request's flags word (``--replace``, ``--missing-ok``),
the LIST scope keyword and ``--max``/``--after``, the FLUSH scope.  Nothing
here does I/O.

Invariants:
- a payload builder returns a complete request payload, or raises
  ``CtlSyntaxError`` (the grammar's ``TextError``), one line naming the bad
  token, before anything is sent;
- the names reactorctl and its tests use (``Table``, ``TABLES``, ``NEXTHOP``
  ... ``CONNTRACK``, ``options``, ``parse_any_addr``) are the library's objects,
  not copies.
"""

from __future__ import annotations

from api import wire
from api.text_grammar import CONNTRACK, FDB, NEXTHOP, ROUTE4, ROUTE6, TABLES, TextTable
from api.text_words import BRIDGE, IFACE, VRF, TextError, Words, options, parse_any_addr

Table = TextTable
CtlSyntaxError = TextError

__all__ = ["Table", "TABLES", "NEXTHOP", "ROUTE4", "ROUTE6", "FDB", "CONNTRACK",
           "CtlSyntaxError", "options", "parse_any_addr", "add_payload", "del_payload",
           "scope_of", "list_payload", "flush_payload"]


def add_payload(table: Table, words: Words, *, replace: bool = False) -> bytes:
    return wire.BULK_FLAGS.pack(wire.ADD_REPLACE if replace else 0) + table.add(words)


def del_payload(table: Table, words: Words, *, missing_ok: bool = False) -> bytes:
    return wire.BULK_FLAGS.pack(wire.DEL_MISSING_OK if missing_ok else 0) + table.delete(words)


def scope_of(table: Table, words: Words) -> int:
    """``[vrf V | bridge B | iface I]`` -> the scope, or SCOPE_ALL."""
    parse = {"vrf": VRF, "bridge": BRIDGE, "iface": IFACE}[table.scope]
    scope: int = options(words, {table.scope: parse}).get(table.scope, wire.SCOPE_ALL)
    return scope


def list_payload(table: Table, words: Words, *, max_count: int = 0,
                 after: str | None = None) -> bytes:
    scope = scope_of(table, words)
    if after is None:
        return wire.LIST_REQ.pack(max_count, scope, 0)
    return wire.LIST_REQ.pack(max_count, scope, wire.LIST_AFTER) + table.parse_key(after)


def flush_payload(table: Table, words: Words) -> bytes:
    return wire.FLUSH_REQ.pack(scope_of(table, words))
