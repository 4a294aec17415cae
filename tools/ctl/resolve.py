"""``route4 get ADDR`` / ``route6 get ADDR``: the matching route and its resolved nexthop.

The concept, as ``ip route get``: the longest prefix match (ROUTE4_GET or
ROUTE6_GET) is shown with the nexthop it resolves to (NH_GET of its nh_id):
its type, gateway, interface and VRF.  Two requests, not one snapshot: a
nexthop deleted between them (only possible once the route is gone too)
shows as ``-`` cells, ``null`` in JSON.

Invariants: the row is the route listing's four cells then ``TYPE GATEWAY
IFACE NH_VRF``; the JSON object is the route listing's, plus ``"nexthop"``,
the nexthop listing's object.
"""

from __future__ import annotations

import json
from typing import Any

from api import wire
from api.client import Client
from api.client_errors import ApiCallError, NotFound
from api.text_grammar import NEXTHOP, TextTable
from api.text_view import View

Row = tuple[Any, ...]
NEXTHOP_CELLS = ("TYPE", "GATEWAY", "IFACE", "NH_VRF")


def resolve(client: Client, table: TextTable, payload: bytes) -> tuple[Row, Row | None]:
    """The route matching the GET ``payload``, and its nexthop (None if gone)."""
    route = table.record.unpack(client.call(table.req(wire.OP_GET), payload))
    try:
        raw = client.call(wire.NH_GET, wire.NH_GET_REQ.pack(route[-1]))
    except NotFound:
        return route, None
    return route, NEXTHOP.record.unpack(raw)


def resolved_view(table: TextTable) -> View:
    """A view of (route, nexthop) pairs: the route's cells, then the nexthop's."""
    route_view, nh_view = table.view, NEXTHOP.view

    def rows(pairs: list[Row]) -> list[Row]:
        out = []
        for route, nexthop in pairs:
            cells = ("-",) * 4
            if nexthop is not None:
                _id, vrf, kind, gateway, iface, _mac = nh_view.rows([nexthop])[0]
                cells = (kind, gateway, iface, vrf)
            out.append(route_view.rows([route])[0] + cells)
        return out

    def json_lines(pairs: list[Row]) -> list[str]:
        out = []
        for route, nexthop in pairs:
            obj = json.loads(route_view.json_lines([route])[0])
            obj["nexthop"] = None if nexthop is None else \
                json.loads(nh_view.json_lines([nexthop])[0])
            out.append(json.dumps(obj) + "\n")
        return out

    return View(route_view.columns + NEXTHOP_CELLS, rows, json_lines)


def no_route(words: list[str], exc: ApiCallError) -> str:
    """What ENOENT means for a route GET: ``no route to 10.1.2.3 in vrf 0``."""
    vrf = words[words.index("vrf") + 1] if "vrf" in words[1:-1] else "0"
    return f"no route to {words[0]} in vrf {vrf}" if exc.status == wire.ENOENT else ""
