"""reactorctl monitor: the daemon's changes as they happen, one line each (as ``ip monitor``).

The concept: one WATCH stream (watch-v1, ``Client.watch``) whose events are
written as they arrive: ``[REV] TABLE add|del RECORD`` for a change (RECORD is
the add line of the record, ``api.text.line``; a del shows the record as it
was), ``[snap] TABLE RECORD`` for a record of a ``--snapshot`` listing, and
``[REV] sync: the tables above are current`` at SYNC.  With ``--json`` each
event is one object: ``revision``, ``event`` (put, del, snap, sync),
``table``, ``last`` and ``record`` (as ``--json list`` prints it; null for
sync).

Invariants:
- every event is flushed as soon as it is written: a monitor in a pipe shows
  each change at once;
- it never ends by itself: a closed reader (``| head``) cancels the stream and
  exits 0 silently, Ctrl-C exits 130 (both as for a listing);
- ESTALE is one line naming the last revision printed in full and how to start
  again (``reactorctl monitor --snapshot``), exit 1;
- the socket has no read timeout: a quiet daemon is not a dead one.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from api import text, wire
from api.client import Client
from api.client_errors import Stale
from api.events import KIND_NAMES, TABLE_NAMES, Event
from api.records import RECORD_TYPES, Record
from tools.ctl.actions import Action
from tools.ctl.failure import CommandFailed
from tools.ctl.output import emit
from tools.ctl.syntax import CtlSyntaxError

ALIASES = {"nh": "nexthop", "ct": "conntrack"}
TABLE_IDS = {name: table for table, name in TABLE_NAMES.items()}
RECORD_OF: dict[int, type[Record]] = {
    TABLE_IDS[kind.TABLE]: kind for kind in RECORD_TYPES}
"""Table id -> the typed record of ``api.records``."""


def table_mask(words: list[str]) -> int:
    """The WATCH table mask of the named tables (all of them when none is named)."""
    mask = 0
    for word in words:
        name = ALIASES.get(word, word)
        if name not in TABLE_IDS:
            raise CtlSyntaxError(f"unknown table {word!r} (one of {', '.join(TABLE_IDS)})")
        mask |= wire.table_bit(TABLE_IDS[name])
    return mask or wire.ALL_TABLES_MASK


def record_of(event: Event) -> Record:
    return RECORD_OF[event.table].from_wire(event.record)


def event_text(event: Event) -> str:
    """The line ``reactorctl monitor`` prints for ``event`` (with its newline)."""
    if event.kind == wire.EV_SYNC:
        return f"[{event.revision}] sync: the tables above are current\n"
    table = TABLE_NAMES[event.table]
    record = text.line(record_of(event))
    if event.kind == wire.EV_SNAP:
        return f"[snap] {table} {record}\n"
    verb = "add" if event.kind == wire.EV_PUT else "del"
    return f"[{event.revision}] {table} {verb} {record}\n"


def event_json(event: Event) -> str:
    """The ``--json`` line of ``event``."""
    sync = event.kind == wire.EV_SYNC
    obj: dict[str, Any] = {
        "revision": event.revision, "event": KIND_NAMES[event.kind],
        "table": None if sync else TABLE_NAMES[event.table], "last": event.last,
        "record": None if sync else text.as_json(record_of(event))}
    return json.dumps(obj) + "\n"


def stale_line(revision: int) -> str:
    return (f"monitor: the changes after revision {revision} are no longer retained by "
            f"the daemon; start again with 'reactorctl monitor --snapshot'")


def monitor_action(args: argparse.Namespace) -> Action:
    mask = table_mask(args.words)
    if args.snapshot and args.from_revision:
        raise CtlSyntaxError("--snapshot and --from exclude each other")
    args.timeout = 0.0          # wait for changes forever
    line = event_json if args.json else event_text

    def run(client: Client) -> int:
        applied = args.from_revision    # the last revision printed in full
        try:
            with client.watch(from_revision=args.from_revision, tables=mask,
                              snapshot=args.snapshot, no_self=args.no_self) as events:
                try:
                    for event in events:
                        emit(line(event))
                        if event.last or event.kind == wire.EV_SYNC:
                            applied = event.revision
                except KeyboardInterrupt:
                    client.close()      # it may have landed inside a frame: no draining
                    raise
        except Stale:
            raise CommandFailed(stale_line(applied)) from None
        return 0
    return run


def add_parser(objects: Any, verb_parser: Any) -> None:
    """The ``monitor`` command on reactorctl's parser (``verb_parser``: its helper)."""
    p = verb_parser(objects, "monitor", "monitor", "[TABLE ...]",
                    "print changes as they happen, one line each (tables: nexthop, route4, "
                    "route6, fdb, conntrack; default all), until Ctrl-C; waits for changes "
                    "forever (-t does not apply)",
                    "[--snapshot] [--from REV] [--no-self] ")
    p.add_argument("--snapshot", action="store_true",
                   help="first print the tables' contents ([snap] lines), then a sync line")
    p.add_argument("--from", dest="from_revision", type=_revision, default=0, metavar="REV",
                   help="first print the changes after revision REV (still retained), "
                        "then a sync line")
    p.add_argument("--no-self", action="store_true",
                   help="leave out changes made on monitor's own connection (WATCH NO_SELF; "
                        "monitor itself changes nothing)")
    p.set_defaults(object="monitor", verb="", prepare=monitor_action)


def _revision(text_: str) -> int:
    if not (text_.isascii() and text_.isdigit()) or int(text_) >= 1 << 64:
        raise argparse.ArgumentTypeError(f"not a revision: {text_!r}")
    return int(text_)
