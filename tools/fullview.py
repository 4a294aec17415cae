"""Synthetic BGP full views: route records with a realistic prefix-length mix.

The concept: ``generate_routes4(n)`` / ``generate_routes6(n)`` yield n wire
route records (12 / 24 bytes) with unique prefixes in one VRF, deterministic
for a seed.  Prefix lengths follow the shape of today's default-free zone
(IPv4: ~60 % /24, then /22, /23, /21, /20, /19, /16 ...; IPv6: ~50 % /48, then
/32, /44, /40, /36 ...); prefixes are drawn uniformly in unicast space
(1.0.0.0-223.255.255.255, 2000::/3), so they overlap like real more-specifics.

Records come in key order (vrf, prefix, prefixlen), like a RIB dump or a BGP
table transfer; ``shuffle=True`` gives a random order instead.  Nexthops are
assigned round-robin from ``nh_ids`` (``generate_nexthops`` makes matching
gateway records).  ``add_payloads`` packs records into maximum-size ADD
payloads.

Complexity: O(n log n) time (one sort), O(n) memory; ~1-2 s per million.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence

from api import wire

RTPROT_BGP = 186
"""The default ``origin`` (Linux route protocol number of BGP)."""

V4_WEIGHTS: dict[int, float] = {24: 600, 22: 115, 23: 95, 21: 46, 20: 40, 19: 24, 16: 13, 18: 11, 17: 7,
              15: 3, 14: 2.5, 13: 1.5, 12: 1, 11: 0.5, 10: 0.3, 9: 0.1, 8: 0.1}
V6_WEIGHTS: dict[int, float] = {48: 500, 32: 110, 44: 70, 40: 60, 36: 30, 46: 30, 29: 30, 47: 20, 45: 15,
              42: 15, 33: 10, 34: 10, 35: 10, 38: 10, 43: 10, 41: 10, 39: 5, 37: 5,
              30: 5, 31: 5, 28: 5}


def generate_routes4(n: int, *, seed: int = 0, nh_ids: Sequence[int] = (1,), vrf_id: int = 0,
                     origin: int = RTPROT_BGP, shuffle: bool = False) -> Iterator[bytes]:
    """n unique IPv4 route records (``<HBB4sI``) in key order (or shuffled)."""
    space = {plen: (1 << (plen - 8), 224 << (plen - 8)) for plen in V4_WEIGHTS}
    keys = _unique_keys(n, 32, V4_WEIGHTS, space, 24, seed, shuffle)
    return _records(wire.ROUTE4.pack, keys, 4, vrf_id, origin, nh_ids)


def generate_routes6(n: int, *, seed: int = 0, nh_ids: Sequence[int] = (1,), vrf_id: int = 0,
                     origin: int = RTPROT_BGP, shuffle: bool = False) -> Iterator[bytes]:
    """n unique IPv6 route records (``<HBB16sI``) in key order (or shuffled)."""
    space = {plen: (1 << (plen - 3), 2 << (plen - 3)) for plen in V6_WEIGHTS}
    keys = _unique_keys(n, 128, V6_WEIGHTS, space, 48, seed, shuffle)
    return _records(wire.ROUTE6.pack, keys, 16, vrf_id, origin, nh_ids)


def generate_nexthops(nh_ids: Iterable[int], *, vrf_id: int = 0) -> Iterator[bytes]:
    """One IPv4 gateway record (10.x.y.z) per nh_id."""
    for nh_id in nh_ids:
        addr = (0x0A000000 | (nh_id & 0xFFFFFF)).to_bytes(4, "big") + bytes(12)
        yield wire.NEXTHOP.pack(nh_id, vrf_id, 1, wire.NH_GATEWAY, 4, addr, bytes(6))


def add_payloads(records: Iterable[bytes], record_size: int, *, flags: int = 0,
                 max_payload: int = wire.MAX_PAYLOAD) -> Iterator[bytes]:
    """ADD payloads (``<I`` flags + records), each as large as ``max_payload`` allows."""
    per_payload = (max_payload - wire.BULK_FLAGS.size) // record_size
    head = wire.BULK_FLAGS.pack(flags)
    batch: list[bytes] = []
    for record in records:
        batch.append(record)
        if len(batch) == per_payload:
            yield head + b"".join(batch)
            batch.clear()
    if batch:
        yield head + b"".join(batch)


def _plen_counts(n: int, weights: dict[int, float],
                 space: dict[int, tuple[int, int]], bulk_plen: int) -> dict[int, int]:
    """How many prefixes of each length: by weight, at most half of each length's space."""
    total = sum(weights.values())
    counts = {plen: min(int(n * weight / total), (hi - lo) // 2)
              for plen, weight in weights.items() for lo, hi in [space[plen]]}
    counts[bulk_plen] += n - sum(counts.values())
    lo, hi = space[bulk_plen]
    if counts[bulk_plen] > hi - lo:
        raise ValueError(f"{n} prefixes do not fit this prefix-length mix")
    return counts


def _unique_keys(n: int, bits: int, weights: dict[int, float],
                 space: dict[int, tuple[int, int]], bulk_plen: int, seed: int,
                 shuffle: bool) -> list[int]:
    """Sorted (or shuffled) ``prefix << 8 | plen`` values, unique."""
    rng = random.Random(seed)
    keys: list[int] = []
    for plen, count in sorted(_plen_counts(n, weights, space, bulk_plen).items()):
        lo, hi = space[plen]
        shift = bits - plen + 8
        keys += [(net << shift) | plen for net in _sample(rng, lo, hi, count)]
    keys.sort()
    if shuffle:
        rng.shuffle(keys)
    return keys


def _sample(rng: random.Random, lo: int, hi: int, count: int) -> set[int]:
    """``count`` distinct integers drawn uniformly from [lo, hi)."""
    width = hi - lo
    bits = max(1, (width - 1).bit_length())
    draw = rng.getrandbits
    chosen: set[int] = set()
    while len(chosen) < count:  # each round draws what is missing: never too many
        chosen.update(value + lo for value in (draw(bits) for _ in range(count - len(chosen)))
                      if value < width)
    return chosen


def _records(pack: Callable[..., bytes], keys: list[int], addr_bytes: int, vrf_id: int,
             origin: int, nh_ids: Sequence[int]) -> Iterator[bytes]:
    if not nh_ids:
        raise ValueError("nh_ids is empty")
    spread = len(nh_ids)
    for index, key in enumerate(keys):
        prefix = (key >> 8).to_bytes(addr_bytes, "big")
        yield pack(vrf_id, key & 0xFF, origin, prefix, nh_ids[index % spread])
