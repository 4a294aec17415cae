"""reactorctl's text <-> records, pure: parsing, formatting, --after keys, table printing.

No sockets here: every function under test maps text to bytes or records to text.
"""

from __future__ import annotations

import io
import json
import shlex
import struct
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import wire
from tools.ctl.output import TablePrinter, client_json_lines, client_rows, stats_lines
from tools.ctl.syntax import (
    CONNTRACK, FDB, NEXTHOP, ROUTE4, ROUTE6, TABLES, CtlSyntaxError, Table, add_payload,
    del_payload, flush_payload, list_payload,
)

IP4 = bytes([192, 0, 2, 1]) + bytes(12)
IP6 = bytes.fromhex("20010db8000000000000000000000001")
MAC = bytes.fromhex("020000000001")


def add(table: Table, text: str) -> tuple[Any, ...]:
    return table.record.unpack(table.add(text.split()))


def row(table: Table, record: tuple[Any, ...]) -> tuple[Any, ...]:
    return table.view.rows([record])[0]


def as_json(table: Table, record: tuple[Any, ...]) -> dict[str, Any]:
    line = table.view.json_lines([record])[0]
    assert line.endswith("\n") and line.count("\n") == 1
    obj: dict[str, Any] = json.loads(line)
    return obj


# -- ADD text -> records -> text ---------------------------------------------------------


def test_nexthop_gateway_round_trip() -> None:
    rec = add(NEXTHOP, "1 gw 192.0.2.1 iface 2 vrf 3 mac 02:00:00:00:00:01")
    assert rec == (1, 3, 2, wire.NH_GATEWAY, 4, IP4, MAC)
    assert row(NEXTHOP, rec) == (1, 3, "gw", "192.0.2.1", 2, "02:00:00:00:00:01")
    assert as_json(NEXTHOP, rec) == {"id": 1, "vrf": 3, "type": "gw", "gateway": "192.0.2.1",
                                     "iface": 2, "mac": "02:00:00:00:00:01"}


def test_nexthop_ipv6_gateway_and_blackhole_and_reject() -> None:
    assert add(NEXTHOP, "7 gw 2001:db8::1") == (7, 0, 0, wire.NH_GATEWAY, 6, IP6, bytes(6))
    hole = add(NEXTHOP, "2 blackhole vrf 1")
    assert hole == (2, 1, 0, wire.NH_BLACKHOLE, 0, bytes(16), bytes(6))
    assert row(NEXTHOP, hole) == (2, 1, "blackhole", "-", 0, "-")
    assert as_json(NEXTHOP, hole)["gateway"] is None
    assert add(NEXTHOP, "3 reject iface 4")[3] == wire.NH_REJECT


def test_route4_and_route6_round_trip() -> None:
    rec = add(ROUTE4, "10.0.0.0/8 via 1 vrf 2 origin 186")
    assert rec == (2, 8, 186, bytes([10, 0, 0, 0]), 1)
    assert row(ROUTE4, rec) == (2, "10.0.0.0/8", 1, 186)
    assert as_json(ROUTE4, rec) == {"vrf": 2, "prefix": "10.0.0.0/8", "nh_id": 1, "origin": 186}
    rec6 = add(ROUTE6, "2001:db8::/32 via 9")
    assert rec6 == (0, 32, 0, IP6[:4] + bytes(12), 9)
    assert row(ROUTE6, rec6) == (0, "2001:db8::/32", 9, 0)
    assert add(ROUTE4, "192.0.2.1 via 1")[1] == 32          # a bare address is a host route
    assert add(ROUTE4, "0.0.0.0/0 via 1")[:2] == (0, 0)
    assert add(ROUTE6, "::/0 via 1")[1] == 0


def test_fdb_round_trip() -> None:
    rec = add(FDB, "02:00:00:00:00:01 bridge 1 vlan 10 iface 3 learned")
    assert rec == (1, 10, MAC, 3, wire.FDB_LEARNED, 0)
    assert row(FDB, rec) == (1, 10, "02:00:00:00:00:01", 3, "learned", "-")
    assert add(FDB, "02:00:00:00:00:01 iface 3")[4] == wire.FDB_STATIC
    assert as_json(FDB, rec)["flags"] == "learned"


@pytest.mark.parametrize("arrow", ["->", "to"])
def test_conntrack_round_trip(arrow: str) -> None:
    rec = add(CONNTRACK, f"tcp 192.0.2.1:1234 {arrow} 198.51.100.2:80 iface 1 state 4")
    dst = bytes([198, 51, 100, 2]) + bytes(12)
    assert rec == (0, 1, 4, 6, IP4, dst, 1234, 80, 4, 0)
    assert row(CONNTRACK, rec) == (0, 1, "tcp", "192.0.2.1:1234", "198.51.100.2:80", 4, "-")
    obj = as_json(CONNTRACK, rec)
    assert (obj["src"], obj["sport"], obj["dst"], obj["dport"]) == ("192.0.2.1", 1234,
                                                                    "198.51.100.2", 80)


def test_conntrack_ipv6_and_numeric_protocol() -> None:
    rec = add(CONNTRACK, "132 [2001:db8::1]:5 [2001:db8::2]:6")
    assert rec[2:4] == (6, 132) and rec[4] == IP6
    assert row(CONNTRACK, rec)[2:5] == ("sctp", "[2001:db8::1]:5", "[2001:db8::2]:6")
    assert row(CONNTRACK, add(CONNTRACK, "99 1.2.3.4:0 to 1.2.3.5:0"))[2] == "99"


def test_age_column_counts_from_the_monotonic_clock() -> None:
    import time
    rec = (1, 10, MAC, 3, wire.FDB_STATIC, time.monotonic_ns() - 5_000_000_000)
    age = row(FDB, rec)[5]
    assert age.endswith("s") and 5.0 <= float(age[:-1]) < 60.0


# -- request payloads ------------------------------------------------------------------------


def test_add_and_del_payloads_carry_flags() -> None:
    payload = add_payload(ROUTE4, "10.0.0.0/8 via 1".split(), replace=True)
    assert wire.BULK_FLAGS.unpack_from(payload)[0] == wire.ADD_REPLACE
    assert len(payload) == 4 + wire.ROUTE4.size
    payload = del_payload(NEXTHOP, ["1", "2", "3"], missing_ok=True)
    assert payload == struct.pack("<IIII", wire.DEL_MISSING_OK, 1, 2, 3)


def test_route_del_takes_several_prefixes_in_one_vrf() -> None:
    payload = del_payload(ROUTE4, "10.0.0.0/8 10.1.0.0/16 vrf 5".split())
    records = list(wire.ROUTE4.iter_unpack(payload[4:]))
    assert [(r[0], r[1], r[3]) for r in records] == [(5, 8, bytes([10, 0, 0, 0])),
                                                      (5, 16, bytes([10, 1, 0, 0]))]


def test_fdb_and_conntrack_del_use_the_add_syntax() -> None:
    fdb = del_payload(FDB, "02:00:00:00:00:01 bridge 1 vlan 10".split())
    assert wire.FDB.unpack(fdb[4:])[:3] == (1, 10, MAC)
    ct = del_payload(CONNTRACK, "udp 192.0.2.1:53 to 192.0.2.2:5353 iface 2".split())
    assert wire.CONNTRACK.unpack(ct[4:])[1:8] == (2, 4, 17, IP4, bytes([192, 0, 2, 2])
                                                  + bytes(12), 53, 5353)


def test_get_payloads() -> None:
    assert NEXTHOP.get is not None and ROUTE4.get is not None and ROUTE6.get is not None
    assert NEXTHOP.get(["42"]) == wire.NH_GET_REQ.pack(42)
    assert ROUTE4.get("10.1.2.3 vrf 7".split()) == wire.ROUTE4_GET_REQ.pack(7, bytes([10, 1, 2, 3]))
    assert ROUTE6.get(["2001:db8::1"]) == wire.ROUTE6_GET_REQ.pack(0, IP6)
    assert FDB.get is None and CONNTRACK.get is None


def test_list_and_flush_payloads() -> None:
    assert list_payload(ROUTE4, []) == wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0)
    assert list_payload(ROUTE4, ["vrf", "3"], max_count=10) == wire.LIST_REQ.pack(10, 3, 0)
    after = list_payload(ROUTE4, [], after="10.0.0.0/8@vrf1")
    assert after[:8] == wire.LIST_REQ.pack(0, wire.SCOPE_ALL, wire.LIST_AFTER)
    assert wire.ROUTE4.unpack(after[8:])[:2] == (1, 8)
    assert list_payload(FDB, ["bridge", "2"])[4:6] == b"\x02\x00"
    assert flush_payload(FDB, []) == wire.FLUSH_REQ.pack(wire.SCOPE_ALL)
    assert flush_payload(CONNTRACK, ["iface", "4"]) == wire.FLUSH_REQ.pack(4)


# -- --after keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "text", "key"), [
    (NEXTHOP, "5 blackhole", "5"),
    (ROUTE4, "10.0.0.0/8 via 1", "10.0.0.0/8"),
    (ROUTE4, "10.0.0.0/8 via 1 vrf 1", "10.0.0.0/8@vrf1"),
    (ROUTE6, "2001:db8::/32 via 1 vrf 2", "2001:db8::/32@vrf2"),
    (FDB, "02:00:00:00:00:01 bridge 1 vlan 10 iface 3", "02:00:00:00:00:01@bridge1/vlan10"),
    (FDB, "02:00:00:00:00:01 vlan 10 iface 3", "02:00:00:00:00:01@vlan10"),
    (CONNTRACK, "tcp 192.0.2.1:1234 -> 198.51.100.2:80 iface 1",
     "tcp/192.0.2.1:1234->198.51.100.2:80@iface1"),
    (CONNTRACK, "udp [2001:db8::1]:53 -> [2001:db8::2]:53", "udp/[2001:db8::1]:53->[2001:db8::2]:53"),
])
def test_key_text_round_trips(table: Table, text: str, key: str) -> None:
    rec = add(table, text)
    assert table.key_text(rec) == key
    assert shlex.split(shlex.quote(key)) == [key]
    back = table.record.unpack(table.parse_key(key))
    assert key_of(table, back) == key_of(table, rec)


def key_of(table: Table, rec: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key fields of wire-v1 section 6, in order."""
    if table is NEXTHOP:
        return (rec[0],)
    if table in (ROUTE4, ROUTE6):
        return (rec[0], rec[3], rec[1])
    if table is FDB:
        return rec[:3]
    return rec[1:8]


@given(vrf=st.integers(0, 65534), plen=st.integers(0, 32), addr=st.integers(0, 2**32 - 1))
def test_route4_key_round_trip_property(vrf: int, plen: int, addr: int) -> None:
    prefix = (addr >> (32 - plen) << (32 - plen)).to_bytes(4, "big")
    rec = (vrf, plen, 0, prefix, 1)
    assert key_of(ROUTE4, ROUTE4.record.unpack(ROUTE4.parse_key(ROUTE4.key_text(rec)))) == \
        key_of(ROUTE4, rec)


@given(vrf=st.integers(0, 65534), plen=st.integers(0, 128), addr=st.integers(0, 2**128 - 1))
def test_route6_key_round_trip_property(vrf: int, plen: int, addr: int) -> None:
    prefix = (addr >> (128 - plen) << (128 - plen)).to_bytes(16, "big")
    rec = (vrf, plen, 0, prefix, 1)
    assert key_of(ROUTE6, ROUTE6.record.unpack(ROUTE6.parse_key(ROUTE6.key_text(rec)))) == \
        key_of(ROUTE6, rec)


@given(iface=st.integers(0, 65534), af=st.sampled_from([4, 6]), proto=st.integers(0, 255),
       src=st.integers(0, 2**128 - 1), dst=st.integers(0, 2**128 - 1),
       sport=st.integers(0, 65535), dport=st.integers(0, 65535))
def test_conntrack_key_round_trip_property(iface: int, af: int, proto: int, src: int, dst: int,
                                           sport: int, dport: int) -> None:
    def addr(n: int) -> bytes:
        return n.to_bytes(16, "big") if af == 6 else (n & 0xFFFFFFFF).to_bytes(4, "big") + \
            bytes(12)
    rec = (9, iface, af, proto, addr(src), addr(dst), sport, dport, 1, 2)
    text = CONNTRACK.key_text(rec)
    assert key_of(CONNTRACK, CONNTRACK.record.unpack(CONNTRACK.parse_key(text))) == \
        key_of(CONNTRACK, rec)


@given(bridge=st.integers(0, 65534), vlan=st.integers(0, 4095), mac=st.binary(min_size=6,
                                                                               max_size=6))
def test_fdb_key_round_trip_property(bridge: int, vlan: int, mac: bytes) -> None:
    rec = (bridge, vlan, mac, 1, 1, 0)
    assert key_of(FDB, FDB.record.unpack(FDB.parse_key(FDB.key_text(rec)))) == key_of(FDB, rec)


# -- bad text: one line naming the bad token ---------------------------------------------------


@pytest.mark.parametrize(("table", "verb", "text", "message"), [
    (ROUTE4, "add", "10.0.0.1/8 via 1", "bad IPv4 prefix '10.0.0.1/8': host bits set"),
    (ROUTE4, "add", "10.0.0.0/33 via 1", "bad IPv4 prefix '10.0.0.0/33': length not in 0..32"),
    (ROUTE4, "add", "10.0.0/8 via 1", "bad IPv4 prefix '10.0.0/8'"),
    (ROUTE4, "add", "2001:db8::/32 via 1", "bad IPv4 prefix '2001:db8::/32'"),
    (ROUTE4, "add", "10.0.0.0/8 by 1", "unexpected 'by' (expected via)"),
    (ROUTE4, "add", "10.0.0.0/8 via 0", "bad nexthop id '0': not in 1..4294967295"),
    (ROUTE4, "add", "10.0.0.0/8 via x", "bad nexthop id 'x': not a number"),
    (ROUTE4, "add", "10.0.0.0/8 via 1 vrf 65535", "bad vrf '65535': not in 0..65534"),
    (ROUTE4, "add", "10.0.0.0/8 via 1 vrf", "missing value after 'vrf'"),
    (ROUTE4, "add", "10.0.0.0/8 via 1 vrf 1 vrf 2", "'vrf' given twice"),
    (ROUTE4, "add", "10.0.0.0/8 via 1 mtu 9000", "unexpected 'mtu' (expected vrf, origin)"),
    (ROUTE4, "add", "10.0.0.0/8 via 1 origin 256", "bad origin '256': not in 0..255"),
    (ROUTE4, "add", "10.0.0.0/8", "missing 'via NH_ID'"),
    (ROUTE4, "add", "", "missing prefix"),
    (ROUTE4, "del", "vrf 1", "missing prefix"),
    (ROUTE4, "get", "10.0.0.0/8", "bad IPv4 address '10.0.0.0/8'"),
    (ROUTE6, "add", "2001:db8::1/32 via 1", "bad IPv6 prefix '2001:db8::1/32': host bits set"),
    (ROUTE6, "add", "2001:db8::/129 via 1", "length not in 0..128"),
    (ROUTE6, "get", "fe80::1%eth0", "bad IPv6 address 'fe80::1%eth0'"),
    (NEXTHOP, "add", "1 gw 300.1.1.1", "bad gateway '300.1.1.1'"),
    (NEXTHOP, "add", "1 via 192.0.2.1", "bad nexthop type 'via'"),
    (NEXTHOP, "add", "1 blackhole mac 02:00:00:00:00:01", "unexpected 'mac'"),
    (NEXTHOP, "add", "1 gw 192.0.2.1 mac 02:00:00:00:01", "bad MAC address '02:00:00:00:01'"),
    (NEXTHOP, "del", "1 two", "bad nexthop id 'two'"),
    (ROUTE4, "add", "10.0.0.0/8 via", "missing nexthop id after 'via'"),   # not "unexpected"
    (ROUTE6, "add", "2001:db8::/32 dev 1", "unexpected 'dev' (expected via)"),
    (NEXTHOP, "del", "", "missing nexthop id"),
    (NEXTHOP, "get", "1 2", "unexpected '2'"),
    (FDB, "add", "02:00:00:00:00:01 bridge 1 vlan 4096 iface 1", "bad vlan '4096'"),
    (FDB, "add", "02:00:00:00:00:01 bridge 1", "missing 'iface I'"),
    (FDB, "add", "02:00:00:00:00:01 iface 1 static learned", "exclude each other"),
    (FDB, "add", "zz:00:00:00:00:01 iface 1", "bad MAC address 'zz:00:00:00:00:01'"),
    (CONNTRACK, "add", "tcp 192.0.2.1 -> 192.0.2.2:80", "bad source '192.0.2.1'"),
    (CONNTRACK, "add", "tcp 192.0.2.1:1 -> [::1]:80", "bad destination '[::1]:80': not the "
                                                       "source's address family"),
    (CONNTRACK, "add", "tcp 192.0.2.1:1 - 192.0.2.2:80", "bad destination '-': write 'to'"),
    (CONNTRACK, "add", "tcp 192.0.2.1:99999 -> 192.0.2.2:80", "bad source port '99999'"),
    (CONNTRACK, "add", "tcpx 192.0.2.1:1 -> 192.0.2.2:80", "bad protocol 'tcpx'"),
    (CONNTRACK, "del", "tcp 192.0.2.1:1 -> 192.0.2.2:80 state 1", "unexpected 'state'"),
])
def test_bad_token_is_named(table: Table, verb: str, text: str, message: str) -> None:
    parse = {"add": table.add, "del": table.delete, "get": table.get}[verb]
    assert parse is not None
    with pytest.raises(CtlSyntaxError) as info:
        parse(text.split())
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("table", "key", "message"), [
    (ROUTE4, "10.0.0.0/8@vrf", "bad vrf ''"),
    (ROUTE4, "10.0.0.0/8@table1", "bad key suffix '@table1'"),
    (ROUTE4, "10.0.0.1/8", "host bits set"),
    (FDB, "02:00:00:00:00:01@vlan1/vlan2", "bad key suffix"),
    (CONNTRACK, "tcp 1.2.3.4:5", "bad conntrack key"),
    (NEXTHOP, "-1", "bad nexthop id '-1'"),
])
def test_bad_after_key(table: Table, key: str, message: str) -> None:
    with pytest.raises(CtlSyntaxError, match=message):
        list_payload(table, [], after=key)


def test_list_scope_keyword_is_per_table() -> None:
    with pytest.raises(CtlSyntaxError, match="unexpected 'vrf' .expected bridge"):
        list_payload(FDB, ["vrf", "1"])
    assert TABLES["conntrack"].scope == "iface"


# -- output ------------------------------------------------------------------------------------


def test_printer_fixes_widths_from_the_first_rows_and_never_reflows() -> None:
    out = io.StringIO()
    printer = TablePrinter(out, ("A", "BB", "C"), sample=2)
    printer.add([(1, "x", "last")])
    assert out.getvalue() == ""                       # held until the sample is complete
    printer.add([(22, "yyyy", 3), (333, "z", 4)])    # the third row is past the sample
    written = out.getvalue()
    printer.add([(4, "a much wider value", 5)])
    printer.finish()
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["A   BB    C", "1   x     last", "22  yyyy  3"]
    assert lines[3] == "333  z     4"                # wider than the sample: pushes its row
    assert lines[4] == "4   a much wider value  5"
    assert out.getvalue().startswith(written) and printer.rows == 4


def test_printer_of_nothing_prints_the_header() -> None:
    out = io.StringIO()
    printer = TablePrinter(out, ROUTE4.view.columns)
    printer.finish()
    assert out.getvalue() == "VRF  DESTINATION  NEXTHOP  ORIGIN\n"


def test_stats_and_clients_formatting() -> None:
    assert stats_lines({"routes4": 5, "clients": 1}) == ["clients  1\n", "routes4  5\n"]
    batch = [(1, 100, 0, 0, 0), (2, 200, 1000, wire.CLIENT_STREAM_ACTIVE
                                 | wire.CLIENT_STREAM_PAUSED, 4096)]
    assert client_rows(batch) == [(1, 100, 0, "-", 0), (2, 200, 1000, "active,paused", 4096)]
    assert json.loads(client_json_lines(batch)[1]) == {
        "client_id": 2, "pid": 200, "uid": 1000, "flags": ["active", "paused"],
        "output_bytes": 4096}
