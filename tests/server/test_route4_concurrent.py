"""A 1M-route IPv4 table listed by one connection while another changes it (wire-v1 §6).

The daemon is the real ``reactord`` preloaded with a synthetic full view.  The
lister reads its stream with the client library; at chosen points it changes
the table through a second connection: deletes, replaces and adds far ahead
of the cursor (checked exactly: STATS items_streamed proves the cursor had not
reached them), and churn behind the cursor (must not bring a key back).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import wire
from api.client import Client
from tools.harness import ServerProcess, start_reactord

ROUTES = 1_000_000
Key = tuple[int, int, int]


def key_of(record: bytes) -> Key:
    vrf, plen, _origin, prefix, _nh = wire.ROUTE4.unpack(record)
    return vrf, int.from_bytes(prefix, "big"), plen


def list_payload() -> bytes:
    return wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0)


def bulk(flags: int, records: list[bytes]) -> bytes:
    return wire.BULK_FLAGS.pack(flags) + b"".join(records)


def replaced(record: bytes) -> bytes:
    vrf, plen, _origin, prefix, _nh = wire.ROUTE4.unpack(record)
    return wire.ROUTE4.pack(vrf, plen, 77, prefix, 4)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("route4")
    proc = start_reactord("--preload-fullview", str(ROUTES), directory=tmp)
    yield proc
    assert proc.terminate() == 0


def test_listing_during_changes_keeps_section_6(daemon: ServerProcess) -> None:
    with Client(daemon.path) as lister, Client(daemon.path) as mutator:
        before = [bytes(r) for r in lister.stream(wire.ROUTE4_LIST, list_payload())]
        assert len(before) == ROUTES
        doomed = before[800_000:810_000]          # deleted far ahead of the cursor
        changed = before[850_000:851_000]         # replaced far ahead of the cursor
        added = [wire.ROUTE4.pack(0, 24, 9, bytes([240, i >> 8, i & 0xFF, 0]), 1)
                 for i in range(1000)]            # new keys beyond every preloaded one
        churn = before[1_000:2_000]               # behind the cursor when touched

        seen: list[bytes] = []
        with lister.stream(wire.ROUTE4_LIST, list_payload()) as stream:
            for record in stream:
                seen.append(bytes(record))
                if len(seen) == 100_000:
                    produced = mutator.stats()["items_streamed"] - ROUTES
                    assert produced < 800_000, "cursor already past the keys to change"
                    mutator.call(wire.ROUTE4_DEL, bulk(0, doomed))
                    mutator.call(wire.ROUTE4_ADD, bulk(wire.ADD_REPLACE,
                                                       [replaced(r) for r in changed]))
                    mutator.call(wire.ROUTE4_ADD, bulk(0, added))
                    mutator.call(wire.ROUTE4_DEL, bulk(0, churn))
                    mutator.call(wire.ROUTE4_ADD, bulk(0, churn))
            assert not stream.incomplete

    keys = [key_of(r) for r in seen]
    assert all(a < b for a, b in zip(keys, keys[1:])), "keys not strictly ascending"
    emitted = set(keys)
    doomed_keys = {key_of(r) for r in doomed}
    assert not emitted & doomed_keys, "a key deleted before the cursor reached it was emitted"
    stable = {key_of(r) for r in before} - doomed_keys
    assert stable <= emitted, "a key present throughout the stream was not emitted"
    by_key = {key_of(r): r for r in seen}
    assert all(by_key[key_of(r)] == replaced(r) for r in changed), \
        "a replaced key was not emitted with its record current when the cursor reached it"
    assert {key_of(r) for r in added} <= emitted
    assert len(seen) == ROUTES - len(doomed) + len(added)


def test_bad_bulk_add_applies_nothing(daemon: ServerProcess) -> None:
    with Client(daemon.path) as client:
        size = client.stats()["routes4"]
        good = wire.ROUTE4.pack(5, 24, 0, bytes([198, 51, 100, 0]), 1)
        host_bits = wire.ROUTE4.pack(5, 24, 0, bytes([198, 51, 101, 1]), 1)
        missing_nh = wire.ROUTE4.pack(5, 24, 0, bytes([198, 51, 102, 0]), 999)
        for bad, status in ((host_bits, wire.EINVAL), (missing_nh, wire.ENOENT),
                            (good, wire.EEXIST)):
            payload = bulk(0, [good, bad] if bad is not good else [good, good])
            with pytest.raises(Exception) as err:
                client.call(wire.ROUTE4_ADD, payload)
            assert getattr(err.value, "status", None) == status
            assert client.stats()["routes4"] == size, "a failed bulk ADD applied records"
        with pytest.raises(Exception) as err:
            client.call(wire.ROUTE4_ADD, bulk(0, [good, good])[:-1])
        assert getattr(err.value, "status", None) == wire.EINVAL
        with pytest.raises(Exception) as err:
            client.call(wire.ROUTE4_ADD, struct.pack("<I", 0))
        assert getattr(err.value, "status", None) == wire.EMSGSIZE
        assert client.stats()["routes4"] == size
