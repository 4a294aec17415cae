"""A whole record file read and checked before anything is sent.

The concept: ``read_records`` turns every line of an input (any form
``tools.ctl.formats`` reads) into wire records for one request type (ADD
records for a load, DEL records for ``del --from``), kept end to end in one
``Records`` with the line number of each, and reports every bad line, as a
compiler does: ``FILE:LINE: message``, the first ``ERRORS_SHOWN`` of them, and
how many there were.  Nothing is sent until the whole input has been read;
one bad line means nothing is sent at all.

Invariants:
- ``Records`` holds the records in file order; ``line_of(i)`` is the line of
  record i (a DEL line naming several keys gives several records of one line);
- after a bad line, reading goes on to find the others, but nothing of a
  file with a bad line is ever sent (``Problems.count`` > 0 means exit 2);
- memory: the records' bytes plus 4 bytes of line number per record (a
  million route4 lines: 16 MB), no object per record.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable

from api.text_grammar import TextTable
from api.text_words import TextError, Words
from tools.ctl.failure import CommandFailed, count, one_line
from tools.ctl.formats import Reader
from tools.ctl.progress import Progress

ERRORS_SHOWN = 20
Compile = Callable[[Words], bytes]
"""Add-line words -> one or more wire records (raises TextError)."""


@dataclass
class Records:
    """Wire records of one table and request type, in file order, with their lines."""

    table: TextTable
    size: int
    """The record size (``table.del_size`` for DEL records)."""
    name: str
    """The input's name in messages (a path, or ``<stdin>``)."""
    blob: bytearray = field(default_factory=bytearray)
    lines: array[int] = field(default_factory=lambda: array("L"))

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, records: bytes, line: int) -> None:
        self.blob += records
        if len(records) == self.size:
            self.lines.append(line)
        else:
            self.lines.extend([line] * (len(records) // self.size))

    def record(self, index: int) -> bytes:
        return bytes(self.blob[index * self.size:(index + 1) * self.size])

    def chunk(self, start: int, stop: int) -> bytes:
        """Records ``start..stop-1`` end to end."""
        return bytes(self.blob[start * self.size:stop * self.size])

    def line_of(self, index: int) -> int:
        return self.lines[index]

    def where(self, index: int) -> str:
        """``FILE:LINE`` of record ``index``."""
        return f"{self.name}:{self.lines[index]}"


@dataclass
class Problems:
    """Bad lines: the first ``shown`` as messages, and how many in all."""

    shown: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, where: str, message: str) -> None:
        self.count += 1
        if len(self.shown) < ERRORS_SHOWN:
            self.shown.append(f"{where}: {one_line(message)}")

    def failure(self, name: str) -> CommandFailed:
        """The error for a file with bad lines: each shown, then a count; exit 2."""
        more = f" (the first {len(self.shown)} shown)" if self.count > len(self.shown) else ""
        return CommandFailed(*self.shown, f"{name}: {count(self.count, 'bad line')}"
                             f"{more}; nothing was sent", code=2)


def add_records(table: TextTable) -> Compile:
    """Add-line words -> the ADD record."""
    return table.add


def del_records(table: TextTable) -> Compile:
    """An add line, or DEL arguments (``PREFIX [PREFIX ...] [vrf V]``) -> DEL records.

    The add grammar is tried first: a load file is the common input, and where
    a line reads both ways (a conntrack flow) it names the same key.  A line
    that is neither is reported with the DEL grammar's words.
    """
    def compile_del(words: Words) -> bytes:
        try:
            return table.del_record(table.add(words))
        except TextError:
            return table.delete(words)
    return compile_del


def read_records(lines: Iterable[str], table: TextTable, name: str, compile_line: Compile,
                 size: int, progress: Progress | None = None) -> Records:
    """Every record of ``lines``; ``CommandFailed`` (exit 2) listing the bad lines."""
    records = Records(table, size, name)
    problems = Problems()
    reader = Reader(table)
    lineno = 0
    for lineno, line in enumerate(lines, 1):
        try:
            words = reader.words(line)
            if words is not None:
                records.add(compile_line(words), lineno)
        except TextError as exc:
            problems.add(f"{name}:{lineno}", str(exc))
        if progress is not None and not lineno & 0xFFFF:
            progress.show(f"{name}: read {lineno:,} lines")
    if problems.count:
        raise problems.failure(name)
    return records
