"""Loading the synthetic full view: generated route batches, pipelined.

The concept: ``fullview load`` generates routes (``tools.fullview``) and keeps
a small window of maximal ADD requests (REPLACE, so a view can be loaded
again) in flight, reading replies in order, so that the daemon always has the
next batch while the client generates the one after.  Unlike a file load
(``tools.ctl.apply``), generation overlaps the daemon's work here, and there
is no line to report: the records are generated valid and REPLACE makes
every key acceptable.

Invariants:
- at most ``window`` requests are in flight; every request sent is reaped
  (its reply read) before ``close`` returns or raises, so ``loaded`` is the
  exact number of routes applied, those of batches sent after a failing one
  included;
- after the first error reply nothing more is sent; the error names the
  failing batch (``route4 records FIRST-LAST``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Iterator

from api import wire
from api.client import ApiCallError, Client
from tools.ctl.apply import per_request
from tools.ctl.failure import CommandFailed, count, why
from tools.ctl.progress import Progress
from tools.ctl.syntax import NEXTHOP, ROUTE4, ROUTE6, Table, parse_any_addr
from tools.fullview import generate_routes4, generate_routes6

WINDOW = 4
FULLVIEW_GATEWAY = "192.0.2.1"


class Pipeline:
    """ADD batches of one request type, ``window`` in flight: as many records
    per batch as fit in MAX_PAYLOAD, or ``batch`` if that is smaller (the
    daemon applies a batch atomically, so other clients wait for it: smaller
    batches keep those waits short)."""

    def __init__(self, client: Client, req_type: int, flags: int, record_size: int,
                 *, window: int = WINDOW, batch: int = 0) -> None:
        self.per_batch = per_request(record_size, batch)
        self.loaded = 0
        self.progress: Progress | None = None
        self._client = client
        self._type = req_type
        self._head = wire.BULK_FLAGS.pack(flags)
        self._window = window
        self._inflight: deque[tuple[int, int, str]] = deque()   # id, records, label
        self._failure: tuple[str, ApiCallError] | None = None

    def send(self, records: bytes, count: int, label: str) -> None:
        """Send one batch (``count`` records, at most ``per_batch``); raise on a failure."""
        while len(self._inflight) >= self._window and self._failure is None:
            self._reap()
        self._check()
        req_id = self._client.send(self._type, self._head + records)
        self._inflight.append((req_id, count, label))

    def close(self) -> int:
        """Read every outstanding reply; the number of records loaded, or CommandFailed."""
        while self._inflight:
            self._reap()
        self._check()
        return self.loaded

    def _check(self) -> None:
        if self._failure is not None:
            while self._inflight:
                self._reap()
            label, exc = self._failure
            raise CommandFailed(f"{label}: {why(exc)}; {count(self.loaded, 'route')} "
                                f"loaded (the batches already sent included)")

    def _reap(self) -> None:
        req_id, records, label = self._inflight.popleft()
        try:
            self._client.reply(req_id)
        except ApiCallError as exc:
            if self._failure is None:
                self._failure = (label, exc)
            return
        self.loaded += records
        if self.progress is not None:
            self.progress.show(f"{label.split()[0]}: {self.loaded:,} loaded "
                               f"({self.progress.rate(self.loaded):,.0f}/s)")


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
    pipe = Pipeline(client, table.req(wire.OP_ADD), wire.ADD_REPLACE, table.record.size,
                    batch=batch_size)
    pipe.progress = Progress()
    sent = 0
    try:
        while True:
            batch = list(islice(records, pipe.per_batch))
            if not batch:
                break
            pipe.send(b"".join(batch), len(batch),
                      f"{what} records {sent + 1}-{sent + len(batch)}")
            sent += len(batch)
        return pipe.close()
    finally:
        pipe.progress.clear()


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
