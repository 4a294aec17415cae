"""Removing entries in bulk: ``flush`` for every table, with a summary of what went.

The concept: where the wire has FLUSH (fdb, conntrack) ``flush`` is that one
atomic request, and the summary is the table's size before and after it
(STATS).  Where it has none (nexthop, route4, route6), ``flush [vrf V]`` is a
LIST of the scope, then DEL requests (MISSING_OK) of what was listed, as
large as fit: NOT atomic.  Other clients are served between the requests, an
entry added meanwhile may stay, and one deleted meanwhile by someone else is
counted as deleted by us.

Invariants:
- the summary counts exactly the entries our DEL requests named (each
  request is all or nothing); a failed request stops the flush, and the
  error says how many were deleted before it;
- a nexthop that routes still use cannot be deleted (EBUSY, whose reply
  names it: wire-v1 section 2): ``nexthop flush`` deletes the others and keeps
  it, then fails (exit 1) naming each nexthop it kept and why.
"""

from __future__ import annotations

from typing import Callable

from api import wire
from api.client import Client
from api.client_errors import ApiCallError
from api.text_grammar import TextTable
from tools.ctl.apply import per_request
from tools.ctl.failure import CommandFailed, noun, refused, why
from tools.ctl.progress import Progress

STATS_NAME = {"nexthop": "nexthops", "route4": "routes4", "route6": "routes6", "fdb": "fdb",
              "conntrack": "conntrack"}


def scope_text(table: TextTable, scope: int) -> str:
    """``vrf 2``, ``all vrfs``."""
    if scope == wire.SCOPE_ALL:
        return f"all {table.scope}s" if table.scope != "bridge" else "all bridges"
    return f"{table.scope} {scope}"


def listed_keys(client: Client, table: TextTable, scope: int) -> bytes:
    """The DEL records of every entry of ``scope`` now (one LIST)."""
    stream = client.stream(table.req(wire.OP_LIST), wire.LIST_REQ.pack(0, scope, 0))
    with stream:
        records = b"".join(stream)
    if table.module != wire.MODULE_NEXTHOP:
        return records
    return b"".join(records[i:i + 4] for i in range(0, len(records), table.record.size))


def delete_all(client: Client, table: TextTable, keys: bytes,
               busy: Callable[[bytes, ApiCallError], None] | None = None) -> int:
    """DEL (MISSING_OK) every key of ``keys``, as few requests as fit; the count.

    With ``busy``, a key refused EBUSY is handed to it and left out of the
    request, which is sent again without it.
    """
    size, head = table.del_size, wire.BULK_FLAGS.pack(wire.DEL_MISSING_OK)
    step, deleted, progress = per_request(size), 0, Progress()
    pending = [keys[i:i + step * size] for i in range(0, len(keys), step * size)]
    try:
        for chunk in pending:
            while chunk:
                try:
                    client.call(table.req(wire.OP_DEL), head + chunk)
                except ApiCallError as exc:
                    if busy is None or exc.status != wire.EBUSY or exc.index is None:
                        raise _partial(table, deleted, exc) from None
                    at = exc.index * size
                    busy(chunk[at:at + size], exc)
                    chunk = chunk[:at] + chunk[at + size:]
                    continue
                deleted += len(chunk) // size
                chunk = b""
                progress.show(f"{table.name} flush: {deleted:,} deleted")
    finally:
        progress.clear()
    return deleted


def _partial(table: TextTable, deleted: int, exc: ApiCallError) -> CommandFailed:
    return CommandFailed(f"{table.name} flush: {why(exc)}; "
                         f"{noun(table.name, deleted)} deleted before it")


def flush_listed(client: Client, table: TextTable, scope: int) -> tuple[str, list[str]]:
    """LIST + DEL: the summary line, and a line per nexthop kept because in use."""
    kept: list[str] = []

    def keep(key: bytes, exc: ApiCallError) -> None:
        kept.append(f"{table.name} flush: kept {table.name} {table.del_text(key)}: "
                    f"{why(exc)}")

    keys = listed_keys(client, table, scope)
    deleted = delete_all(client, table, keys,
                         keep if table.module == wire.MODULE_NEXTHOP else None)
    summary = f"deleted {noun(table.name, deleted)} ({scope_text(table, scope)})"
    if kept:
        summary += f"; kept {noun(table.name, len(kept))} still in use"
    return summary + "\n", kept


def flush_atomic(client: Client, table: TextTable, payload: bytes) -> str:
    """The wire's FLUSH, with the table's size before and after it."""
    scope = wire.FLUSH_REQ.unpack(payload)[0]
    before = _size(client, table)
    try:
        client.call(table.req(wire.OP_FLUSH), payload)
    except ApiCallError as exc:
        raise refused(f"{table.name} flush", exc) from None
    after = _size(client, table)
    return f"flushed {table.name} ({scope_text(table, scope)}): " \
           f"{noun(table.name, before)} before, {after:,} after\n"


def _size(client: Client, table: TextTable) -> int:
    return int(client.stats().get(STATS_NAME[table.name], 0))
