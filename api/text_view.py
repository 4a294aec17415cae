"""How table records are shown: columns and cells of a listing, and JSON lines.

The concept: one ``View`` per table turns a batch of wire tuples (the
``struct`` tuples of ``api.wire``'s record layouts) into the cells of
reactorctl's aligned listing and into its ``--json`` lines.  A batch is
converted by one comprehension or %-template, with no dispatch per record,
because a listing of a million routes goes through here.  ``api.text`` applies
the same views to single typed records.

Invariants:
- ``rows`` gives one tuple of ``len(columns)`` cells per record, in order;
- ``json_lines`` gives one line per record, a JSON object ending in ``"\\n"``;
- ages (fdb, conntrack) count from ``time.monotonic_ns()`` at the batch.
"""

from __future__ import annotations

import json
import time
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any, Callable, NamedTuple

from api.text_words import FDB_FLAGS, NH_TYPES, PLEN, PROTO_NAMES, fmt_addr, fmt_age, \
    fmt_endpoint, name_of

Row = tuple[Any, ...]
_ZERO6 = bytes(6)


class View(NamedTuple):
    """How one record type is shown: table columns, cells and JSON lines per batch."""

    columns: tuple[str, ...]
    rows: Callable[[list[Row]], list[Row]]           # records -> table cells
    json_lines: Callable[[list[Row]], list[str]]     # records -> JSON lines with "\n"


def _json_lines(objects: Callable[[Row], dict[str, Any]]) -> Callable[[list[Row]], list[str]]:
    return lambda batch: [json.dumps(objects(t)) + "\n" for t in batch]


def _nh_cells(t: Row) -> Row:
    nh_id, vrf, iface, nh_type, family, addr, mac = t
    gateway = fmt_addr(family, addr) if family in (4, 6) else "-"
    return (nh_id, vrf, name_of(NH_TYPES, nh_type), gateway, iface,
            mac.hex(":") if mac != _ZERO6 else "-")


def _nh_json(t: Row) -> dict[str, Any]:
    nh_id, vrf, iface, nh_type, family, addr, mac = t
    return {"id": nh_id, "vrf": vrf, "type": name_of(NH_TYPES, nh_type),
            "gateway": fmt_addr(family, addr) if family in (4, 6) else None,
            "iface": iface, "mac": mac.hex(":")}


NEXTHOP_VIEW = View(("ID", "VRF", "TYPE", "GATEWAY", "IFACE", "MAC"),
                    lambda batch: [_nh_cells(t) for t in batch], _json_lines(_nh_json))


def route_view(family: int) -> View:
    """route4/route6: ``inet_ntoa`` and a "/N" lookup per row, a %-template for JSON."""
    ntoa: Callable[[bytes], str] = inet_ntoa if family == 4 else \
        (lambda raw: inet_ntop(AF_INET6, raw))
    template = '{"vrf": %d, "prefix": "%s/%d", "nh_id": %d, "origin": %d}\n'
    return View(("VRF", "DESTINATION", "NEXTHOP", "ORIGIN"),
                lambda batch: [(v, ntoa(p) + PLEN[n], nh, o) for v, n, o, p, nh in batch],
                lambda batch: [template % (v, ntoa(p), n, nh, o) for v, n, o, p, nh in batch])


ROUTE4_VIEW, ROUTE6_VIEW = route_view(4), route_view(6)


def _fdb_rows(batch: list[Row]) -> list[Row]:
    now = time.monotonic_ns()
    return [(b, v, m.hex(":"), i, name_of(FDB_FLAGS, f), fmt_age(s, now))
            for b, v, m, i, f, s in batch]


def _fdb_json(t: Row) -> dict[str, Any]:
    bridge, vlan, mac, iface, flags, seen = t
    return {"bridge": bridge, "vlan": vlan, "mac": mac.hex(":"), "iface": iface,
            "flags": name_of(FDB_FLAGS, flags), "last_seen_ns": seen}


FDB_VIEW = View(("BRIDGE", "VLAN", "MAC", "IFACE", "FLAGS", "AGE"), _fdb_rows,
                _json_lines(_fdb_json))


def _ct_rows(batch: list[Row]) -> list[Row]:
    now = time.monotonic_ns()
    return [(i, ifc, name_of(PROTO_NAMES, p), fmt_endpoint(af, s, sp), fmt_endpoint(af, d, dp),
             st, fmt_age(ts, now)) for i, ifc, af, p, s, d, sp, dp, st, ts in batch]


def _ct_json(t: Row) -> dict[str, Any]:
    ct_id, iface, af, proto, src, dst, sport, dport, state, updated = t
    return {"id": ct_id, "iface": iface, "af": af, "proto": name_of(PROTO_NAMES, proto),
            "src": fmt_addr(af, src), "sport": sport, "dst": fmt_addr(af, dst), "dport": dport,
            "state": state, "last_update_ns": updated}


CONNTRACK_VIEW = View(("ID", "IFACE", "PROTO", "SOURCE", "DESTINATION", "STATE", "AGE"),
                      _ct_rows, _json_lines(_ct_json))
