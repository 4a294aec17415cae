"""api.records and api.text, pure: wire round trips, text round trips, reactorctl's text.

No sockets: records go to bytes and back, and to text and back, through the
grammar reactorctl uses (``api.text_grammar``).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import text, wire
from api.records import (
    ConntrackEntry, ConntrackKey, FdbEntry, FdbFlags, FdbKey, MacAddress, Nexthop, NexthopType,
    Record, Route4, Route4Key, Route6, Route6Key,
)
from api.text_words import TextError
from tools.ctl.syntax import TABLES

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(1, 0xFFFFFFFF)
ids = st.integers(0, 0xFFFE)        # vrf, iface, bridge: 0xffff is "all" on the wire
v4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
macs = st.builds(MacAddress, st.integers(1, 2**48 - 1))


@st.composite
def networks4(draw: st.DrawFn) -> IPv4Network:
    plen = draw(st.integers(0, 32))
    return IPv4Network((draw(st.integers(0, 2**32 - 1)) >> (32 - plen) << (32 - plen), plen))


@st.composite
def networks6(draw: st.DrawFn) -> IPv6Network:
    plen = draw(st.integers(0, 128))
    return IPv6Network((draw(st.integers(0, 2**128 - 1)) >> (128 - plen) << (128 - plen), plen))


gateways = st.builds(Nexthop, u32, st.just(NexthopType.GATEWAY), v4 | v6, ids, ids,
                     st.none() | macs)
holes = st.builds(Nexthop, u32, st.sampled_from([NexthopType.BLACKHOLE, NexthopType.REJECT]),
                  st.none(), ids, ids)
routes4 = st.builds(Route4, networks4(), u32, ids, u8)
routes6 = st.builds(Route6, networks6(), u32, ids, u8)
fdbs = st.builds(FdbEntry, macs | st.just(MacAddress(0)), ids, ids, st.integers(0, 4095),
                 st.sampled_from(FdbFlags))
flows4 = st.builds(ConntrackEntry, u8, v4, u16, v4, u16, ids, u8)
flows6 = st.builds(ConntrackEntry, u8, v6, u16, v6, u16, ids, u8)
records = gateways | holes | routes4 | routes6 | fdbs | flows4 | flows6


@given(records)
def test_wire_round_trip(record: Record) -> None:
    raw = record.to_wire()
    assert len(raw) == record.WIRE.size
    assert type(record).from_wire(raw) == record


@given(records)
def test_text_round_trip_through_reactorctls_grammar(record: Record) -> None:
    line = text.line(record)
    assert text.parse(type(record), line) == record
    assert TABLES[record.TABLE].add(line.split()) == record.to_wire()   # reactorctl's parser


@given(records)
def test_key_token_round_trip(record: Record) -> None:
    key = text.parse_key(type(record), text.key_text(record))
    assert key == record.key


def test_reactorctl_parses_with_the_librarys_grammar_objects() -> None:
    from api import text_grammar
    from tools.ctl import syntax
    assert syntax.TABLES is text_grammar.TABLES and syntax.ROUTE4 is text_grammar.ROUTE4
    assert syntax.CtlSyntaxError is TextError


def test_daemon_fields_read_back_but_stay_out_of_text() -> None:
    ct = ConntrackEntry(17, IPv4Address("192.0.2.1"), 53, IPv4Address("192.0.2.2"), 5353,
                        iface_id=2, state=1, ct_id=9, last_update_ns=5)
    assert ConntrackEntry.from_wire(ct.to_wire()) == ct
    assert text.line(ct) == "udp 192.0.2.1:53 to 192.0.2.2:5353 iface 2 state 1"
    assert text.parse(ConntrackEntry, text.line(ct)) == replace(ct, ct_id=0, last_update_ns=0)
    fdb = FdbEntry(MacAddress("02:00:00:00:00:01"), 3, last_seen_ns=7)
    assert text.line(fdb) == "02:00:00:00:00:01 iface 3"


def test_reactorctl_listing_and_json_of_a_record() -> None:
    route = Route4(IPv4Network("10.0.0.0/8"), nh_id=1, vrf_id=2, origin=186)
    assert text.columns(Route4) == ("VRF", "DESTINATION", "NEXTHOP", "ORIGIN")
    assert text.cells(route) == (2, "10.0.0.0/8", 1, 186)
    assert text.as_json(route) == {"vrf": 2, "prefix": "10.0.0.0/8", "nh_id": 1, "origin": 186}
    assert text.key_text(route) == "10.0.0.0/8@vrf2"
    nh = text.parse(Nexthop, "7 gw 2001:db8::1 iface 2 mac 02:00:00:00:00:01")
    assert nh == Nexthop(7, NexthopType.GATEWAY, IPv6Address("2001:db8::1"), iface_id=2,
                         mac=MacAddress("02:00:00:00:00:01"))
    assert text.cells(nh) == (7, 0, "gw", "2001:db8::1", 2, "02:00:00:00:00:01")


def test_parse_lines_skips_comments_and_names_the_bad_line() -> None:
    lines = ["# routes\n", "10.0.0.0/8 via 1\n", "\n", "10.1.0.0/16 via 2 vrf 3  # x\n",
             "10.2.0.1/16 via 1\n"]
    parsed = text.parse_lines(Route4, lines)
    assert next(parsed) == Route4(IPv4Network("10.0.0.0/8"), 1)
    assert next(parsed) == Route4(IPv4Network("10.1.0.0/16"), 2, vrf_id=3)
    with pytest.raises(TextError, match=r"^line 5: bad IPv4 prefix '10.2.0.1/16': host bits"):
        next(parsed)


def test_keys_and_their_wire_records() -> None:
    route = Route6(IPv6Network("2001:db8::/32"), 5, vrf_id=1, origin=3)
    assert route.key == Route6Key(IPv6Network("2001:db8::/32"), 1)
    assert route.key.to_wire() == wire.ROUTE6.pack(1, 32, 0, route.prefix.network_address.packed,
                                                  0)
    assert Route4(IPv4Network("10.0.0.0/8"), 1).key == Route4Key(IPv4Network("10.0.0.0/8"))
    fdb = FdbEntry(MacAddress(5), 1, bridge_id=2, vlan_id=3)
    assert fdb.key == FdbKey(MacAddress(5), 2, 3)
    ct = ConntrackEntry(6, IPv4Address("1.2.3.4"), 1, IPv4Address("5.6.7.8"), 2, iface_id=4)
    assert ct.key == ConntrackKey(6, IPv4Address("1.2.3.4"), 1, IPv4Address("5.6.7.8"), 2, 4)
    assert ct.key.to_wire()[4:8] == bytes([4, 0, 4, 6])   # iface, af, proto
    assert Nexthop(9, NexthopType.REJECT).key == 9


@pytest.mark.parametrize("record", [
    Route4(IPv4Network("10.0.0.0/8"), 1, vrf_id=70000),
    Route4(IPv4Network("10.0.0.0/8"), -1),
    FdbEntry(MacAddress(1), 1, vlan_id=1 << 16),
    ConntrackEntry(6, IPv4Address("1.2.3.4"), 1, IPv6Address("::1"), 2),
    ConntrackEntry(6, IPv4Address("1.2.3.4"), 65536, IPv4Address("1.2.3.5"), 2),
])
def test_a_field_that_does_not_fit_is_a_value_error_naming_the_record(record: Record) -> None:
    with pytest.raises(ValueError, match=type(record).__name__):
        record.to_wire()


@pytest.mark.parametrize("value", ["02:00:00:00:01", "02-00-00-00-00-01", "zz:00:00:00:00:01",
                                   b"\x01" * 5, -1, 1 << 48])
def test_bad_mac_address(value: str | bytes | int) -> None:
    with pytest.raises(ValueError):
        MacAddress(value)


def test_mac_address_forms() -> None:
    mac = MacAddress("02:AB:00:00:00:01")
    assert (str(mac), mac.packed, int(mac)) == ("02:ab:00:00:00:01", bytes.fromhex("02ab00000001"),
                                                0x02AB00000001)
    assert mac == MacAddress(mac.packed) == MacAddress(int(mac)) == MacAddress(mac)
    assert len({mac, MacAddress(int(mac))}) == 1 and MacAddress(1) < mac
    assert repr(mac) == "MacAddress('02:ab:00:00:00:01')" and mac != "02:ab:00:00:00:01"
    with pytest.raises(AttributeError):
        mac._packed = b"\0" * 6
