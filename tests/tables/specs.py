"""Per-table oracles for the stateful tests: keys, scopes, validity, stored bytes.

Each ``Spec`` re-states wire-v1 for one table independently of ``tables/``:
the §6 key tuple of a record, its scope field, the §4 field checks of an ADD
and of a DEL, and the bytes the daemon stores (daemon-set fields included).
Record strategies draw from small domains so that keys collide often, with a
few invalid values mixed in.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from api import wire
from tests.tables.support import MAC1, MAC2

Key = tuple[int, ...]
ZERO16 = bytes(16)


def _packed(addr: str, width: int = 16) -> bytes:
    return ipaddress.ip_address(addr).packed.ljust(width, b"\0")


@dataclass(frozen=True)
class Spec:
    module: int
    record: st.SearchStrategy[bytes]
    key: Callable[[bytes], Key]
    scope: Callable[[bytes], int]
    invalid: Callable[[bytes], bool]
    """ADD field checks fail (EINVAL)."""
    key_invalid: Callable[[bytes], bool]
    """DEL key-field checks fail (EINVAL); for nexthop the record is a ``<I`` nh_id."""
    stored: Callable[[bytes, int, int], bytes]
    """The stored record for (request record, id, now_ns)."""
    del_record: Callable[[bytes], bytes] = lambda record: record
    missing_nh: Callable[[bytes], bool] = lambda record: False
    flushable: bool = False
    uses_ids: bool = False

    def msg(self, op: int) -> int:
        return wire.msg_type(self.module, op)


# -- nexthop ---------------------------------------------------------------------

def _nh_invalid(record: bytes) -> bool:
    nh_id, vrf_id, _iface, nh_type, family, addr, _mac = wire.NEXTHOP.unpack(record)
    if nh_id == 0 or vrf_id == 0xFFFF:
        return True
    if nh_type == 1:
        return not ((family == 4 and bytes(addr[4:]) == bytes(12)) or family == 6)
    if nh_type in (2, 3):
        return bool(family != 0 or addr != ZERO16)
    return True


_NH_ADDRS = [ZERO16, _packed("10.0.0.1"), _packed("2001:db8::1"), _packed("10.0.0.1")[:15] + b"\1"]


@st.composite
def _nexthops(draw: st.DrawFn) -> bytes:
    nh_type = draw(st.sampled_from([1, 1, 2, 3, 0]))
    if draw(st.sampled_from([True] * 5 + [False])):   # usually consistent fields
        family, addr = {1: draw(st.sampled_from([(4, _NH_ADDRS[1]), (6, _NH_ADDRS[2])]))
                        }.get(nh_type, (0, ZERO16))
    else:
        family, addr = draw(st.sampled_from([0, 4, 6, 5])), draw(st.sampled_from(_NH_ADDRS))
    return wire.NEXTHOP.pack(draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 0])),
                             draw(st.sampled_from([0, 1, 2, 0, 1, 2, 0xFFFF])),
                             draw(st.integers(0, 3)), nh_type, family, addr,
                             draw(st.sampled_from([MAC1, MAC2])))


NEXTHOP = Spec(
    wire.MODULE_NEXTHOP, _nexthops(),
    key=lambda r: (wire.U32.unpack_from(r)[0],),
    scope=lambda r: wire.NEXTHOP.unpack(r)[1],
    invalid=_nh_invalid,
    key_invalid=lambda r: wire.U32.unpack_from(r)[0] == 0,
    stored=lambda r, _id, _now: wire.NEXTHOP.pack(*wire.NEXTHOP.unpack(r)),
    del_record=lambda r: r[:4],
)

# -- routes ----------------------------------------------------------------------


def _route_spec(module: int, layout: struct.Struct, bits: int, addrs: list[str]) -> Spec:
    packed = [_packed(a, bits // 8) for a in addrs]

    def prefix_bits(record: bytes) -> tuple[int, int, int, int]:
        vrf_id, plen, _origin, prefix, nh_id = layout.unpack(record)
        return vrf_id, plen, int.from_bytes(prefix, "big"), nh_id

    def key_invalid(record: bytes) -> bool:
        vrf_id, plen, value, _nh = prefix_bits(record)
        return vrf_id == 0xFFFF or plen > bits or value & ((1 << (bits - plen)) - 1) != 0

    @st.composite
    def routes(draw: st.DrawFn) -> bytes:
        plen = draw(st.sampled_from([0, 8, 16, 24, 24, bits, bits + 1]))
        value = int.from_bytes(draw(st.sampled_from(packed)), "big")
        if plen <= bits and draw(st.sampled_from([True] * 6 + [False])):
            value &= ~((1 << (bits - plen)) - 1)
        return layout.pack(draw(st.sampled_from([0, 1, 2, 0, 0xFFFF])), plen,
                           draw(st.integers(0, 2)), value.to_bytes(bits // 8, "big"),
                           draw(st.sampled_from([1, 2, 3, 1, 2, 3, 4, 0])))

    def key(record: bytes) -> Key:
        vrf_id, plen, value, _nh = prefix_bits(record)
        return vrf_id, value, plen

    return Spec(
        module, routes(),
        key=key,
        scope=lambda r: layout.unpack(r)[0],
        invalid=lambda r: key_invalid(r) or prefix_bits(r)[3] == 0,
        key_invalid=key_invalid,
        stored=lambda r, _id, _now: r,
        missing_nh=lambda r: prefix_bits(r)[3] not in (1, 2, 3),
    )


ROUTE4 = _route_spec(wire.MODULE_ROUTE4, wire.ROUTE4, 32,
                     ["10.1.2.3", "10.1.0.0", "10.0.0.0", "192.168.1.0", "0.0.0.0", "255.1.1.1"])
ROUTE6 = _route_spec(wire.MODULE_ROUTE6, wire.ROUTE6, 128,
                     ["2001:db8::1", "2001:db8:1::", "2001:db8::", "fe80::", "::", "ff00::1"])

# -- fdb and conntrack -------------------------------------------------------------

def _fdb_fields(record: bytes) -> tuple[int, int, int, int]:
    """bridge_id, vlan_id, mac as an integer, flags."""
    bridge_id, vlan_id, mac, _iface, flags, _seen = wire.FDB.unpack(record)
    return bridge_id, vlan_id, int.from_bytes(mac, "big"), flags


def _fdb_key_invalid(record: bytes) -> bool:
    bridge_id, vlan_id, _mac, _flags = _fdb_fields(record)
    return bridge_id == 0xFFFF or vlan_id > 4095


FDB = Spec(
    wire.MODULE_FDB,
    st.builds(wire.FDB.pack, st.sampled_from([0, 1, 2, 0, 1, 0xFFFF]),
              st.sampled_from([0, 1, 4095, 0, 1, 4096]),
              st.sampled_from([MAC1, MAC2, b"\xff" * 6]), st.integers(0, 3),
              st.sampled_from([1, 2, 1, 2, 0, 3]), st.integers(0, 2**64 - 1)),
    key=lambda r: _fdb_fields(r)[:3],
    scope=lambda r: _fdb_fields(r)[0],
    invalid=lambda r: _fdb_key_invalid(r) or _fdb_fields(r)[3] not in (1, 2),
    key_invalid=_fdb_key_invalid,
    stored=lambda r, _id, now: wire.FDB.pack(*wire.FDB.unpack(r)[:5], now),
    flushable=True,
)


def _ct_key(record: bytes) -> Key:
    _id, iface, af, proto, src, dst, sport, dport, _state, _t = wire.CONNTRACK.unpack(record)
    return (iface, af, proto, int.from_bytes(src, "big"), int.from_bytes(dst, "big"), sport,
            dport)


CONNTRACK = Spec(
    wire.MODULE_CONNTRACK,
    st.builds(wire.CONNTRACK.pack, st.integers(0, 2**32 - 1),
              st.sampled_from([0, 1, 0, 1, 0xFFFF]), st.sampled_from([4, 6, 4, 6, 5]),
              st.sampled_from([6, 17]), st.sampled_from([_packed("10.0.0.1"), _packed("::1")]),
              st.sampled_from([_packed("10.0.0.2"), ZERO16]), st.sampled_from([1, 2]),
              st.sampled_from([80, 443]), st.integers(0, 3), st.integers(0, 2**64 - 1)),
    key=_ct_key,
    scope=lambda r: wire.CONNTRACK.unpack(r)[1],
    invalid=lambda r: _ct_key(r)[0] == 0xFFFF or _ct_key(r)[1] not in (4, 6),
    key_invalid=lambda r: _ct_key(r)[0] == 0xFFFF or _ct_key(r)[1] not in (4, 6),
    stored=lambda r, entry_id, now: wire.CONNTRACK.pack(
        entry_id, *wire.CONNTRACK.unpack(r)[1:9], now),
    flushable=True,
    uses_ids=True,
)

SPECS = {"nexthop": NEXTHOP, "route4": ROUTE4, "route6": ROUTE6, "fdb": FDB,
         "conntrack": CONNTRACK}
