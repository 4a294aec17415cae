"""Sending checked records in file order, so that what was applied is a known prefix.

The concept (the rule reactorctl's help and README state): records are sent
in file order, one ADD (or DEL) request at a time, each as large as fits in
MAX_PAYLOAD (or ``--batch N`` records).  The daemon applies a request whole
or not at all (wire-v1 section 4), and names the record that made it fail
(section 2: its index in the request).  At the first refused record the
command stops: the records before it in its request, which passed the
daemon's checks, are sent again on their own, and nothing after it is ever
sent.  So after any run, exactly the records before the failing one are
applied, and none from it on, whatever the batch size: ``Outcome.applied``.

Why one request at a time: with several in flight, requests sent after the
failing one would be applied too (the daemon serves them in order, each on
its own), and the applied records would be a prefix with holes.  The
input is read whole before sending (``tools.ctl.records``), so there is no
parsing left to overlap with the daemon's work; the measured cost of waiting
for each reply is within noise (1M route4 records: 0.77-0.80 s one at a time,
0.79-0.83 s with four in flight).

Invariants:
- ``applied`` records, the first ones, are applied, and no later record was
  sent; ``failed_at`` is the index of the record the daemon refused;
- if the daemon refuses a request without naming a record (a header-only
  error: EIO, or a daemon before wire-v1 section 2), ``failed_at`` is None and
  ``unknown`` is the range of that request: none of it was applied;
- a Ctrl-C raises ``Interrupted``: the first ``applied`` records are applied;
  ``unknown`` is the request in flight if there was one (all or none of it
  applied: its reply was not read), and nothing after it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from api import wire
from api.client import Client
from api.client_errors import ApiCallError
from tools.ctl.records import Records

Report = Callable[[int], None]
"""Called with the number of records applied so far, after each request."""


@dataclass
class Outcome:
    """What a run applied: the first ``applied`` records, and why it stopped."""

    applied: int
    error: ApiCallError | None = None
    failed_at: int | None = None
    unknown: tuple[int, int] | None = None
    requests: int = 0


class Interrupted(Exception):
    """Ctrl-C during ``apply_records``; ``outcome`` says what was applied."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def per_request(size: int, batch: int = 0) -> int:
    """Records per request: as many as fit in MAX_PAYLOAD, or ``batch`` if smaller."""
    most = (wire.MAX_PAYLOAD - wire.BULK_FLAGS.size) // size
    return min(batch, most) if batch > 0 else most


def apply_records(client: Client, req_type: int, flags: int, records: Records,
                  batch: int = 0, report: Report | None = None) -> Outcome:
    """Send ``records`` under the rule of the module docstring."""
    head = wire.BULK_FLAGS.pack(flags)
    step = per_request(records.size, batch)
    total = len(records)
    out = Outcome(0)
    stop = min(step, total)
    while out.applied < stop:
        start = out.applied
        out.requests += 1
        try:
            client.call(req_type, head + records.chunk(start, stop))
        except KeyboardInterrupt:
            out.unknown = (start, stop)
            raise Interrupted(out) from None
        except ApiCallError as exc:
            out.error = exc
            if exc.index is None or not 0 <= exc.index < stop - start:
                out.failed_at, out.unknown = None, (start, stop)
                return out
            out.failed_at = stop = start + exc.index   # the head alone, then stop
            continue
        out.applied = stop
        if report is not None:
            try:
                report(stop)
            except KeyboardInterrupt:
                raise Interrupted(out) from None
        if out.error is None:
            stop = min(stop + step, total)
    return out
