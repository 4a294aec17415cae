"""Bulk changes from a file: ``TABLE load FILE``, ``TABLE del --from FILE``, ``--check``.

The concept: a bulk change is two steps.  ``read_bulk`` reads the whole input
(``tools.ctl.records``: any form reactorctl prints) and checks every line
before the socket is even opened: a bad line is exit 2 with nothing sent, and
``--check`` stops there.  ``send_bulk`` then sends the records in file order
one request at a time (``tools.ctl.apply``) and says what happened:

- on success, one summary line on stdout: ``loaded 1,000,000 routes from
  routes.txt in 2.10 s (476,190 routes/s)`` (a JSON object with ``--json``);
- on the daemon's refusal, the failing line and record with the daemon's
  reason (``routes.txt:25001: route4 add 10.0.0.0/8 via 99: nexthop 99 does
  not exist (ENOENT)``), then exactly what was applied: every record before
  that line, ``the 25,000 routes before line 25001``, or ``nothing``.

Invariants: the messages name lines, never a request's range (except when
the daemon's reply names no record, or a Ctrl-C left a request in flight,
where the request's lines are all that is known, and the message says so);
exit 2 for bad text, 1 for a refusal, 130 for Ctrl-C; nothing is ever
applied without being said.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from typing import TextIO

from api import wire
from api.client import Client
from api.text_grammar import TextTable
from tools.ctl.apply import Interrupted, Outcome, apply_records
from tools.ctl.failure import NOUNS, CommandFailed, noun, why
from tools.ctl.output import flush, write
from tools.ctl.progress import Progress
from tools.ctl.records import Records, add_records, del_records, read_records

def open_input(path: str) -> tuple[TextIO, str]:
    """The text of FILE, or of stdin for ``-``, and its name in messages."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"), \
            "<stdin>"
    return open(path, encoding="utf-8", errors="replace"), path


@dataclass
class Bulk:
    """A checked input, ready to send: ``verb`` is ``add`` or ``del``."""

    records: Records
    verb: str
    flags: int
    progress: Progress

    @property
    def req_type(self) -> int:
        return self.records.table.req(wire.OP_ADD if self.verb == "add" else wire.OP_DEL)


def read_bulk(table: TextTable, path: str, verb: str, flags: int) -> Bulk:
    """Read and check all of ``path``; ``CommandFailed`` (exit 2) for bad lines."""
    progress = Progress()
    source, name = open_input(path)
    compile_line = add_records(table) if verb == "add" else del_records(table)
    size = table.record.size if verb == "add" else table.del_size
    try:
        with source:
            records = read_records(source, table, name, compile_line, size, progress)
    finally:
        progress.clear()
    return Bulk(records, verb, flags, progress)


def checked(bulk: Bulk) -> str:
    """The summary of ``--check``."""
    records = bulk.records
    return f"{records.name}: {noun(records.table.name, len(records))} to {bulk.verb}, no " \
           f"errors (checked only: nothing was sent)\n"


def send_bulk(client: Client, bulk: Bulk, batch: int, as_json: bool) -> int:
    """Send a checked input; print its summary, or raise ``CommandFailed``."""
    records, progress = bulk.records, bulk.progress
    total = len(records)

    def report(applied: int) -> None:
        progress.show(f"{records.name}: {applied:,} of {noun(records.table.name, total)} "
                      f"applied ({progress.rate(applied):,.0f}/s)")

    try:
        outcome = apply_records(client, bulk.req_type, bulk.flags, records, batch, report)
    except Interrupted as stop:
        raise interrupted(bulk, stop.outcome) from None
    finally:
        progress.clear()
    if outcome.error is not None:
        raise stopped(bulk, outcome)
    seconds = progress.elapsed()
    done = "loaded" if bulk.verb == "add" else "deleted"
    if as_json:
        text = json.dumps({done: total, "table": records.table.name, "from": records.name,
                           "seconds": round(seconds, 3),
                           "per_s": round(progress.rate(total))}) + "\n"
    else:
        text = f"{done} {noun(records.table.name, total)} from {records.name} in {seconds:.2f} s " \
               f"({progress.rate(total):,.0f} {NOUNS[records.table.name][1]}/s)\n"
    write(sys.stdout, text)
    flush(sys.stdout)
    return 0


def stopped(bulk: Bulk, outcome: Outcome) -> CommandFailed:
    """The two lines of a bulk change the daemon refused: the failing line, what applied."""
    records, table = bulk.records, bulk.records.table
    assert outcome.error is not None
    applied = applied_text(bulk, outcome.applied)
    if outcome.failed_at is None:
        start, stop = outcome.unknown or (outcome.applied, outcome.applied + 1)
        first, last = records.line_of(start), records.line_of(stop - 1)
        return CommandFailed(
            f"{records.name}:{first}: {table.name} {bulk.verb}: {why(outcome.error)}",
            f"{records.name}: the daemon did not name the failing line of "
            f"{lines_text(first, last)} (one request, not applied); {applied}; nothing from "
            f"line {first} on")
    index = outcome.failed_at
    line = records.line_of(index)
    text = record_text(bulk, index)
    rest = f"nothing from line {line} on"
    if outcome.applied and records.line_of(outcome.applied - 1) == line:
        rest = f"nothing from {text} on (the keys of line {line} before it are included)"
    return CommandFailed(
        f"{records.where(index)}: {table.name} {bulk.verb} {text}: {why(outcome.error)}",
        f"{records.name}: {applied}; {rest}")


def interrupted(bulk: Bulk, outcome: Outcome) -> CommandFailed:
    """What a Ctrl-C left: the records applied, the request in flight; exit 130."""
    records = bulk.records
    text = f"{records.name}: interrupted; {applied_text(bulk, outcome.applied)}"
    after = outcome.applied
    if outcome.unknown is not None:
        start, after = outcome.unknown
        first, last = records.line_of(start), records.line_of(after - 1)
        text += f"; {lines_text(first, last)} were one request in flight: all or none of " \
                f"them applied"
    if after < len(records):
        text += f"; nothing from line {records.line_of(after)} on"
    return CommandFailed(text, code=130)


def record_text(bulk: Bulk, index: int) -> str:
    """Record ``index`` as reactorctl's arguments: an add line, or DEL arguments."""
    table, record = bulk.records.table, bulk.records.record(index)
    if bulk.verb == "add":
        return table.line(table.record.unpack(record))
    return table.del_text(record)


def applied_text(bulk: Bulk, applied: int) -> str:
    """``applied the 25,000 routes before line 25001`` or ``nothing applied``."""
    records = bulk.records
    if applied == 0:
        return "nothing applied" if bulk.verb == "add" else "nothing deleted"
    done = "applied" if bulk.verb == "add" else "deleted"
    return f"{done} the {noun(records.table.name, applied)} of " \
           f"{lines_text(records.line_of(0), records.line_of(applied - 1))}"


def lines_text(first: int, last: int) -> str:
    """``line 7`` or ``lines 2-25000``."""
    return f"line {first}" if first == last else f"lines {first}-{last}"
