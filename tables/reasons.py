"""How a table names an object in the reason of an error reply (wire-v1 section 2).

The concept: a refused ADD or DEL names the record at fault in reactorctl's
text, so that an operator can paste it back: ``nexthop 99``, ``route
10.0.0.0/8 vrf 0``, ``fdb 02:00:00:00:00:01 bridge 0 vlan 5``, ``conntrack tcp
10.0.0.1:1000 to 10.0.0.2:80 iface 0``, in reasons such as ``nexthop 99 does
not exist``, ``route 10.0.0.0/8 vrf 0 already exists``, ``nexthop 1 is used by
1,000,000 routes``.  Functions of a table's sort key (``tables.keyed``: the
key fields packed big-endian) or of a record's fields; only the stdlib and
``api.wire``.

Invariants: a name is one line of printable ASCII; the longest (a conntrack
flow of two IPv6 endpoints) is about 120 bytes, so a reason stays within the
200 bytes of section 2 (``api.registry`` cuts a longer one anyway); the
fields are written as they are, valid or not (an EINVAL reason names the bad
value).
"""

from __future__ import annotations

from socket import AF_INET6, inet_ntop

from api import wire

MEANS_ALL = "65535 means all"


def address(raw: bytes) -> str:
    """A 4- or 16-byte address in its usual text."""
    return inet_ntop(AF_INET6, raw) if len(raw) == 16 else ".".join(map(str, raw))


def nexthop(nh_id: int) -> str:
    return f"nexthop {nh_id}"


def route(vrf_id: int, prefix: bytes, prefixlen: int) -> str:
    """``route 10.0.0.0/8 vrf 0`` (``prefix`` raw, 4 or 16 bytes)."""
    return f"route {address(prefix)}/{prefixlen} vrf {vrf_id}"


def route_key(key: int, bits: int) -> str:
    """The route of a route table's sort key (vrf_id, prefix, prefixlen)."""
    prefix = ((key >> 8) & ((1 << bits) - 1)).to_bytes(bits // 8, "big")
    return route(key >> (bits + 8), prefix, key & 0xFF)


def fdb(bridge_id: int, vlan_id: int, mac: bytes) -> str:
    return f"fdb {mac.hex(':')} bridge {bridge_id} vlan {vlan_id}"


def fdb_key(key: int) -> str:
    """The fdb entry of a sort key (bridge_id << 64 | vlan_id << 48 | mac)."""
    return fdb(key >> 64, (key >> 48) & 0xFFFF, (key & (1 << 48) - 1).to_bytes(6, "big"))


def conntrack(iface_id: int, af: int, proto: int, src: bytes, dst: bytes, sport: int,
              dport: int) -> str:
    """``conntrack tcp 10.0.0.1:1000 to 10.0.0.2:80 iface 0``; an af other than 4
    or 6 cannot be written as a flow: ``conntrack entry of af 5 iface 0``."""
    if af not in (4, 6):
        return f"conntrack entry of af {af} iface {iface_id}"
    name = wire.PROTO_NAMES.get(proto, str(proto))
    return f"conntrack {name} {_endpoint(af, src, sport)} to {_endpoint(af, dst, dport)} " \
           f"iface {iface_id}"


def conntrack_key(key: int) -> str:
    """The conntrack entry of a sort key (``tables.conntrack``'s 40 bytes)."""
    raw = key.to_bytes(40, "big")
    return conntrack(int.from_bytes(raw[:2], "big"), raw[2], raw[3], raw[4:20], raw[20:36],
                     int.from_bytes(raw[36:38], "big"), int.from_bytes(raw[38:40], "big"))


def _endpoint(af: int, raw: bytes, port: int) -> str:
    return f"{address(raw[:4])}:{port}" if af == 4 else f"[{address(raw)}]:{port}"


def routes(count: int) -> str:
    """``1 route``, ``1,000,000 routes``."""
    return f"{count:,} route" + ("" if count == 1 else "s")
