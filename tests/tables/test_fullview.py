"""The synthetic full-view generator (tools.fullview)."""

from __future__ import annotations

from collections import Counter

from api import wire
from tables.handlers import Tables
from tools.fullview import (add_payloads, generate_nexthops, generate_routes4,
                            generate_routes6)


def test_routes4_unique_valid_sorted_and_deterministic() -> None:
    records = list(generate_routes4(20000, seed=3, nh_ids=(5, 6)))
    assert records == list(generate_routes4(20000, seed=3, nh_ids=(5, 6)))
    assert records != list(generate_routes4(20000, seed=4, nh_ids=(5, 6)))
    fields = [wire.ROUTE4.unpack(r) for r in records]
    keys = [(v, int.from_bytes(p, "big"), plen) for v, plen, _o, p, _n in fields]
    assert keys == sorted(set(keys)) and len(keys) == 20000
    assert all(p & ((1 << (32 - plen)) - 1) == 0 for _v, p, plen in keys)
    assert all(1 <= p >> 24 <= 223 for _v, p, _l in keys)
    plens = Counter(plen for _v, _p, plen in keys)
    assert 0.55 < plens[24] / 20000 < 0.65 and plens.most_common(3)[1][0] == 22
    assert {n for *_rest, n in fields} == {5, 6}


def test_routes6_mix_and_shuffle() -> None:
    records = list(generate_routes6(5000, seed=1))
    plens = Counter(wire.ROUTE6.unpack(r)[1] for r in records)
    assert plens.most_common(2)[0][0] == 48 and plens.most_common(2)[1][0] == 32
    assert all(wire.ROUTE6.unpack(r)[3][0] >> 5 == 1 for r in records)       # 2000::/3
    shuffled = list(generate_routes6(5000, seed=1, shuffle=True))
    assert shuffled != records and sorted(shuffled) == sorted(records)


def test_payloads_and_a_full_load() -> None:
    tables = Tables.create()
    tables.nexthops.add(b"".join(generate_nexthops(range(1, 4))), False)
    payloads = list(add_payloads(generate_routes4(25000, nh_ids=(1, 2, 3)), 12))
    assert [len(p) for p in payloads] == [4 + 10922 * 12, 4 + 10922 * 12, 4 + 3156 * 12]
    for payload in payloads:
        tables.routes4.add(payload[4:], bool(wire.BULK_FLAGS.unpack_from(payload)[0]))
    assert len(tables.routes4) == 25000 and sum(tables.nexthops.refs.values()) == 25000
    assert list(add_payloads([b"x" * 12], 12, flags=1)) == [b"\1\0\0\0" + b"x" * 12]
