"""Bulk loading: route text files and the synthetic full view, as pipelined ADD batches.

The concept: a ``Pipeline`` packs records into maximal ADD requests (as many
as fit in ``MAX_PAYLOAD``: ``(131072 - 4) // R``) and keeps a small window of
them in flight, reading replies in order, so that the daemon always has the
next batch while the client parses or generates the one after.

Invariants:
- at most ``window`` requests are in flight; every request sent is reaped
  (its reply read) before ``close`` returns or raises, so ``loaded`` is exact;
- after the first failure nothing more is sent: a bad text line raises
  before its record joins a batch (the lines before it are sent, it and all
  after it are not); an error reply stops further sending;
- each batch is all or nothing on the daemon (wire-v1 section 4), and carries
  a label (``FILE:FIRST-LAST``) that names it in the error.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator, TextIO

from api import wire
from api.client import ApiCallError, Client
from tools.ctl.syntax import NEXTHOP, ROUTE4, ROUTE6, CtlSyntaxError, Table, parse_any_addr
from tools.fullview import generate_routes4, generate_routes6

WINDOW = 4
PROGRESS_EVERY_S = 0.2
FULLVIEW_GATEWAY = "192.0.2.1"


class LoadFailed(Exception):
    """A load stopped: ``where`` (FILE:LINE or a batch label) and why."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why
        self.loaded = 0     # records loaded before the load stopped


class Progress:
    """``\\r``-rewritten count on a terminal's stderr, at most every 0.2 s."""

    def __init__(self, what: str, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._what = what
        self._started = time.monotonic()
        self._shown = 0.0

    def update(self, count: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not final and now - self._shown < PROGRESS_EVERY_S):
            return
        self._shown = now
        rate = count / max(now - self._started, 1e-9)
        self._stream.write(f"\r{self._what}: {count} loaded ({rate:,.0f}/s)"
                           + ("\n" if final else ""))
        self._stream.flush()


class Pipeline:
    """ADD (or DEL) batches of one request type, ``window`` in flight: as many
    records per batch as fit in MAX_PAYLOAD, or ``batch`` if that is smaller
    (the daemon applies a batch atomically, so other clients wait for it:
    smaller batches keep those waits short)."""

    def __init__(self, client: Client, req_type: int, flags: int, record_size: int,
                 *, window: int = WINDOW, progress: Progress | None = None,
                 batch: int = 0) -> None:
        most = (wire.MAX_PAYLOAD - wire.BULK_FLAGS.size) // record_size
        self.per_batch = min(batch, most) if batch > 0 else most
        self.loaded = 0
        self._client = client
        self._type = req_type
        self._head = wire.BULK_FLAGS.pack(flags)
        self._window = window
        self._progress = progress
        self._inflight: deque[tuple[int, int, str]] = deque()   # id, records, label
        self._failure: LoadFailed | None = None

    def send(self, records: bytes, count: int, label: str) -> None:
        """Send one batch (``count`` records, at most ``per_batch``); raise on a failure."""
        while len(self._inflight) >= self._window and self._failure is None:
            self._reap()
        self._check()
        req_id = self._client.send(self._type, self._head + records)
        self._inflight.append((req_id, count, label))

    def close(self) -> int:
        """Read every outstanding reply; the number of records loaded, or LoadFailed."""
        while self._inflight:
            self._reap()
        self._check()
        return self.loaded

    def _check(self) -> None:
        if self._failure is not None:
            while self._inflight:
                self._reap()
            self._failure.loaded = self.loaded
            raise self._failure

    def _reap(self) -> None:
        req_id, count, label = self._inflight.popleft()
        try:
            self._client.reply(req_id)
        except ApiCallError as exc:
            if self._failure is None:
                self._failure = LoadFailed(label, str(exc))
            return
        self.loaded += count
        if self._progress is not None:
            self._progress.update(self.loaded)


def route_lines(lines: Iterable[str], table: Table, name: str) -> Iterator[tuple[int, bytes]]:
    """(line number, record) of ``PREFIX via NH_ID [vrf V] [origin N]`` lines.

    Blank lines and ``#`` comments are skipped; a bad line raises LoadFailed
    naming ``name:LINE`` when it is reached (the records before it were yielded).
    """
    add = table.add
    for lineno, line in enumerate(lines, 1):
        words = (line if "#" not in line else line[:line.index("#")]).split()
        if not words:
            continue
        try:
            yield lineno, add(words)
        except CtlSyntaxError as exc:
            raise LoadFailed(f"{name}:{lineno}", str(exc)) from None


def line_batches(lines: Iterable[str], table: Table, name: str,
                 size: int) -> Iterator[tuple[list[bytes], str]]:
    """Records of ``lines`` in lists of ``size``, labelled ``name:FIRST-LAST``.

    At a bad line the records before it come out as a last partial batch,
    then its LoadFailed is raised.
    """
    batch: list[bytes] = []
    first = last = 0
    failure: LoadFailed | None = None
    try:
        for last, record in route_lines(lines, table, name):
            if not batch:
                first = last
            batch.append(record)
            if len(batch) == size:
                yield batch, _lines_label(name, first, last)
                batch = []
    except LoadFailed as exc:
        failure = exc
    if batch:
        yield batch, _lines_label(name, first, last)
    if failure is not None:
        raise failure


def _lines_label(name: str, first: int, last: int) -> str:
    return f"{name}:{first}" if first == last else f"{name}:{first}-{last}"


def load_routes(client: Client, table: Table, lines: Iterable[str], name: str, *,
                replace: bool = False, batch_size: int = 0) -> int:
    """Load a route text file; the number of routes loaded."""
    progress = Progress(name)
    pipe = Pipeline(client, table.req(wire.OP_ADD), wire.ADD_REPLACE if replace else 0,
                    table.record.size, progress=progress, batch=batch_size)
    try:
        for batch, label in line_batches(lines, table, name, pipe.per_batch):
            pipe.send(b"".join(batch), len(batch), label)
        loaded = pipe.close()
    except LoadFailed as exc:
        pipe.close()     # an earlier batch's error reply is reported first
        exc.loaded = pipe.loaded
        raise
    progress.update(loaded, final=True)
    return loaded


# -- the synthetic full view -------------------------------------------------------------

def ensure_nexthop(client: Client, nh_id: int) -> bool:
    """Make sure nexthop ``nh_id`` exists; True if it was added (``gw 192.0.2.1``)."""
    try:
        client.call(wire.NH_GET, wire.NH_GET_REQ.pack(nh_id))
        return False
    except ApiCallError as exc:
        if exc.status != wire.ENOENT:
            raise
    family, addr = parse_any_addr(FULLVIEW_GATEWAY, "gateway")
    record = wire.NEXTHOP.pack(nh_id, 0, 0, wire.NH_GATEWAY, family, addr, bytes(6))
    client.call(NEXTHOP.req(wire.OP_ADD), wire.BULK_FLAGS.pack(wire.ADD_REPLACE) + record)
    return True


def load_records(client: Client, table: Table, records: Iterator[bytes], what: str,
                 batch_size: int = 0) -> int:
    """Load generated records with REPLACE (a full view can be loaded again)."""
    progress = Progress(what)
    pipe = Pipeline(client, table.req(wire.OP_ADD), wire.ADD_REPLACE, table.record.size,
                    progress=progress, batch=batch_size)
    sent = 0
    while True:
        batch = list(islice(records, pipe.per_batch))
        if not batch:
            break
        pipe.send(b"".join(batch), len(batch), f"{what} records {sent + 1}-{sent + len(batch)}")
        sent += len(batch)
    loaded = pipe.close()
    progress.update(loaded, final=True)
    return loaded


@dataclass
class FullviewSummary:
    routes4: int
    routes6: int
    seconds: float
    nexthop_added: bool

    @property
    def rate(self) -> float:
        return (self.routes4 + self.routes6) / max(self.seconds, 1e-9)


def load_fullview(client: Client, routes4: int, routes6: int, nh_id: int,
                  seed: int = 0, batch_size: int = 0) -> FullviewSummary:
    started = time.monotonic()
    added = ensure_nexthop(client, nh_id)
    loaded4 = loaded6 = 0
    if routes4:
        loaded4 = load_records(client, ROUTE4, generate_routes4(routes4, seed=seed,
                                                                nh_ids=(nh_id,)), "route4",
                               batch_size)
    if routes6:
        loaded6 = load_records(client, ROUTE6, generate_routes6(routes6, seed=seed,
                                                                nh_ids=(nh_id,)), "route6",
                               batch_size)
    return FullviewSummary(loaded4, loaded6, time.monotonic() - started, added)
