"""The grammar of each table's record text: add lines, DEL and GET words, key tokens.

The concept: each table (nexthop, route4, route6, fdb, conntrack) is one
``TextTable`` value holding everything textual about it: how ADD/DEL/GET/LIST
arguments become wire records, how a record is written back as the add line
that makes it, how its key is written as, and read back from, the single
``--after`` token, and its ``View`` (``api.text_view``).  reactorctl's
arguments and load files and the typed library's ``api.text`` functions are
this one grammar.  Nothing here does I/O.

Invariants:
- a parser returns records that are valid for the request, or raises
  ``TextError``, whose text is one line naming the bad token: ranges,
  host bits and address families are checked here, before anything is sent;
- ``add(line(t).split())`` is ``t`` for every record ``t`` the grammar can
  express (the fields set by the daemon, fdb last_seen_ns and conntrack id and
  last_update_ns, read back as 0);
- ``parse_key(key_text(t))`` is a record with the key of ``t``: the token the
  EXFULL hint prints continues a listing exactly after its last record;
- the common line of a route load file (``PREFIX via NH``) takes a short
  path with the same checks and the same errors as the general one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any, Callable, Mapping

from api import wire
from api.text_view import CONNTRACK_VIEW, FDB_VIEW, NEXTHOP_VIEW, ROUTE4_VIEW, ROUTE6_VIEW, \
    View
from api.text_words import (
    BRIDGE, IFACE, NH_ID, NH_TYPES, ORIGIN, PLEN, PROTO_NAMES, STATE, U32, VLAN, VRF,
    TextError, Words, bad, fmt_addr, fmt_endpoint, leading, name_of, options, parse_addr,
    parse_any_addr, parse_endpoint, parse_mac, parse_prefix, parse_proto, parse_uint,
    split_suffix, with_options, with_suffix, word,
)

Row = tuple[Any, ...]
_ZERO16, _ZERO6 = bytes(16), bytes(6)


@dataclass(frozen=True)
class TextTable:
    """Everything textual about one table; see the module docstring."""

    name: str
    module: int
    record: struct.Struct
    scope: str                                  # the LIST scope keyword
    view: View                                  # records -> cells, JSON lines
    add: Callable[[Words], bytes]               # ADD arguments -> one record
    delete: Callable[[Words], bytes]            # DEL arguments -> DEL records
    line: Callable[[Row], str]                  # record -> its ADD arguments
    key_text: Callable[[Row], str]              # record -> --after token
    parse_key: Callable[[str], bytes]           # --after token -> a record
    get: Callable[[Words], bytes] | None = None  # GET arguments -> payload
    flush: bool = False

    def req(self, op: int) -> int:
        return wire.msg_type(self.module, op)


# -- nexthop --------------------------------------------------------------------------


def _nh_add(words: Words) -> bytes:
    nh_id = NH_ID(word(words, 0, "nexthop id"))
    kind = word(words, 1, "nexthop type (gw ADDR, blackhole or reject)")
    spec: dict[str, Callable[[str], Any]] = {"iface": IFACE, "vrf": VRF}
    if kind == "gw":
        family, addr = parse_any_addr(word(words, 2, "gateway address"), "gateway")
        spec["mac"], rest, nh_type = parse_mac, words[3:], wire.NH_GATEWAY
    elif kind in ("blackhole", "reject"):
        family, addr, rest = 0, _ZERO16, words[2:]
        nh_type = wire.NH_BLACKHOLE if kind == "blackhole" else wire.NH_REJECT
    else:
        raise bad("nexthop type", kind, "expected gw, blackhole or reject")
    opts = options(rest, spec)
    return wire.NEXTHOP.pack(nh_id, opts.get("vrf", 0), opts.get("iface", 0), nh_type,
                             family, addr, opts.get("mac", _ZERO6))


def _nh_delete(words: Words) -> bytes:
    word(words, 0, "nexthop id")
    return b"".join(wire.U32.pack(NH_ID(w)) for w in words)


def _nh_get(words: Words) -> bytes:
    nh_id = NH_ID(word(words, 0, "nexthop id"))
    options(words[1:], {})
    return wire.NH_GET_REQ.pack(nh_id)


def _nh_line(t: Row) -> str:
    nh_id, vrf, iface, nh_type, family, addr, mac = t
    head = f"{nh_id} {name_of(NH_TYPES, nh_type)}"
    if nh_type == wire.NH_GATEWAY:
        head += " " + fmt_addr(family, addr)
    text = with_options(head, iface=iface, vrf=vrf)
    if nh_type == wire.NH_GATEWAY and mac != _ZERO6:
        text += f" mac {mac.hex(':')}"
    return text


NEXTHOP = TextTable(
    "nexthop", wire.MODULE_NEXTHOP, wire.NEXTHOP, "vrf", NEXTHOP_VIEW,
    add=_nh_add,
    delete=_nh_delete,
    line=_nh_line,
    key_text=lambda t: str(t[0]),
    parse_key=lambda text: wire.NEXTHOP.pack(parse_uint(text, "nexthop id", U32), 0, 0, 0, 0,
                                             _ZERO16, _ZERO6),
    get=_nh_get,
)


# -- route4, route6 -----------------------------------------------------------------------


def _route_table(family: int) -> TextTable:
    """route4 or route6: the same grammar over a different prefix width."""
    rec = wire.ROUTE4 if family == 4 else wire.ROUTE6
    get_req = wire.ROUTE4_GET_REQ if family == 4 else wire.ROUTE6_GET_REQ
    ntoa: Callable[[bytes], str] = inet_ntoa if family == 4 else \
        (lambda raw: inet_ntop(AF_INET6, raw))

    def add(words: Words) -> bytes:
        if len(words) < 3 or words[1] != "via":     # the error, in token order
            parse_prefix(word(words, 0, "prefix"), family)
            via = word(words, 1, "'via NH_ID'")
            raise TextError(f"unexpected {via!r} (expected via)")
        prefix, plen = parse_prefix(words[0], family)
        nh_id = NH_ID(words[2])
        if len(words) == 3:          # the common line of a load file: no options
            return rec.pack(0, plen, 0, prefix, nh_id)
        opts = options(words[3:], {"vrf": VRF, "origin": ORIGIN})
        return rec.pack(opts.get("vrf", 0), plen, opts.get("origin", 0), prefix, nh_id)

    def delete(words: Words) -> bytes:
        n = leading(words, {"vrf": 0}, "prefix")
        vrf = options(words[n:], {"vrf": VRF}).get("vrf", 0)
        return b"".join(rec.pack(vrf, plen, 0, prefix, 0)
                        for prefix, plen in (parse_prefix(w, family) for w in words[:n]))

    def get(words: Words) -> bytes:
        addr = parse_addr(word(words, 0, "address"), family)
        return get_req.pack(options(words[1:], {"vrf": VRF}).get("vrf", 0), addr)

    def line(t: Row) -> str:
        vrf, plen, origin, prefix, nh_id = t
        return with_options(f"{ntoa(prefix)}{PLEN[plen]} via {nh_id}", vrf=vrf, origin=origin)

    def parse_key(text: str) -> bytes:
        head, parts = split_suffix(text, ("vrf",))
        prefix, plen = parse_prefix(head, family)
        return rec.pack(parts.get("vrf", 0), plen, 0, prefix, 0)

    return TextTable(
        f"route{family}", wire.MODULE_ROUTE4 if family == 4 else wire.MODULE_ROUTE6, rec,
        "vrf", ROUTE4_VIEW if family == 4 else ROUTE6_VIEW, add=add, delete=delete,
        line=line, key_text=lambda t: with_suffix(ntoa(t[3]) + PLEN[t[1]], vrf=t[0]),
        parse_key=parse_key, get=get)


ROUTE4, ROUTE6 = _route_table(4), _route_table(6)


# -- fdb ---------------------------------------------------------------------------------

_FDB_KEYS = {"bridge": BRIDGE, "vlan": VLAN}


def _fdb_add(words: Words) -> bytes:
    mac = parse_mac(word(words, 0, "MAC address"))
    opts = options(words[1:], {**_FDB_KEYS, "iface": IFACE}, flags=("static", "learned"))
    if "iface" not in opts:
        raise TextError("missing 'iface I'")
    if "static" in opts and "learned" in opts:
        raise TextError("'static' and 'learned' exclude each other")
    flags = wire.FDB_LEARNED if "learned" in opts else wire.FDB_STATIC
    return wire.FDB.pack(opts.get("bridge", 0), opts.get("vlan", 0), mac, opts["iface"],
                         flags, 0)


def _fdb_delete(words: Words) -> bytes:
    n = leading(words, _FDB_KEYS, "MAC address")
    opts = options(words[n:], _FDB_KEYS)
    return b"".join(wire.FDB.pack(opts.get("bridge", 0), opts.get("vlan", 0), parse_mac(w),
                                  0, 0, 0) for w in words[:n])


def _fdb_line(t: Row) -> str:
    bridge, vlan, mac, iface, flags, _ = t
    text = with_options(mac.hex(":"), bridge=bridge, vlan=vlan) + f" iface {iface}"
    return text + " learned" if flags == wire.FDB_LEARNED else text


def _fdb_key(text: str) -> bytes:
    head, parts = split_suffix(text, ("bridge", "vlan"))
    return wire.FDB.pack(parts.get("bridge", 0), parts.get("vlan", 0), parse_mac(head), 0, 0, 0)


FDB = TextTable(
    "fdb", wire.MODULE_FDB, wire.FDB, "bridge", FDB_VIEW, add=_fdb_add, delete=_fdb_delete,
    line=_fdb_line, key_text=lambda t: with_suffix(t[2].hex(":"), bridge=t[0], vlan=t[1]),
    parse_key=_fdb_key, flush=True)


# -- conntrack ------------------------------------------------------------------------------


def _ct_flow(words: Words) -> tuple[tuple[int, int, bytes, bytes, int, int], Words]:
    """``PROTO SRC:SPORT [->|to] DST:DPORT`` -> (af, proto, src, dst, sport, dport), rest."""
    proto = parse_proto(word(words, 0, "protocol"))
    family, src, sport = parse_endpoint(word(words, 1, "source ADDR:PORT"), "source")
    i = 3 if len(words) > 2 and words[2] in ("->", "to") else 2
    dst_token = word(words, i, "destination ADDR:PORT")
    if dst_token == "-":
        raise bad("destination", dst_token, "write 'to' (an unquoted -> is a shell redirection)")
    dst_family, dst, dport = parse_endpoint(dst_token, "destination")
    if dst_family != family:
        raise bad("destination", dst_token, "not the source's address family")
    return (family, proto, src, dst, sport, dport), words[i + 1:]


def _ct_record(words: Words, spec: Mapping[str, Callable[[str], Any]]) -> bytes:
    (family, proto, src, dst, sport, dport), rest = _ct_flow(words)
    opts = options(rest, spec)
    return wire.CONNTRACK.pack(0, opts.get("iface", 0), family, proto, src, dst, sport, dport,
                               opts.get("state", 0), 0)


def _ct_line(t: Row) -> str:
    _, iface, family, proto, src, dst, sport, dport, state, _ = t
    flow = f"{name_of(PROTO_NAMES, proto)} {fmt_endpoint(family, src, sport)} to " \
           f"{fmt_endpoint(family, dst, dport)}"
    return with_options(flow, iface=iface, state=state)


def _ct_text(t: Row) -> str:
    _, iface, family, proto, src, dst, sport, dport = t[:8]
    flow = f"{name_of(PROTO_NAMES, proto)}/{fmt_endpoint(family, src, sport)}->" \
           f"{fmt_endpoint(family, dst, dport)}"
    return with_suffix(flow, iface=iface)


def _ct_key(text: str) -> bytes:
    head, parts = split_suffix(text, ("iface",))
    proto, slash, rest = head.partition("/")
    src, arrow, dst = rest.partition("->")
    if not (slash and arrow):
        raise bad("conntrack key", text, "expected PROTO/SRC:PORT->DST:PORT[@ifaceN]")
    return _ct_record([proto, src, dst, "iface", str(parts.get("iface", 0))], {"iface": IFACE})


CONNTRACK = TextTable(
    "conntrack", wire.MODULE_CONNTRACK, wire.CONNTRACK, "iface", CONNTRACK_VIEW,
    add=lambda words: _ct_record(words, {"iface": IFACE, "state": STATE}),
    delete=lambda words: _ct_record(words, {"iface": IFACE}),
    line=_ct_line, key_text=_ct_text, parse_key=_ct_key, flush=True)

TABLES: dict[str, TextTable] = {t.name: t for t in (NEXTHOP, ROUTE4, ROUTE6, FDB, CONNTRACK)}

