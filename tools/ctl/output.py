"""reactorctl's output: aligned tables written as records arrive, the pager, closed pipes.

Also what records look like: a ``View`` per record type (columns, cells and
JSON lines, computed per batch with comprehensions and %-templates; no
per-record dispatch), and the text of STATS.

The concept: output is written batch by batch while a stream is still running,
so a listing of a million routes never sits in memory and ``| head`` or
quitting the pager ends it early.

Invariants:
- ``TablePrinter`` holds at most ``SAMPLE`` rows (the first screenful) before
  fixing its column widths from them; after that each batch becomes one
  string (a template repeated once per row, applied once) and one write.  A
  wider value later only pushes its own row: columns never re-flow;
- every write to the output goes through ``write``/``flush`` here, which turn
  a closed reader (EPIPE, quitting the pager) into ``OutputClosed`` and any
  other write error into ``OutputError``; an error from the socket is thus
  never mistaken for either;
- after ``OutputClosed`` the caller cancels its stream and calls
  ``silence_stdout`` so that Python's final flush has nowhere to fail.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from itertools import chain
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import IO, Any, Callable, Iterator, Mapping, NamedTuple, Sequence

from api import wire

Row = tuple[Any, ...]

SAMPLE = 100
DEFAULT_PAGER = "less -SFRX"
GAP = "  "


class OutputClosed(Exception):
    """The reader of our output went away (``| head`` exited, the pager quit)."""


class OutputError(Exception):
    """Writing our output failed otherwise (a full disk, say); ``str()`` says why."""


def write(out: IO[str], text: str) -> None:
    try:
        out.write(text)
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc)) from None


def flush(out: IO[str]) -> None:
    try:
        out.flush()
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc)) from None


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


class TablePrinter:
    """Left-aligned columns; widths from the header and the first ``sample`` rows."""

    def __init__(self, out: IO[str], columns: Sequence[str], sample: int = SAMPLE) -> None:
        self._out = out
        self._columns = tuple(columns)
        self._sample = sample
        self._held: list[tuple[Any, ...]] = []
        self._template = ""
        self.rows = 0

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Write ``rows`` (tuples of cells), or hold them while the widths are unknown."""
        self.rows += len(rows)
        if not self._template:
            self._held.extend(rows)
            if len(self._held) >= self._sample:
                self._start()
        elif rows:
            write(self._out, (self._template * len(rows)) % tuple(chain.from_iterable(rows)))

    def finish(self) -> None:
        """Write the header and held rows if the widths were never fixed; flush."""
        if not self._template:
            self._start()
        flush(self._out)

    def _start(self) -> None:
        held, self._held = self._held, []
        widths = [len(name) for name in self._columns]
        for row in held[:self._sample]:
            widths = [max(w, len(str(cell))) for w, cell in zip(widths, row)]
        self._template = GAP.join(f"%-{w}s" for w in widths[:-1]) + GAP + "%s\n"
        lines = self._template % self._columns
        if held:
            lines += (self._template * len(held)) % tuple(chain.from_iterable(held))
        write(self._out, lines)


def pager_argv() -> list[str] | None:
    """``$PAGER`` (default ``less -SFRX``) as argv; None when empty, ``cat`` or not found."""
    command = os.environ.get("PAGER", DEFAULT_PAGER)
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv or argv == ["cat"] or shutil.which(argv[0]) is None:
        return None
    return argv


@contextmanager
def paged(enabled: bool) -> Iterator[IO[str]]:
    """stdout, or a pager's stdin when enabled and stdout is a terminal.

    On leaving, the pager's input is closed and the pager waited for (a Ctrl-C
    meanwhile belongs to the pager: it does not abandon the terminal to it).
    """
    argv = pager_argv() if enabled and sys.stdout.isatty() else None
    proc = None
    if argv is not None:
        env = dict(os.environ)
        env.setdefault("LESS", "FRSX")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, text=True, env=env,
                                    errors="replace")
        except OSError:
            proc = None
    if proc is None or proc.stdin is None:
        yield sys.stdout
        return
    try:
        yield proc.stdin
    finally:
        _close_pager(proc)


def _close_pager(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    while True:
        try:
            proc.wait()
            return
        except KeyboardInterrupt:
            continue


# -- records -> cells and JSON lines: one View per record type ------------------------------

NH_TYPES = {wire.NH_GATEWAY: "gw", wire.NH_BLACKHOLE: "blackhole", wire.NH_REJECT: "reject"}
FDB_FLAGS = {wire.FDB_STATIC: "static", wire.FDB_LEARNED: "learned"}
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp"}
PLEN = [f"/{n}" for n in range(256)]
_ZERO6 = bytes(6)


class View(NamedTuple):
    """How one record type is shown: table columns, cells and JSON lines per batch."""

    columns: tuple[str, ...]
    rows: Callable[[list[Row]], list[Row]]           # records -> table cells
    json_lines: Callable[[list[Row]], list[str]]     # records -> JSON lines with "\n"


def name_of(names: Mapping[int, str], value: int) -> str:
    return names.get(value, str(value))


def fmt_addr(family: int, raw: bytes) -> str:
    return inet_ntoa(raw[:4]) if family == 4 else inet_ntop(AF_INET6, raw)


def fmt_endpoint(family: int, raw: bytes, port: int) -> str:
    if family == 4:
        return f"{inet_ntoa(raw[:4])}:{port}"
    return f"[{inet_ntop(AF_INET6, raw)}]:{port}"


def fmt_age(ns: int, now_ns: int) -> str:
    return f"{(now_ns - ns) / 1e9:.1f}s" if 0 < ns <= now_ns else "-"


def _json_lines(objects: Callable[[Row], dict[str, Any]]) -> Callable[[list[Row]], list[str]]:
    return lambda batch: [json.dumps(objects(t)) + "\n" for t in batch]


def _nh_cells(t: Row) -> Row:
    nh_id, vrf, iface, nh_type, family, addr, mac = t
    gateway = fmt_addr(family, addr) if family in (4, 6) else "-"
    return (nh_id, vrf, name_of(NH_TYPES, nh_type), gateway, iface,
            mac.hex(":") if mac != _ZERO6 else "-")


def _nh_json(t: Row) -> dict[str, Any]:
    nh_id, vrf, iface, nh_type, family, addr, mac = t
    return {"id": nh_id, "vrf": vrf, "type": name_of(NH_TYPES, nh_type),
            "gateway": fmt_addr(family, addr) if family in (4, 6) else None,
            "iface": iface, "mac": mac.hex(":")}


NEXTHOP_VIEW = View(("ID", "VRF", "TYPE", "GATEWAY", "IFACE", "MAC"),
                    lambda batch: [_nh_cells(t) for t in batch], _json_lines(_nh_json))


def route_view(family: int) -> View:
    """route4/route6: ``inet_ntoa`` and a "/N" lookup per row, a %-template for JSON."""
    ntoa: Callable[[bytes], str] = inet_ntoa if family == 4 else \
        (lambda raw: inet_ntop(AF_INET6, raw))
    template = '{"vrf": %d, "prefix": "%s/%d", "nh_id": %d, "origin": %d}\n'
    return View(("VRF", "DESTINATION", "NEXTHOP", "ORIGIN"),
                lambda batch: [(v, ntoa(p) + PLEN[n], nh, o) for v, n, o, p, nh in batch],
                lambda batch: [template % (v, ntoa(p), n, nh, o) for v, n, o, p, nh in batch])


def _fdb_rows(batch: list[Row]) -> list[Row]:
    now = time.monotonic_ns()
    return [(b, v, m.hex(":"), i, name_of(FDB_FLAGS, f), fmt_age(s, now))
            for b, v, m, i, f, s in batch]


def _fdb_json(t: Row) -> dict[str, Any]:
    bridge, vlan, mac, iface, flags, seen = t
    return {"bridge": bridge, "vlan": vlan, "mac": mac.hex(":"), "iface": iface,
            "flags": name_of(FDB_FLAGS, flags), "last_seen_ns": seen}


FDB_VIEW = View(("BRIDGE", "VLAN", "MAC", "IFACE", "FLAGS", "AGE"), _fdb_rows,
                _json_lines(_fdb_json))


def _ct_rows(batch: list[Row]) -> list[Row]:
    now = time.monotonic_ns()
    return [(i, ifc, name_of(PROTO_NAMES, p), fmt_endpoint(af, s, sp), fmt_endpoint(af, d, dp),
             st, fmt_age(ts, now)) for i, ifc, af, p, s, d, sp, dp, st, ts in batch]


def _ct_json(t: Row) -> dict[str, Any]:
    ct_id, iface, af, proto, src, dst, sport, dport, state, updated = t
    return {"id": ct_id, "iface": iface, "af": af, "proto": name_of(PROTO_NAMES, proto),
            "src": fmt_addr(af, src), "sport": sport, "dst": fmt_addr(af, dst), "dport": dport,
            "state": state, "last_update_ns": updated}


CONNTRACK_VIEW = View(("ID", "IFACE", "PROTO", "SOURCE", "DESTINATION", "STATE", "AGE"),
                      _ct_rows, _json_lines(_ct_json))


# -- the main module's answers: CLIENTS records, STATS figures ------------------------------

def client_flags(flags: int) -> list[str]:
    return [name for bit, name in ((wire.CLIENT_STREAM_ACTIVE, "active"),
                                   (wire.CLIENT_STREAM_PAUSED, "paused")) if flags & bit]


def client_rows(batch: list[Row]) -> list[Row]:
    return [(c, p, u, ",".join(client_flags(f)) or "-", o) for c, p, u, f, o in batch]


def client_json_lines(batch: list[Row]) -> list[str]:
    return [json.dumps({"client_id": c, "pid": p, "uid": u, "flags": client_flags(f),
                        "output_bytes": o}) + "\n" for c, p, u, f, o in batch]


def stats_lines(figures: Mapping[str, Any]) -> list[str]:
    """Aligned ``key value`` lines, keys sorted."""
    width = max(map(len, figures), default=0)
    return [f"{key:<{width}}  {figures[key]}\n" for key in sorted(figures)]


CLIENTS_VIEW = View(("CLIENT", "PID", "UID", "FLAGS", "OUTPUT"), client_rows, client_json_lines)
