"""The request log: an audit line for every change, a trace line for every request.

The concept: an ``Observer`` (``api.observe``) that turns what the server did
into log lines on the ``api.audit`` logger, so that the log answers "who
changed what, and did it work?" without a debugger.

- INFO, one line per change request (ADD, DEL, FLUSH of any table), whatever
  its status: the client (id, pid, uid, HELLO name), the request, its record
  count (or FLUSH scope), its flags, the status and, once the daemon keeps a
  revision counter (STATS ``revision``), the revision after it.
- DEBUG, one line per other request (type, id, payload size, status, time in
  the daemon); a stream's line says it began, and its end is the server's
  "stream ended" line; an oversized header gets its own line.

Invariants: nothing is decoded beyond the 4-byte flags or FLUSH scope (the
registry validated the request; a failed one may be malformed: its count is
then what its length implies, rounded down); a DEBUG line costs nothing when
DEBUG is off (``isEnabledFor`` is checked first).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from api import wire
from api.codec import Oversized, Request
from api.observe import Observer

if TYPE_CHECKING:
    from api.session import Session

log = logging.getLogger("api.audit")

RECORD_SIZES = {wire.MODULE_NEXTHOP: wire.NEXTHOP.size, wire.MODULE_ROUTE4: wire.ROUTE4.size,
                wire.MODULE_ROUTE6: wire.ROUTE6.size, wire.MODULE_FDB: wire.FDB.size,
                wire.MODULE_CONNTRACK: wire.CONNTRACK.size}
CHANGES = (wire.OP_ADD, wire.OP_DEL, wire.OP_FLUSH)


def client_text(session: Session) -> str:
    name = f", {session.client_name}" if session.client_name else ""
    return f"client {session.client_id} (pid {session.pid}, uid {session.uid}{name})"


def change_text(request: Request) -> str:
    """``ROUTE4_ADD 3 records, replace`` / ``FDB_FLUSH scope all``."""
    module, op = request.req_type >> 16, request.req_type & 0xFFFF
    payload, name = request.payload, wire.type_name(request.req_type)
    if op == wire.OP_FLUSH:
        if len(payload) < wire.FLUSH_REQ.size:
            return f"{name} ({len(payload)} bytes)"
        (scope,) = wire.FLUSH_REQ.unpack_from(payload)
        return f"{name} scope {'all' if scope == wire.SCOPE_ALL else scope}"
    size = 4 if (module, op) == (wire.MODULE_NEXTHOP, wire.OP_DEL) else RECORD_SIZES[module]
    count = max(0, len(payload) - wire.BULK_FLAGS.size) // size
    text = f"{name} {count} record{'' if count == 1 else 's'}"
    if len(payload) >= wire.BULK_FLAGS.size and wire.BULK_FLAGS.unpack_from(payload)[0] & 1:
        text += ", replace" if op == wire.OP_ADD else ", missing-ok"
    return text


def is_change(req_type: int) -> bool:
    return (req_type >> 16) in RECORD_SIZES and (req_type & 0xFFFF) in CHANGES


class RequestLog(Observer):
    """See the module docstring.  ``revision`` returns the daemon's revision
    counter, or None while it has none."""

    def __init__(self, now: Callable[[], float],
                 revision: Callable[[], int | None] = lambda: None) -> None:
        self._now = now
        self._revision = revision

    def request_done(self, session: Session, request: Request, status: int | None,
                     started: float) -> None:
        if is_change(request.req_type):
            revision = self._revision()
            log.info("change by %s: %s: %s%s", client_text(session), change_text(request),
                     wire.status_name(status or 0),
                     "" if revision is None else f", revision {revision}")
        elif log.isEnabledFor(logging.DEBUG):
            outcome = ("stream began" if status is None else
                       f"{wire.status_name(status)} in {(self._now() - started) * 1e3:.3f} ms")
            log.debug("client %d: %s id %d (%d bytes): %s", session.client_id,
                      wire.type_name(request.req_type), request.req_id, len(request.payload),
                      outcome)

    def oversized(self, session: Session, event: Oversized) -> None:
        log.debug("client %d: %s id %d: payload_len %d over %d: EMSGSIZE", session.client_id,
                  wire.type_name(event.req_type), event.req_id, event.payload_len,
                  wire.MAX_PAYLOAD)
