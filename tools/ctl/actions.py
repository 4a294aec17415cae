"""reactorctl's actions for changing and reading entries, bulk changes, save and restore.

The concept: each function here turns parsed arguments into an ``Action`` (a
function run on one ``api.client.Client``), or, for the bulk commands whose
whole input is read and checked before connecting, possibly into an exit code
(``Prepared``: ``load --check`` is done without a daemon).  Everything that
fails after sending raises ``CommandFailed`` (``tools.ctl.failure``) with the
command, the record at fault and the daemon's reason; reactorctl prints it.

Invariants:
- an ADD or DEL error names the record the daemon named (wire-v1 section 2),
  written as reactorctl's arguments for it (``route4 del 10.0.0.0/8 vrf 2``),
  or every record of the request when the daemon named none;
- a GET's ENOENT says what was not found (``nexthop 99 does not exist``,
  ``no route to 10.1.2.3 in vrf 0``); a route GET shows the resolved nexthop.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any, Callable, Union

from api import wire
from api.client import Client
from api.client_errors import ApiCallError
from api.text_view import View
from tools.ctl import load, removal, saving
from tools.ctl.failure import CommandFailed, refused
from tools.ctl.output import TablePrinter, emit, flush, write
from tools.ctl.progress import Progress
from tools.ctl.resolve import no_route, resolve, resolved_view
from tools.ctl.syntax import Table, flush_payload, options, scope_of

LOAD_HELP = ("add entries from a file or - (stdin): add lines, a listing, or JSON lines. "
             "The whole input is checked first (a bad line: exit 2, nothing sent); then it "
             "is sent in order, one request at a time; at the first line the daemon "
             "refuses, the lines before it are applied, that line and all after it are not")
Action = Callable[[Client], int]
Prepared = Union[Action, int]
"""What preparing a command gives: the action to run on a connection, or the
exit code of a command done without one (``load --check``)."""


def show_records(records: list[tuple[Any, ...]], view: View, as_json: bool,
                 out: IO[str]) -> None:
    if as_json:
        write(out, "".join(view.json_lines(records)))
        flush(out)
    else:
        printer = TablePrinter(out, view.columns)
        printer.add(view.rows(records))
        printer.finish()


def change_action(table: Table, verb: str, payload: bytes) -> Action:
    """ADD or DEL from the command line: an error names the record at fault."""
    def run(client: Client) -> int:
        try:
            client.call(table.req(wire.OP_ADD if verb == "add" else wire.OP_DEL), payload)
        except ApiCallError as exc:
            raise refused(f"{table.name} {verb} {record_text(table, verb, payload, exc)}",
                          exc) from None
        return 0
    return run


def record_text(table: Table, verb: str, payload: bytes, exc: ApiCallError) -> str:
    """The arguments naming the request's record the error is about (all of them if
    the daemon names none)."""
    size = table.record.size if verb == "add" else table.del_size
    records = payload[wire.BULK_FLAGS.size:]
    index = exc.index if exc.index is not None and exc.index * size < len(records) else None
    picked = [records[index * size:(index + 1) * size]] if index is not None else \
        [records[i:i + size] for i in range(0, len(records), size)]
    if verb == "add":
        return " ".join(table.line(table.record.unpack(r)) for r in picked)
    return " ".join(table.del_text(r) for r in picked)


def load_view(table: Table) -> View:
    """``list --format load``: the add lines ``load`` reads, one per record."""
    return View(table.view.columns, table.view.rows,
                lambda batch: [line + "\n" for line in table.lines(batch)])


def get_action(table: Table, args: argparse.Namespace) -> Action:
    assert table.get is not None
    payload = table.get(args.words)
    what = f"{table.name} get {' '.join(args.words)}"

    def run(client: Client) -> int:
        try:
            if table.module == wire.MODULE_NEXTHOP:
                record = table.record.unpack(client.call(table.req(wire.OP_GET), payload))
                show_records([record], table.view, args.json, sys.stdout)
            else:
                show_records([resolve(client, table, payload)], resolved_view(table),
                             args.json, sys.stdout)
        except ApiCallError as exc:
            if table.module != wire.MODULE_NEXTHOP:
                raise refused(what, exc, no_route(args.words, exc)) from None
            missing = exc.status == wire.ENOENT
            raise refused(what, exc, f"nexthop {args.words[0]} does not exist" if missing
                          else "") from None
        return 0
    return run


def bulk_action(table: Table, args: argparse.Namespace, path: str, verb: str,
                flags: int) -> Prepared:
    """``load FILE`` or ``del --from FILE``: the whole input is checked here,
    before connecting; ``--check`` ends here."""
    options(args.words, {})
    bulk = load.read_bulk(table, path, verb, flags)
    if getattr(args, "check", False):
        emit(load.checked(bulk))
        return 0
    return lambda client: load.send_bulk(client, bulk, args.batch, args.json)


def flush_action(table: Table, args: argparse.Namespace) -> Action:
    if table.flush:
        payload = flush_payload(table, args.words)
        return lambda client: emit_then(removal.flush_atomic(client, table, payload))
    scope = scope_of(table, args.words)

    def run(client: Client) -> int:
        summary, kept = removal.flush_listed(client, table, scope)
        emit(summary)
        if kept:
            raise CommandFailed(*kept)
        return 0
    return run


def emit_then(text: str, code: int = 0) -> int:
    emit(text)
    return code


def save_action(args: argparse.Namespace) -> Action:
    options(args.words, {})

    def run(client: Client) -> int:
        counts = saving.save(client, args.file)
        if args.file != "-":
            emit(f"saved {saving.summary(counts)} to {args.file}\n")
        return 0
    return run


def restore_action(args: argparse.Namespace) -> Prepared:
    options(args.words, {})
    progress = Progress()
    tables = saving.read_save_file(args.file, progress)

    def run(client: Client) -> int:
        if not args.replace:
            saving.refuse_non_empty(client)
        done = saving.restore(client, tables, args.replace, progress)
        total = sum(done.values())
        emit(f"restored {saving.summary(done)} from {args.file} in {progress.elapsed():.2f} s "
             f"({progress.rate(total):,.0f} entries/s)\n")
        return 0
    return run
