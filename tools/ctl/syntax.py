"""Operator text <-> wire records: the grammar of reactorctl's arguments and output.

The concept: each table (nexthop, route4, route6, fdb, conntrack) is one
``Table`` value holding everything textual about it: how ADD/DEL/GET/LIST
arguments become request records, how a record's key is written as, and read
back from, the single ``--after`` token, and its ``View`` (records -> cells
and JSON lines, defined in ``tools.ctl.output``).  Nothing here does I/O.

Invariants:
- a parser returns records that are valid for the request, or raises
  ``CtlSyntaxError``, whose text is one line naming the bad token: ranges,
  host bits and address families are checked here, before anything is sent;
- ``parse_key(key_text(t))`` is a record with the key of ``t``: the token the
  EXFULL hint prints continues a listing exactly after its last record;
- the common line of a route load file (``PREFIX via NH``) takes a short
  path with the same checks and the same errors as the general one.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from socket import AF_INET, AF_INET6, inet_ntoa, inet_ntop, inet_pton
from typing import Any, Callable, Mapping, Sequence

from api import wire
from tools.ctl.output import (
    CONNTRACK_VIEW, FDB_VIEW, NEXTHOP_VIEW, PLEN, PROTO_NAMES, View, fmt_endpoint, name_of,
    route_view,
)

Row = tuple[Any, ...]
Words = Sequence[str]

U8, U16, U32 = 0xFF, 0xFFFF, 0xFFFFFFFF
ID16 = U16 - 1          # vrf, bridge, iface: 0xffff means "all" on the wire
PROTOS = {name: number for number, name in PROTO_NAMES.items()}
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\Z")
_ZERO16, _ZERO6 = bytes(16), bytes(6)


class CtlSyntaxError(ValueError):
    """Bad command text; ``str()`` is one line naming the bad token."""


def _bad(what: str, token: str, why: str = "") -> CtlSyntaxError:
    return CtlSyntaxError(f"bad {what} {token!r}" + (f": {why}" if why else ""))


def _word(words: Words, index: int, what: str) -> str:
    if index >= len(words):
        raise CtlSyntaxError(f"missing {what}")
    return words[index]


# -- tokens ---------------------------------------------------------------------


def parse_uint(token: str, what: str, maximum: int, minimum: int = 0) -> int:
    """A decimal integer in ``minimum..maximum``."""
    if not (token.isascii() and token.isdigit()):
        raise _bad(what, token, "not a number")
    value = int(token)
    if not minimum <= value <= maximum:
        raise _bad(what, token, f"not in {minimum}..{maximum}")
    return value


def _uint(what: str, maximum: int, minimum: int = 0) -> Callable[[str], int]:
    return lambda token: parse_uint(token, what, maximum, minimum)


VRF, IFACE, BRIDGE = _uint("vrf", ID16), _uint("iface", ID16), _uint("bridge", ID16)
VLAN, ORIGIN, STATE = _uint("vlan", 4095), _uint("origin", U8), _uint("state", U8)
NH_ID = _uint("nexthop id", U32, 1)


def parse_addr(token: str, family: int, what: str = "") -> bytes:
    """Raw network-order bytes of an IPv4 (4) or IPv6 (16) address."""
    try:
        return inet_pton(AF_INET if family == 4 else AF_INET6, token)
    except (OSError, ValueError):
        raise _bad(what or f"IPv{family} address", token) from None


def parse_any_addr(token: str, what: str) -> tuple[int, bytes]:
    """(family, 16 bytes): IPv4 in the first 4 bytes, the rest zero."""
    family = 6 if ":" in token else 4
    return family, parse_addr(token, family, what).ljust(16, b"\0")


def parse_prefix(token: str, family: int) -> tuple[bytes, int]:
    """(prefix bytes, length) of ``ADDR/LEN`` or ``ADDR`` (a host prefix)."""
    what, bits = f"IPv{family} prefix", (32 if family == 4 else 128)
    addr, slash, length = token.partition("/")
    try:
        raw = parse_addr(addr, family, what)
    except CtlSyntaxError:
        raise _bad(what, token) from None
    if not slash:
        plen = bits
    elif length.isascii() and length.isdigit() and int(length) <= bits:
        plen = int(length)
    else:
        raise _bad(what, token, f"length not in 0..{bits}")
    if int.from_bytes(raw, "big") & ((1 << (bits - plen)) - 1):
        raise _bad(what, token, "host bits set")
    return raw, plen


def parse_mac(token: str) -> bytes:
    if not _MAC.match(token):
        raise _bad("MAC address", token, "expected xx:xx:xx:xx:xx:xx")
    return bytes.fromhex(token.replace(":", ""))


def parse_proto(token: str) -> int:
    number = PROTOS.get(token.lower())
    return number if number is not None else parse_uint(token, "protocol", U8)


def parse_endpoint(token: str, what: str) -> tuple[int, bytes, int]:
    """(family, 16-byte address, port) of ``A.B.C.D:PORT`` or ``[IPV6]:PORT``."""
    if token.startswith("["):
        addr, sep, port = token[1:].partition("]:")
        family = 6
    else:
        addr, sep, port = token.rpartition(":")
        family = 4
    if not sep:
        raise _bad(what, token, "expected ADDR:PORT or [IPV6]:PORT")
    raw = parse_addr(addr, family, what).ljust(16, b"\0")
    return family, raw, parse_uint(port, f"{what} port", U16)


def options(words: Words, spec: Mapping[str, Callable[[str], Any]],
            flags: Sequence[str] = ()) -> dict[str, Any]:
    """``keyword value`` pairs (each at most once) and bare flag words, in any order."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in out:
            raise CtlSyntaxError(f"{word!r} given twice")
        if word in flags:
            out[word], i = True, i + 1
            continue
        parse = spec.get(word)
        if parse is None:
            expected = ", ".join([*spec, *flags]) or "nothing more"
            raise CtlSyntaxError(f"unexpected {word!r} (expected {expected})")
        out[word] = parse(_word(words, i + 1, f"value after {word!r}"))
        i += 2
    return out


def _leading(words: Words, keywords: Mapping[str, object], what: str) -> int:
    """How many words come before the first keyword (at least one)."""
    n = next((i for i, w in enumerate(words) if w in keywords), len(words))
    if n == 0:
        raise CtlSyntaxError(f"missing {what}")
    return n


def _suffix(text: str, names: Sequence[str]) -> tuple[str, dict[str, int]]:
    """Split ``HEAD@name1N/name2M`` of a key token into HEAD and its numbers."""
    head, at, tail = text.partition("@")
    found: dict[str, int] = {}
    for part in tail.split("/") if at else ():
        name = next((n for n in names if part.startswith(n) and n not in found), None)
        if name is None:
            raise _bad("key suffix", "@" + tail, f"expected @{'/'.join(n + 'N' for n in names)}")
        found[name] = parse_uint(part[len(name):], name, ID16 if name != "vlan" else 4095)
    return head, found


def _with_suffix(text: str, **parts: int) -> str:
    """``text@name1N/name2M`` with the zero parts left out."""
    tail = "/".join(f"{name}{value}" for name, value in parts.items() if value)
    return f"{text}@{tail}" if tail else text


# -- tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Everything textual about one table; see the module docstring."""

    name: str
    module: int
    record: struct.Struct
    scope: str                                  # the LIST scope keyword
    view: View                                  # records -> cells, JSON lines
    add: Callable[[Words], bytes]               # ADD arguments -> one record
    delete: Callable[[Words], bytes]            # DEL arguments -> DEL records
    key_text: Callable[[Row], str]              # record -> --after token
    parse_key: Callable[[str], bytes]           # --after token -> a record
    get: Callable[[Words], bytes] | None = None  # GET arguments -> payload
    flush: bool = False

    def req(self, op: int) -> int:
        return wire.msg_type(self.module, op)


def _nh_add(words: Words) -> bytes:
    nh_id = NH_ID(_word(words, 0, "nexthop id"))
    kind = _word(words, 1, "nexthop type (gw ADDR, blackhole or reject)")
    spec: dict[str, Callable[[str], Any]] = {"iface": IFACE, "vrf": VRF}
    if kind == "gw":
        family, addr = parse_any_addr(_word(words, 2, "gateway address"), "gateway")
        spec["mac"], rest, nh_type = parse_mac, words[3:], wire.NH_GATEWAY
    elif kind in ("blackhole", "reject"):
        family, addr, rest = 0, _ZERO16, words[2:]
        nh_type = wire.NH_BLACKHOLE if kind == "blackhole" else wire.NH_REJECT
    else:
        raise _bad("nexthop type", kind, "expected gw, blackhole or reject")
    opts = options(rest, spec)
    return wire.NEXTHOP.pack(nh_id, opts.get("vrf", 0), opts.get("iface", 0), nh_type,
                             family, addr, opts.get("mac", _ZERO6))


def _nh_delete(words: Words) -> bytes:
    _word(words, 0, "nexthop id")
    return b"".join(wire.U32.pack(NH_ID(w)) for w in words)


def _nh_get(words: Words) -> bytes:
    nh_id = NH_ID(_word(words, 0, "nexthop id"))
    options(words[1:], {})
    return wire.NH_GET_REQ.pack(nh_id)


NEXTHOP = Table(
    "nexthop", wire.MODULE_NEXTHOP, wire.NEXTHOP, "vrf", NEXTHOP_VIEW,
    add=_nh_add,
    delete=_nh_delete,
    key_text=lambda t: str(t[0]),
    parse_key=lambda text: wire.NEXTHOP.pack(parse_uint(text, "nexthop id", U32), 0, 0, 0, 0,
                                             _ZERO16, _ZERO6),
    get=_nh_get,
)


def _route_table(family: int) -> Table:
    """route4 or route6: the same grammar over a different prefix width."""
    rec = wire.ROUTE4 if family == 4 else wire.ROUTE6
    get_req = wire.ROUTE4_GET_REQ if family == 4 else wire.ROUTE6_GET_REQ
    ntoa: Callable[[bytes], str] = inet_ntoa if family == 4 else \
        (lambda raw: inet_ntop(AF_INET6, raw))

    def add(words: Words) -> bytes:
        if len(words) < 3 or words[1] != "via":     # the error, in token order
            parse_prefix(_word(words, 0, "prefix"), family)
            via = _word(words, 1, "'via NH_ID'")
            raise CtlSyntaxError(f"unexpected {via!r} (expected via)")
        prefix, plen = parse_prefix(words[0], family)
        nh_id = NH_ID(words[2])
        if len(words) == 3:          # the common line of a load file: no options
            return rec.pack(0, plen, 0, prefix, nh_id)
        opts = options(words[3:], {"vrf": VRF, "origin": ORIGIN})
        return rec.pack(opts.get("vrf", 0), plen, opts.get("origin", 0), prefix, nh_id)

    def delete(words: Words) -> bytes:
        n = _leading(words, {"vrf": 0}, "prefix")
        vrf = options(words[n:], {"vrf": VRF}).get("vrf", 0)
        return b"".join(rec.pack(vrf, plen, 0, prefix, 0)
                        for prefix, plen in (parse_prefix(w, family) for w in words[:n]))

    def get(words: Words) -> bytes:
        addr = parse_addr(_word(words, 0, "address"), family)
        return get_req.pack(options(words[1:], {"vrf": VRF}).get("vrf", 0), addr)

    def parse_key(text: str) -> bytes:
        head, parts = _suffix(text, ("vrf",))
        prefix, plen = parse_prefix(head, family)
        return rec.pack(parts.get("vrf", 0), plen, 0, prefix, 0)

    return Table(
        f"route{family}", wire.MODULE_ROUTE4 if family == 4 else wire.MODULE_ROUTE6, rec,
        "vrf", route_view(family), add=add, delete=delete,
        key_text=lambda t: _with_suffix(ntoa(t[3]) + PLEN[t[1]], vrf=t[0]),
        parse_key=parse_key, get=get)


ROUTE4, ROUTE6 = _route_table(4), _route_table(6)
_FDB_KEYS = {"bridge": BRIDGE, "vlan": VLAN}


def _fdb_add(words: Words) -> bytes:
    mac = parse_mac(_word(words, 0, "MAC address"))
    opts = options(words[1:], {**_FDB_KEYS, "iface": IFACE}, flags=("static", "learned"))
    if "iface" not in opts:
        raise CtlSyntaxError("missing 'iface I'")
    if "static" in opts and "learned" in opts:
        raise CtlSyntaxError("'static' and 'learned' exclude each other")
    flags = wire.FDB_LEARNED if "learned" in opts else wire.FDB_STATIC
    return wire.FDB.pack(opts.get("bridge", 0), opts.get("vlan", 0), mac, opts["iface"],
                         flags, 0)


def _fdb_delete(words: Words) -> bytes:
    n = _leading(words, _FDB_KEYS, "MAC address")
    opts = options(words[n:], _FDB_KEYS)
    return b"".join(wire.FDB.pack(opts.get("bridge", 0), opts.get("vlan", 0), parse_mac(w),
                                  0, 0, 0) for w in words[:n])


def _fdb_key(text: str) -> bytes:
    head, parts = _suffix(text, ("bridge", "vlan"))
    return wire.FDB.pack(parts.get("bridge", 0), parts.get("vlan", 0), parse_mac(head), 0, 0, 0)


FDB = Table(
    "fdb", wire.MODULE_FDB, wire.FDB, "bridge", FDB_VIEW, add=_fdb_add, delete=_fdb_delete,
    key_text=lambda t: _with_suffix(t[2].hex(":"), bridge=t[0], vlan=t[1]),
    parse_key=_fdb_key, flush=True)


def _ct_flow(words: Words) -> tuple[tuple[int, int, bytes, bytes, int, int], Words]:
    """``PROTO SRC:SPORT [->|to] DST:DPORT`` -> (af, proto, src, dst, sport, dport), rest."""
    proto = parse_proto(_word(words, 0, "protocol"))
    family, src, sport = parse_endpoint(_word(words, 1, "source ADDR:PORT"), "source")
    i = 3 if len(words) > 2 and words[2] in ("->", "to") else 2
    dst_token = _word(words, i, "destination ADDR:PORT")
    if dst_token == "-":
        raise _bad("destination", dst_token, "write 'to' (an unquoted -> is a shell redirection)")
    dst_family, dst, dport = parse_endpoint(dst_token, "destination")
    if dst_family != family:
        raise _bad("destination", dst_token, "not the source's address family")
    return (family, proto, src, dst, sport, dport), words[i + 1:]


def _ct_record(words: Words, spec: Mapping[str, Callable[[str], Any]]) -> bytes:
    (family, proto, src, dst, sport, dport), rest = _ct_flow(words)
    opts = options(rest, spec)
    return wire.CONNTRACK.pack(0, opts.get("iface", 0), family, proto, src, dst, sport, dport,
                               opts.get("state", 0), 0)


def _ct_text(t: Row) -> str:
    _, iface, family, proto, src, dst, sport, dport = t[:8]
    flow = f"{name_of(PROTO_NAMES, proto)}/{fmt_endpoint(family, src, sport)}->" \
           f"{fmt_endpoint(family, dst, dport)}"
    return _with_suffix(flow, iface=iface)


def _ct_key(text: str) -> bytes:
    head, parts = _suffix(text, ("iface",))
    proto, slash, rest = head.partition("/")
    src, arrow, dst = rest.partition("->")
    if not (slash and arrow):
        raise _bad("conntrack key", text, "expected PROTO/SRC:PORT->DST:PORT[@ifaceN]")
    return _ct_record([proto, src, dst, "iface", str(parts.get("iface", 0))], {"iface": IFACE})


CONNTRACK = Table(
    "conntrack", wire.MODULE_CONNTRACK, wire.CONNTRACK, "iface", CONNTRACK_VIEW,
    add=lambda words: _ct_record(words, {"iface": IFACE, "state": STATE}),
    delete=lambda words: _ct_record(words, {"iface": IFACE}),
    key_text=_ct_text, parse_key=_ct_key, flush=True)

TABLES: dict[str, Table] = {t.name: t for t in (NEXTHOP, ROUTE4, ROUTE6, FDB, CONNTRACK)}


# -- request payloads -----------------------------------------------------------------


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
