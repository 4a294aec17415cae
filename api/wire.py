"""Wire protocol v1: the constants and fixed layouts of ``wire-v1.md``.

The concept: every number, message type and record layout that crosses the
socket, in one place, as precompiled ``struct.Struct`` objects.  Nothing here
does I/O or keeps state; the codec (``api.codec``), the registry and the
tables import these names instead of repeating format strings.

Invariants:
- every integer is little-endian; addresses are raw network-order bytes;
- a frame is a 12-byte header followed by at most ``MAX_PAYLOAD`` bytes;
- status values are Linux errno numbers, spelled out here so that the wire
  does not depend on the host's ``errno`` module.
"""

from __future__ import annotations

import struct
from typing import Final

# -- framing ---------------------------------------------------------------

HEADER: Final = struct.Struct("<III")
"""Request header (id, type, payload_len); response header (for_id, status, payload_len)."""
HEADER_SIZE: Final = HEADER.size
MAX_PAYLOAD: Final = 131072
API_VERSION: Final = 1

# -- status values (positive Linux errno numbers) ----------------------------

OK: Final = 0
ENOENT: Final = 2
ESRCH: Final = 3
EIO: Final = 5
EBUSY: Final = 16
EEXIST: Final = 17
EINVAL: Final = 22
EXFULL: Final = 54
EBADMSG: Final = 74
EMSGSIZE: Final = 90
ENOTSUP: Final = 95
ESHUTDOWN: Final = 108
ESTALE: Final = 116
ECANCELED: Final = 125

STATUS_NAMES: Final[dict[int, str]] = {
    OK: "OK", ENOENT: "ENOENT", ESRCH: "ESRCH", EIO: "EIO", EBUSY: "EBUSY",
    EEXIST: "EEXIST", EINVAL: "EINVAL", EXFULL: "EXFULL", EBADMSG: "EBADMSG",
    EMSGSIZE: "EMSGSIZE", ENOTSUP: "ENOTSUP", ESHUTDOWN: "ESHUTDOWN",
    ESTALE: "ESTALE", ECANCELED: "ECANCELED",
}

STATUS_TEXT: Final[dict[int, str]] = {
    OK: "success",
    ENOENT: "no such object",
    ESRCH: "no such stream",
    EIO: "internal error in the daemon (see its log)",
    EBUSY: "busy (object in use, or a stream already active)",
    EEXIST: "object already exists",
    EINVAL: "invalid argument",
    EXFULL: "listing incomplete: max count reached",
    EBADMSG: "bad message (API version mismatch)",
    EMSGSIZE: "message size invalid",
    ENOTSUP: "request type not supported",
    ESHUTDOWN: "daemon shutting down",
    ESTALE: "changes no longer retained: watch again with a snapshot",
    ECANCELED: "stream cancelled",
}


def status_name(status: int) -> str:
    """``ENOENT`` for 2; ``errno 999`` for a value the protocol does not define."""
    return STATUS_NAMES.get(status, f"errno {status}")


# -- message types ------------------------------------------------------------

MODULE_MAIN: Final = 0xCAFE
MODULE_NEXTHOP: Final = 0xACDC
MODULE_ROUTE4: Final = 0xF00D
MODULE_ROUTE6: Final = 0xFEED
MODULE_FDB: Final = 0xBABE
MODULE_CONNTRACK: Final = 0xC0C0

OP_ADD: Final = 1
OP_DEL: Final = 2
OP_GET: Final = 3
OP_LIST: Final = 4
OP_FLUSH: Final = 5


def msg_type(module: int, op: int) -> int:
    """The request type ``module << 16 | op``."""
    return (module << 16) | op


HELLO: Final = msg_type(MODULE_MAIN, 1)
STREAM_CANCEL: Final = msg_type(MODULE_MAIN, 2)
STATS: Final = msg_type(MODULE_MAIN, 3)
CLIENTS: Final = msg_type(MODULE_MAIN, 4)
WATCH: Final = msg_type(MODULE_MAIN, 5)

NH_ADD: Final = msg_type(MODULE_NEXTHOP, OP_ADD)
NH_DEL: Final = msg_type(MODULE_NEXTHOP, OP_DEL)
NH_GET: Final = msg_type(MODULE_NEXTHOP, OP_GET)
NH_LIST: Final = msg_type(MODULE_NEXTHOP, OP_LIST)
ROUTE4_ADD: Final = msg_type(MODULE_ROUTE4, OP_ADD)
ROUTE4_DEL: Final = msg_type(MODULE_ROUTE4, OP_DEL)
ROUTE4_GET: Final = msg_type(MODULE_ROUTE4, OP_GET)
ROUTE4_LIST: Final = msg_type(MODULE_ROUTE4, OP_LIST)
ROUTE6_ADD: Final = msg_type(MODULE_ROUTE6, OP_ADD)
ROUTE6_DEL: Final = msg_type(MODULE_ROUTE6, OP_DEL)
ROUTE6_GET: Final = msg_type(MODULE_ROUTE6, OP_GET)
ROUTE6_LIST: Final = msg_type(MODULE_ROUTE6, OP_LIST)
FDB_ADD: Final = msg_type(MODULE_FDB, OP_ADD)
FDB_DEL: Final = msg_type(MODULE_FDB, OP_DEL)
FDB_LIST: Final = msg_type(MODULE_FDB, OP_LIST)
FDB_FLUSH: Final = msg_type(MODULE_FDB, OP_FLUSH)
CT_ADD: Final = msg_type(MODULE_CONNTRACK, OP_ADD)
CT_DEL: Final = msg_type(MODULE_CONNTRACK, OP_DEL)
CT_LIST: Final = msg_type(MODULE_CONNTRACK, OP_LIST)
CT_FLUSH: Final = msg_type(MODULE_CONNTRACK, OP_FLUSH)

TYPE_NAMES: Final[dict[int, str]] = {
    HELLO: "HELLO", STREAM_CANCEL: "STREAM_CANCEL", STATS: "STATS", CLIENTS: "CLIENTS",
    WATCH: "WATCH",
    NH_ADD: "NH_ADD", NH_DEL: "NH_DEL", NH_GET: "NH_GET", NH_LIST: "NH_LIST",
    ROUTE4_ADD: "ROUTE4_ADD", ROUTE4_DEL: "ROUTE4_DEL", ROUTE4_GET: "ROUTE4_GET",
    ROUTE4_LIST: "ROUTE4_LIST",
    ROUTE6_ADD: "ROUTE6_ADD", ROUTE6_DEL: "ROUTE6_DEL", ROUTE6_GET: "ROUTE6_GET",
    ROUTE6_LIST: "ROUTE6_LIST",
    FDB_ADD: "FDB_ADD", FDB_DEL: "FDB_DEL", FDB_LIST: "FDB_LIST", FDB_FLUSH: "FDB_FLUSH",
    CT_ADD: "CONNTRACK_ADD", CT_DEL: "CONNTRACK_DEL", CT_LIST: "CONNTRACK_LIST",
    CT_FLUSH: "CONNTRACK_FLUSH",
}


def type_name(req_type: int) -> str:
    """``ROUTE4_LIST`` for 0xf00d0004; ``0x12345678`` for an unknown type."""
    return TYPE_NAMES.get(req_type, f"0x{req_type:08x}")


# -- request payloads ---------------------------------------------------------

U32: Final = struct.Struct("<I")
HELLO_REQ: Final = U32            # api_version, then an optional UTF-8 name
HELLO_NAME_MAX: Final = 64
CANCEL_REQ: Final = U32           # for_id
FLUSH_REQ: Final = struct.Struct("<H2x")       # scope
NH_GET_REQ: Final = U32                        # nh_id
ROUTE4_GET_REQ: Final = struct.Struct("<H2x4s")   # vrf_id, address
ROUTE6_GET_REQ: Final = struct.Struct("<H2x16s")  # vrf_id, address
BULK_FLAGS: Final = U32           # ADD / DEL: flags, then N >= 1 records
ERROR_INDEX: Final = U32          # an ADD/DEL error reply naming a record: its index, then
ERROR_REASON_MAX: Final = 200     # a UTF-8 reason of at most this many bytes (section 2)
LIST_REQ: Final = struct.Struct("<IHH")        # max_count, scope, flags

ADD_REPLACE: Final = 1
DEL_MISSING_OK: Final = 1
LIST_AFTER: Final = 1
SCOPE_ALL: Final = 0xFFFF

WATCH_REQ: Final = struct.Struct("<QII")      # from_revision, tables mask, flags
WATCH_SNAPSHOT: Final = 1
WATCH_NO_SELF: Final = 2

# -- change events (watch-v1 section 4) ----------------------------------------

EVENT: Final = struct.Struct("<QBBBx")
"""Event item header: revision, kind, table, flags; the record follows (none for SYNC)."""
EVENT_SIZE: Final = EVENT.size
EVENT_FLAGS_OFFSET: Final = 10
"""Byte offset of ``flags`` in an event header."""
EV_PUT: Final = 1
EV_DEL: Final = 2
EV_SNAP: Final = 3
EV_SYNC: Final = 4
EV_LAST: Final = 1
"""Event flag: the last event of its revision that this watcher receives."""
TABLE_NEXTHOP: Final = 1
TABLE_ROUTE4: Final = 2
TABLE_ROUTE6: Final = 3
TABLE_FDB: Final = 4
TABLE_CONNTRACK: Final = 5
TABLE_IDS: Final = (TABLE_NEXTHOP, TABLE_ROUTE4, TABLE_ROUTE6, TABLE_FDB, TABLE_CONNTRACK)
"""Table ids in the order a SNAPSHOT lists them."""
ALL_TABLES_MASK: Final = 0x1F


def table_bit(table: int) -> int:
    """A table id's bit in a WATCH tables mask (1 nexthop ... 16 conntrack)."""
    return 1 << (table - 1)


# -- records ------------------------------------------------------------------

NEXTHOP: Final = struct.Struct("<IHHBB2x16s6s2x")
ROUTE4: Final = struct.Struct("<HBB4sI")
ROUTE6: Final = struct.Struct("<HBB16sI")
FDB: Final = struct.Struct("<HH6sHB3xQ")
CONNTRACK: Final = struct.Struct("<IHBB16s16sHHB3xQ")
CLIENT: Final = struct.Struct("<IIIIQ")  # client_id, pid, uid, flags, output_buffered

NH_GATEWAY: Final = 1
NH_BLACKHOLE: Final = 2
NH_REJECT: Final = 3
FDB_STATIC: Final = 1
FDB_LEARNED: Final = 2
CLIENT_STREAM_ACTIVE: Final = 1
PROTO_NAMES: Final[dict[int, str]] = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp",
                                      58: "icmpv6", 132: "sctp"}
"""The names reactorctl and the daemon's error reasons give conntrack protocol numbers."""
CLIENT_STREAM_PAUSED: Final = 2

# -- server defaults (wire-v1 section 5) ----------------------------------------

DEFAULT_WRITE_HIGH: Final = 131072
DEFAULT_WRITE_LOW: Final = 32768
STREAM_OVERSHOOT: Final = 65536   # stream records never bring output above high + this
MAX_STREAM_RECORD: Final = STREAM_OVERSHOOT - HEADER_SIZE
"""The largest stream item payload: the pump writes only while output <= write_high,
so an item larger than this could land above write_high + STREAM_OVERSHOOT."""
DEFAULT_OUTPUT_CAP: Final = 1 << 20
SHUTDOWN_FLUSH_S: Final = 5.0
