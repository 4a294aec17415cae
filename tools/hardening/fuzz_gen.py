"""Random and mutated requests of every type, for the fuzzer.

The concept: ``Gen`` draws requests from a ``random.Random`` (a hypothesis
``randoms()`` instance in the tests, so that examples shrink), aiming at the
places where the daemon must decide: keys from a small universe (so ADD, DEL
and REPLACE collide with each other and with the preloaded table), existing
records picked from the model, fields set to their boundary values (vrf
0xffff, prefixlen 33, host bits, vlan 4096, flags 3, nh_id 0 ...), lengths one
byte off, unknown flag bits, unknown types and ops a module does not have.

Nothing here does I/O or knows the expected reply: that is ``fuzz_model``.
"""

from __future__ import annotations

import random
import struct

from api import wire
from tools.hardening.fuzz_model import ALL, Model, Table

U32_MAX = 0xFFFFFFFF
MAIN_TYPES = (wire.HELLO, wire.STREAM_CANCEL, wire.STATS, wire.CLIENTS, wire.WATCH)
READ_ONLY_OPS = (wire.OP_GET, wire.OP_LIST)


class Gen:
    """Requests (type, payload) drawn from ``rng``, some aimed at ``model``'s keys."""

    def __init__(self, model: Model, rng: random.Random) -> None:
        self.model = model
        self.rng = rng

    # -- whole requests ---------------------------------------------------------------

    def request(self, *, mutating: bool = True) -> tuple[int, bytes]:
        """Any request; ``mutating=False`` never draws an ADD, DEL or FLUSH of a table."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.12:
            req_type = rng.choice(MAIN_TYPES)
            return req_type, self.main_payload(req_type)
        if roll < 0.17:
            return self.garbage_type(), self.blob(rng.choice((0, 4, 8, 12, 40)))
        table = rng.choice(self.model.tables)
        ops = table.ops if mutating else READ_ONLY_OPS
        odd = (0, 3, 5, 6, 0xFFFF) if mutating else (0, 3, 6, 0xFFFF)   # ENOTSUP for some
        op = rng.choice(ops) if rng.random() < 0.92 else rng.choice(odd)
        return table.type(op), self.table_payload(table, op)

    def garbage_type(self) -> int:
        rng = self.rng
        return rng.choice((0, U32_MAX, wire.msg_type(wire.MODULE_MAIN, rng.randrange(6, 99)),
                           rng.getrandbits(32), wire.msg_type(rng.getrandbits(16), 1)))

    def main_payload(self, req_type: int) -> bytes:
        rng = self.rng
        if req_type == wire.HELLO:
            version = rng.choice((1, 1, 1, 0, 2, rng.getrandbits(32)))
            payload = wire.U32.pack(version) + self.blob(rng.choice((0, 5, 64, 65, 70)))
            return payload[:rng.randrange(4)] if rng.random() < 0.1 else payload
        if req_type == wire.STREAM_CANCEL:
            return self.blob(rng.choice((4, 4, 4, 0, 3, 5)))
        if req_type == wire.WATCH:
            return self.watch_payload()
        return b"" if rng.random() < 0.85 else self.blob(rng.randrange(1, 9))

    def watch_payload(self) -> bytes:
        """A WATCH: revisions around the model's, masks and flags at their edges."""
        rng, now = self.rng, self.model.revision
        payload = wire.WATCH_REQ.pack(
            rng.choice((0, 0, 1, now, now, now + 1, rng.getrandbits(64))),
            rng.choice((wire.ALL_TABLES_MASK, 1, 2, 0x18, 0, 0x20, rng.getrandbits(32))),
            rng.choice((0, wire.WATCH_SNAPSHOT, wire.WATCH_NO_SELF, 3, 4, rng.getrandbits(32))))
        roll = rng.random()
        if roll < 0.08:
            return payload[:rng.randrange(16)]                  # EMSGSIZE
        return payload + self.blob(rng.randrange(1, 5)) if roll < 0.15 else payload

    def table_payload(self, table: Table, op: int) -> bytes:
        if op == wire.OP_ADD:
            payload = self.bulk(table, add=True)
        elif op == wire.OP_DEL:
            payload = self.bulk(table, add=False)
        elif op == wire.OP_GET:
            payload = self.get_payload(table)
        elif op == wire.OP_LIST:
            payload = self.list_payload(table)
        else:
            pad = b"\0\0" if self.rng.random() < 0.8 else self.blob(2)
            payload = struct.pack("<H", self.scope()) + pad
        return self.resize(payload, table.size)

    def bulk(self, table: Table, *, add: bool) -> bytes:
        rng = self.rng
        flags = rng.choice((0, 1)) if rng.random() < 0.9 else \
            rng.choice((2, 3, 1 << 31, rng.getrandbits(32)))
        count = rng.choice((1, 1, 1, 2, 3, 5, 8, 0))
        if rng.random() < 0.02:
            count = rng.randrange(100, (wire.MAX_PAYLOAD - 4) // table.del_size)
        if add or table.del_size == table.size:
            records = [self.record(table) for _ in range(count)]
        else:
            records = [wire.U32.pack(self.nh_id()) for _ in range(count)]
        if records and rng.random() < 0.15:  # a key repeated within one request
            records.insert(rng.randrange(len(records) + 1), rng.choice(records))
        return wire.BULK_FLAGS.pack(flags) + b"".join(records)

    def get_payload(self, table: Table) -> bytes:
        rng = self.rng
        if table.module == wire.MODULE_NEXTHOP:
            return wire.U32.pack(self.nh_id())
        if table.module not in (wire.MODULE_ROUTE4, wire.MODULE_ROUTE6):
            return self.blob(rng.choice((4, 8, 20)))   # fdb, conntrack: no GET (ENOTSUP)
        rec = self.record(table, mutate=False)
        vrf, _plen, _origin, prefix, _nh = table.record.unpack(rec)
        host = rng.getrandbits(8 * len(prefix)) if rng.random() < 0.5 else 0
        addr = (int.from_bytes(prefix, "big") | host & rng.choice((0, 0xFF, 0xFFFF)))
        pad = b"\0\0" if rng.random() < 0.9 else self.blob(2)
        return struct.pack("<H", vrf) + pad + addr.to_bytes(len(prefix), "big")

    def list_payload(self, table: Table, *, valid: bool = False) -> bytes:
        """A LIST payload; ``valid=True`` only draws ones that start a stream."""
        rng = self.rng
        max_count = rng.choice((0, 0, 0, 1, 2, 10, 100, rng.getrandbits(32)))
        flags = rng.choice((0, 0, wire.LIST_AFTER, wire.LIST_AFTER))
        if not valid and rng.random() < 0.1:
            flags = rng.getrandbits(16)
        after = b""
        if flags & wire.LIST_AFTER:
            after = self.record(table) if rng.random() < 0.8 else self.blob(table.size)
        return wire.LIST_REQ.pack(max_count, self.scope(), flags) + after

    # -- records ---------------------------------------------------------------------

    def record(self, table: Table, *, mutate: bool = True) -> bytes:
        """A record of ``table``: often an existing one, often mutated."""
        rng = self.rng
        rows = table.rows
        if rows and rng.random() < 0.35:
            rec = rows.peekitem(rng.randrange(len(rows)))[1]
        else:
            rec = self.fresh(table)
        if mutate and rng.random() < 0.1:
            rec = self.mutate(table, rec)
        return rec

    def fresh(self, table: Table) -> bytes:
        rng = self.rng
        module = table.module
        if module == wire.MODULE_NEXTHOP:
            return self.nexthop()
        if module in (wire.MODULE_ROUTE4, wire.MODULE_ROUTE6):
            bits = 32 if module == wire.MODULE_ROUTE4 else 128
            base = 10 << 24 if bits == 32 else 0x20010DB8 << 96
            plen = rng.choice((8, 16, 24, 24, 24, 25, 32, rng.randrange(bits + 1)))
            value = base | rng.randrange(4) << (bits - 16) | rng.randrange(4) << (bits - 24) \
                | rng.randrange(256) << (bits - 32)
            shift = bits - plen
            prefix = (value >> shift << shift).to_bytes(bits // 8, "big")
            return table.record.pack(self.vrf(), plen, rng.getrandbits(8), prefix, self.nh_id())
        if module == wire.MODULE_FDB:
            mac = bytes((2, 0, 0, 0, 0, rng.randrange(8)))
            return table.record.pack(rng.randrange(1, 4), rng.randrange(4), mac,
                                     rng.getrandbits(16), rng.choice((1, 2)),
                                     rng.getrandbits(64))
        af = rng.choice((4, 6))
        src, dst = (self.host(af) for _ in "sd")
        return table.record.pack(rng.getrandbits(32), rng.randrange(1, 4), af,
                                 rng.choice((6, 17)), src, dst, rng.choice((80, 443, 1024)),
                                 rng.choice((80, 53, 4000)), rng.getrandbits(8),
                                 rng.getrandbits(64))

    def host(self, af: int) -> bytes:
        last = bytes((self.rng.randrange(4),))
        return bytes((10, 0, 0)) + last + bytes(12) if af == 4 else bytes(15) + last

    def nexthop(self) -> bytes:
        rng = self.rng
        kind = rng.choice((wire.NH_GATEWAY, wire.NH_GATEWAY, wire.NH_BLACKHOLE, wire.NH_REJECT))
        family, addr = 0, bytes(16)
        if kind == wire.NH_GATEWAY:
            family = rng.choice((4, 6))
            addr = bytes((10, 0, 0, rng.randrange(1, 255))) + bytes(12) if family == 4 \
                else bytes((0xFE, 0x80)) + bytes(13) + bytes((rng.randrange(1, 255),))
        return wire.NEXTHOP.pack(self.nh_id(), self.vrf(), rng.getrandbits(16), kind, family,
                                 addr, self.blob(6))

    def mutate(self, table: Table, rec: bytes) -> bytes:
        """One field set to a boundary value, or one byte set at random."""
        rng = self.rng
        if rng.random() < 0.3:
            at = rng.randrange(len(rec))
            return rec[:at] + bytes((rng.getrandbits(8),)) + rec[at + 1:]
        fields = list(table.record.unpack(rec))
        index = rng.randrange(len(fields))
        value = fields[index]
        if isinstance(value, bytes):
            fields[index] = rng.choice((bytes(len(value)), b"\xff" * len(value),
                                        self.blob(len(value))))
        else:
            fields[index] = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 32, 33, 128, 129, 255, 4095,
                                        4096, 0xFFFF, U32_MAX)) % (1 << (8 * self._width(
                                            table, index)))
        return table.record.pack(*fields)

    @staticmethod
    def _width(table: Table, index: int) -> int:
        codes = [c for c in table.record.format.lstrip("<") if not c.isdigit() and c != "x"]
        return {"B": 1, "H": 2, "I": 4, "Q": 8}.get(codes[index], 8)

    # -- small values --------------------------------------------------------------

    def nh_id(self) -> int:
        rng = self.rng
        return rng.choice((1, 2, 3, 4, 5, 6, 7, 8, rng.randrange(1, 13), 0, rng.getrandbits(32)))

    def vrf(self) -> int:
        return self.rng.choice((0, 0, 0, 1, 2, ALL))

    def scope(self) -> int:
        return self.rng.choice((ALL, ALL, ALL, 0, 1, 2, 3, self.rng.getrandbits(16)))

    def blob(self, size: int) -> bytes:
        return self.rng.getrandbits(8 * size).to_bytes(size, "little") if size else b""

    def resize(self, payload: bytes, record_size: int) -> bytes:
        """Usually ``payload``; sometimes cut short, lengthened, or emptied."""
        rng = self.rng
        roll = rng.random()
        if roll > 0.12 or not payload:
            return payload
        if roll < 0.04:
            return payload[:rng.randrange(len(payload))]
        if roll < 0.08:
            return payload + self.blob(rng.randrange(1, record_size + 1))
        return b""
