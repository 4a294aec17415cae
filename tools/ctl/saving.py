"""``reactorctl save FILE`` and ``restore FILE``: every table, as text, and back.

The concept, in the manner of ``ip route save`` / ``ip route restore``: a save
file is the add lines of every table, each prefixed with its table's name,
nexthops first (routes need them), then route4, route6, fdb, conntrack:

    # reactorctl save of reactord 1.0 at 2026-12-05T06:00:00Z; reactorctl restore FILE
    nexthop 1 gw 192.0.2.1 iface 2
    route4 10.0.0.0/8 via 1
    # end: 1 nexthop, 1 route4, 0 route6, 0 fdb, 0 conntrack

Restore reads and checks the whole file first (exit 2 for a bad line, or a
file without its ``# end`` line or whose counts differ from it: a truncated
save), then refuses a daemon that holds any entry unless ``--replace``, then
adds each table in that order under ``tools.ctl.apply``'s rule (on a refusal:
everything before the failing line applied, nothing from it on; on Ctrl-C,
what was applied and the request in flight are said, exit 130).

Invariants:
- save writes FILE.tmp and renames it over FILE once complete, so FILE is
  never a partial save; ``-`` writes to stdout;
- a save is not a snapshot: each table is one LIST, taken one after the
  other while other clients may change them;
- what the daemon sets is not saved: fdb last_seen_ns, conntrack id and
  last_update_ns; a restore gets new ones (conntrack ids in restore order);
- ``--replace`` adds with REPLACE: entries of the file replace those with the
  same keys, entries not in the file stay.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Iterable

from api import wire
from api.client import Client
from api.text_grammar import TABLES, TextTable
from api.text_words import TextError
from tools.ctl.apply import Interrupted, apply_records
from tools.ctl.failure import CommandFailed, noun, why
from tools.ctl.load import open_input
from tools.ctl.output import OutputError, flush, write
from tools.ctl.progress import Progress
from tools.ctl.records import Problems, Records
from tools.ctl.removal import STATS_NAME

ORDER = ("nexthop", "route4", "route6", "fdb", "conntrack")
END = "# end: "


def end_line(counts: dict[str, int]) -> str:
    return END + ", ".join(f"{counts[name]} {name}" for name in ORDER) + "\n"


def save(client: Client, path: str) -> dict[str, int]:
    """Write every table to ``path`` (``-``: stdout); the count per table."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    header = f"# reactorctl save of reactord {client.server_version} at {stamp}; " \
             f"reactorctl restore FILE reads it\n"
    if path == "-":
        return _write_tables(client, sys.stdout, header)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            counts = _write_tables(client, out, header)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, (OSError, OutputError)):
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise CommandFailed(f"save: cannot write {path}: {why}; nothing saved") from None
        raise
    return counts


def _write_tables(client: Client, out: IO[str], header: str) -> dict[str, int]:
    write(out, header)
    counts: dict[str, int] = {}
    progress = Progress()
    try:
        for name in ORDER:
            counts[name] = _write_table(client, TABLES[name], out, progress)
    finally:
        progress.clear()
    write(out, end_line(counts))
    flush(out)
    return counts


def _write_table(client: Client, table: TextTable, out: IO[str], progress: Progress) -> int:
    prefix = table.name + " "
    written = 0
    stream = client.stream(table.req(wire.OP_LIST), wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0),
                           record=table.record)
    with stream:
        for batch in stream.batches():
            write(out, "".join([prefix + line + "\n" for line in table.lines(batch)]))
            written += len(batch)
            progress.show(f"save: {table.name} {written:,}")
    return written


def read_saved(lines: Iterable[str], name: str,
               progress: Progress | None = None) -> dict[str, Records]:
    """The records of a save file, per table; ``CommandFailed`` (exit 2) if it is bad."""
    tables = {t: Records(TABLES[t], TABLES[t].record.size, name) for t in ORDER}
    problems = Problems()
    ended: str | None = None
    lineno = 0
    for lineno, line in enumerate(lines, 1):
        if "#" in line:
            if line.startswith(END):
                ended = line
                continue
            line = line[:line.index("#")]
        words = line.split()
        if not words:
            continue
        records = tables.get(words[0])
        try:
            if records is None:
                raise TextError(f"unknown table {words[0]!r} (expected {', '.join(ORDER)})")
            records.add(records.table.add(words[1:]), lineno)
        except TextError as exc:
            problems.add(f"{name}:{lineno}", str(exc))
        if progress is not None and not lineno & 0xFFFF:
            progress.show(f"{name}: read {lineno:,} lines")
    if not problems.count:
        _check_end(ended, tables, name, problems)
    if problems.count:
        raise problems.failure(name)
    return tables


def _check_end(ended: str | None, tables: dict[str, Records], name: str,
               problems: Problems) -> None:
    counts = {t: len(records) for t, records in tables.items()}
    if ended is None:
        problems.add(name, "no '# end:' line: not a save file, or a truncated one")
    elif ended.rstrip("\n") != end_line(counts).rstrip("\n"):
        problems.add(name, f"the file holds {end_line(counts)[len(END):].strip()}, its end "
                           f"line says {ended[len(END):].strip()}")


def refuse_non_empty(client: Client) -> None:
    """``CommandFailed`` if any table of the daemon holds an entry."""
    figures = client.stats()
    held = [noun(t, int(figures.get(STATS_NAME[t], 0))) for t in ORDER
            if figures.get(STATS_NAME[t], 0)]
    if held:
        raise CommandFailed(f"restore: the daemon is not empty ({', '.join(held)}); "
                            f"--replace restores over it (keys in the file replaced, the "
                            f"others kept)")


def restore(client: Client, tables: dict[str, Records], replace: bool,
            progress: Progress) -> dict[str, int]:
    """Add every table in ORDER; the count per table, or ``CommandFailed``."""
    done: dict[str, int] = {}
    flags = wire.ADD_REPLACE if replace else 0
    try:
        for name in ORDER:
            records = tables[name]

            def report(applied: int, name: str = name) -> None:
                progress.show(f"restore: {name} {applied:,} of {len(tables[name]):,}")

            try:
                outcome = apply_records(client, records.table.req(wire.OP_ADD), flags,
                                        records, report=report)
            except Interrupted as stop:
                done[name] = stop.outcome.applied
                raise _interrupted(records, done, stop.outcome.unknown) from None
            done[name] = outcome.applied
            if outcome.error is not None:
                raise _stopped(tables, name, done, outcome.failed_at, why(outcome.error))
    finally:
        progress.clear()
    return done


def amount(table: str, n: int) -> str:
    """``2 nexthops``, ``1,000,000 route4 routes``."""
    return f"{n:,} {table} {'route' if n == 1 else 'routes'}" if table.startswith("route") \
        else noun(table, n)


def summary(done: dict[str, int]) -> str:
    return ", ".join(amount(t, n) for t, n in done.items() if n) or "nothing"


def _interrupted(records: Records, done: dict[str, int],
                 unknown: tuple[int, int] | None) -> CommandFailed:
    text = f"{records.name}: interrupted; restored {summary(done)}"
    if unknown is not None:
        first, last = records.line_of(unknown[0]), records.line_of(unknown[1] - 1)
        text += f"; lines {first}-{last} were one request in flight: all or none of them " \
                f"applied"
    return CommandFailed(text + "; nothing after", code=130)


def _stopped(tables: dict[str, Records], failed: str, done: dict[str, int],
             failed_at: int | None, reason: str) -> CommandFailed:
    records = tables[failed]
    table = records.table
    later = [amount(t, len(tables[t])) for t in ORDER[ORDER.index(failed) + 1:] if tables[t]]
    rest = f"; nor the {' and '.join(later)} after them" if later else ""
    if failed_at is None:
        return CommandFailed(f"{records.name}: {table.name} add: {reason}",
                             f"{records.name}: restored {summary(done)}; the daemon did not "
                             f"name the failing line: no {failed} after those{rest}")
    text = table.line(table.record.unpack(records.record(failed_at)))
    return CommandFailed(f"{records.where(failed_at)}: {table.name} add {text}: {reason}",
                         f"{records.name}: restored {summary(done)}; not the {failed} lines "
                         f"from line {records.line_of(failed_at)} on{rest}")


def read_save_file(path: str, progress: Progress) -> dict[str, Records]:
    """The checked records of the save file ``path`` (``-``: stdin)."""
    source, name = open_input(path)
    try:
        with source:
            return read_saved(source, name, progress)
    finally:
        progress.clear()
