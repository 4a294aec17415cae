"""Typed table records: frozen dataclasses with ``ipaddress`` types, and their wire form.

The concept: one frozen, hashable dataclass per table record (``Nexthop``,
``Route4``, ``Route6``, ``FdbEntry``, ``ConntrackEntry``) and one per key
(``Route4Key`` ... ``ConntrackKey``; a nexthop's key is its ``nh_id``), each
convertible to and from the record layouts of ``api.wire`` (wire-v1 section
7).  Addresses are ``IPv4Address``/``IPv6Address``, prefixes
``IPv4Network``/``IPv6Network``, MACs ``MacAddress``.  Nothing here does I/O;
the typed client (``api.tables_client``) and the text functions (``api.text``)
are built on these.

Invariants:
- ``R.from_wire(r.to_wire()) == r`` for every record ``r`` (an all-zero MAC
  is ``None``); ``r.key`` is the record's key, and a key's ``to_wire()`` is
  the record the wire wants for DEL and for a LIST's AFTER (key fields set,
  the others zero) -- except the nexthop DEL, which takes ``<I`` ids;
- ``to_wire()`` raises ``ValueError`` naming the record when a field does not
  fit its wire width (``vrf_id=70000``) or the address families disagree; the
  daemon's own checks (wire-v1 section 4: ``nh_id`` 0, vlan above 4095, ...)
  are left to the daemon, whose error names the record;
- fields the daemon sets (fdb ``last_seen_ns``, conntrack ``ct_id`` and
  ``last_update_ns``) are read back from listings and ignored in requests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, ClassVar, Protocol, Self, TypeVar, Union

from api import wire
from api.mac import MacAddress

IPAddress = Union[IPv4Address, IPv6Address]
__all__ = ["MacAddress", "NexthopType", "FdbFlags", "Nexthop", "Route4", "Route4Key", "Route6",
           "Route6Key", "FdbEntry", "FdbKey", "ConntrackEntry", "ConntrackKey", "TableRecord",
           "Record", "Key", "IPAddress", "RECORD_TYPES"]

Row = tuple[Any, ...]
_ZERO16, _ZERO6 = bytes(16), bytes(6)


class NexthopType(IntEnum):
    GATEWAY = wire.NH_GATEWAY
    BLACKHOLE = wire.NH_BLACKHOLE
    REJECT = wire.NH_REJECT


class FdbFlags(IntEnum):
    STATIC = wire.FDB_STATIC
    LEARNED = wire.FDB_LEARNED


def _pack(layout: struct.Struct, fields: Row, what: object) -> bytes:
    try:
        return layout.pack(*fields)
    except struct.error as exc:
        raise ValueError(f"{what!r} does not fit the wire record: {exc}") from None


def _addr16(addr: IPAddress) -> bytes:
    return addr.packed.ljust(16, b"\0")


def _addr(family: int, raw: bytes) -> IPAddress:
    return IPv4Address(raw[:4]) if family == 4 else IPv6Address(raw)


def _mac(raw: bytes) -> MacAddress | None:
    return MacAddress(raw) if raw != _ZERO6 else None


# -- nexthop ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nexthop:
    """A nexthop: a gateway (IPv4 or IPv6, optional MAC), a blackhole or a reject."""

    nh_id: int
    type: NexthopType = NexthopType.GATEWAY
    gateway: IPAddress | None = None
    iface_id: int = 0
    vrf_id: int = 0
    mac: MacAddress | None = None

    TABLE: ClassVar[str] = "nexthop"
    WIRE: ClassVar[struct.Struct] = wire.NEXTHOP

    @property
    def key(self) -> int:
        return self.nh_id

    def to_tuple(self) -> Row:
        gw = self.gateway
        return (self.nh_id, self.vrf_id, self.iface_id, int(self.type),
                gw.version if gw is not None else 0, _addr16(gw) if gw is not None else _ZERO16,
                self.mac.packed if self.mac is not None else _ZERO6)

    def to_wire(self) -> bytes:
        return _pack(self.WIRE, self.to_tuple(), self)

    @classmethod
    def from_tuple(cls, t: Row) -> Nexthop:
        nh_id, vrf, iface, nh_type, family, addr, mac = t
        gateway = _addr(family, addr) if family in (4, 6) else None
        return cls(nh_id, NexthopType(nh_type), gateway, iface, vrf, _mac(mac))

    @classmethod
    def from_wire(cls, raw: bytes) -> Nexthop:
        return cls.from_tuple(cls.WIRE.unpack(raw))


# -- routes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route4Key:
    """What names an IPv4 route: VRF and prefix."""

    prefix: IPv4Network
    vrf_id: int = 0

    @classmethod
    def from_tuple(cls, t: Row) -> Route4Key:
        """The key of a route4 wire tuple."""
        return cls(IPv4Network((t[3], t[1])), t[0])

    def to_wire(self) -> bytes:
        return _pack(wire.ROUTE4, (self.vrf_id, self.prefix.prefixlen, 0,
                                   self.prefix.network_address.packed, 0), self)


@dataclass(frozen=True, slots=True)
class Route4:
    """An IPv4 route: prefix -> nexthop, in a VRF, with a free 8-bit origin."""

    prefix: IPv4Network
    nh_id: int
    vrf_id: int = 0
    origin: int = 0

    TABLE: ClassVar[str] = "route4"
    WIRE: ClassVar[struct.Struct] = wire.ROUTE4

    @property
    def key(self) -> Route4Key:
        return Route4Key(self.prefix, self.vrf_id)

    def to_tuple(self) -> Row:
        return (self.vrf_id, self.prefix.prefixlen, self.origin,
                self.prefix.network_address.packed, self.nh_id)

    def to_wire(self) -> bytes:
        return _pack(self.WIRE, self.to_tuple(), self)

    @classmethod
    def from_tuple(cls, t: Row) -> Route4:
        vrf, plen, origin, prefix, nh_id = t
        return cls(IPv4Network((prefix, plen)), nh_id, vrf, origin)

    @classmethod
    def from_wire(cls, raw: bytes) -> Route4:
        return cls.from_tuple(cls.WIRE.unpack(raw))


@dataclass(frozen=True, slots=True)
class Route6Key:
    """What names an IPv6 route: VRF and prefix."""

    prefix: IPv6Network
    vrf_id: int = 0

    @classmethod
    def from_tuple(cls, t: Row) -> Route6Key:
        """The key of a route6 wire tuple."""
        return cls(IPv6Network((t[3], t[1])), t[0])

    def to_wire(self) -> bytes:
        return _pack(wire.ROUTE6, (self.vrf_id, self.prefix.prefixlen, 0,
                                   self.prefix.network_address.packed, 0), self)


@dataclass(frozen=True, slots=True)
class Route6:
    """An IPv6 route: prefix -> nexthop, in a VRF, with a free 8-bit origin."""

    prefix: IPv6Network
    nh_id: int
    vrf_id: int = 0
    origin: int = 0

    TABLE: ClassVar[str] = "route6"
    WIRE: ClassVar[struct.Struct] = wire.ROUTE6

    @property
    def key(self) -> Route6Key:
        return Route6Key(self.prefix, self.vrf_id)

    def to_tuple(self) -> Row:
        return (self.vrf_id, self.prefix.prefixlen, self.origin,
                self.prefix.network_address.packed, self.nh_id)

    def to_wire(self) -> bytes:
        return _pack(self.WIRE, self.to_tuple(), self)

    @classmethod
    def from_tuple(cls, t: Row) -> Route6:
        vrf, plen, origin, prefix, nh_id = t
        return cls(IPv6Network((prefix, plen)), nh_id, vrf, origin)

    @classmethod
    def from_wire(cls, raw: bytes) -> Route6:
        return cls.from_tuple(cls.WIRE.unpack(raw))


# -- fdb ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FdbKey:
    """What names an fdb entry: bridge, VLAN and MAC."""

    mac: MacAddress
    bridge_id: int = 0
    vlan_id: int = 0

    @classmethod
    def from_tuple(cls, t: Row) -> FdbKey:
        """The key of an fdb wire tuple."""
        return cls(MacAddress(t[2]), t[0], t[1])

    def to_wire(self) -> bytes:
        return _pack(wire.FDB, (self.bridge_id, self.vlan_id, self.mac.packed, 0, 0, 0), self)


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """A MAC learned or configured on an interface of a bridge's VLAN."""

    mac: MacAddress
    iface_id: int
    bridge_id: int = 0
    vlan_id: int = 0
    flags: FdbFlags = FdbFlags.STATIC
    last_seen_ns: int = 0          # set by the daemon (monotonic ns of the ADD)

    TABLE: ClassVar[str] = "fdb"
    WIRE: ClassVar[struct.Struct] = wire.FDB

    @property
    def key(self) -> FdbKey:
        return FdbKey(self.mac, self.bridge_id, self.vlan_id)

    def to_tuple(self) -> Row:
        return (self.bridge_id, self.vlan_id, self.mac.packed, self.iface_id, int(self.flags),
                self.last_seen_ns)

    def to_wire(self) -> bytes:
        return _pack(self.WIRE, self.to_tuple(), self)

    @classmethod
    def from_tuple(cls, t: Row) -> FdbEntry:
        bridge, vlan, mac, iface, flags, seen = t
        return cls(MacAddress(mac), iface, bridge, vlan, FdbFlags(flags), seen)

    @classmethod
    def from_wire(cls, raw: bytes) -> FdbEntry:
        return cls.from_tuple(cls.WIRE.unpack(raw))


# -- conntrack ---------------------------------------------------------------------------


def _flow(what: object, src: IPAddress, dst: IPAddress) -> tuple[int, bytes, bytes]:
    if src.version != dst.version:
        raise ValueError(f"{what!r}: source and destination are not of one address family")
    return src.version, _addr16(src), _addr16(dst)


@dataclass(frozen=True, slots=True)
class ConntrackKey:
    """What names a connection: interface, protocol and both endpoints."""

    proto: int
    src: IPAddress
    sport: int
    dst: IPAddress
    dport: int
    iface_id: int = 0

    @classmethod
    def from_tuple(cls, t: Row) -> ConntrackKey:
        """The key of a conntrack wire tuple."""
        _, iface, af, proto, src, dst, sport, dport = t[:8]
        return cls(proto, _addr(af, src), sport, _addr(af, dst), dport, iface)

    def to_wire(self) -> bytes:
        family, src, dst = _flow(self, self.src, self.dst)
        return _pack(wire.CONNTRACK, (0, self.iface_id, family, self.proto, src, dst,
                                      self.sport, self.dport, 0, 0), self)


@dataclass(frozen=True, slots=True)
class ConntrackEntry:
    """A tracked connection (``proto`` is an IP protocol number: 6 tcp, 17 udp...)."""

    proto: int
    src: IPAddress
    sport: int
    dst: IPAddress
    dport: int
    iface_id: int = 0
    state: int = 0
    ct_id: int = 0                 # set by the daemon
    last_update_ns: int = 0        # set by the daemon

    TABLE: ClassVar[str] = "conntrack"
    WIRE: ClassVar[struct.Struct] = wire.CONNTRACK

    @property
    def key(self) -> ConntrackKey:
        return ConntrackKey(self.proto, self.src, self.sport, self.dst, self.dport,
                            self.iface_id)

    def to_tuple(self) -> Row:
        family, src, dst = _flow(self, self.src, self.dst)
        return (self.ct_id, self.iface_id, family, self.proto, src, dst, self.sport,
                self.dport, self.state, self.last_update_ns)

    def to_wire(self) -> bytes:
        return _pack(self.WIRE, self.to_tuple(), self)

    @classmethod
    def from_tuple(cls, t: Row) -> ConntrackEntry:
        ct_id, iface, af, proto, src, dst, sport, dport, state, updated = t
        return cls(proto, _addr(af, src), sport, _addr(af, dst), dport, iface, state, ct_id,
                   updated)

    @classmethod
    def from_wire(cls, raw: bytes) -> ConntrackEntry:
        return cls.from_tuple(cls.WIRE.unpack(raw))


K_co = TypeVar("K_co", covariant=True)


class TableRecord(Protocol[K_co]):
    """What every record type above has (K_co: its key type)."""

    TABLE: ClassVar[str]
    WIRE: ClassVar[struct.Struct]

    @property
    def key(self) -> K_co: ...

    def to_tuple(self) -> Row: ...

    def to_wire(self) -> bytes: ...

    @classmethod
    def from_tuple(cls, t: Row) -> Self: ...

    @classmethod
    def from_wire(cls, raw: bytes) -> Self: ...


Record = Union[Nexthop, Route4, Route6, FdbEntry, ConntrackEntry]
Key = Union[int, Route4Key, Route6Key, FdbKey, ConntrackKey]
RECORD_TYPES: tuple[type[Record], ...] = (Nexthop, Route4, Route6, FdbEntry, ConntrackEntry)
