"""The daemon's metrics: counters kept as requests finish, and their exposition text.

The concept: ``Metrics`` is an ``Observer`` (``api.observe``) that counts what
the server reports (requests by type and status, a latency histogram per
type, connections, bytes sent by connections that closed) and, on demand,
renders those counters together with a snapshot of gauges (STATS figures,
process figures) as text in one of the two formats Prometheus reads:
OpenMetrics 1.0 (``application/openmetrics-text``, ends with ``# EOF``) or
the Prometheus text format 0.0.4.  Pure: no I/O, no clock of its own; the
HTTP endpoint (``api.metrics_http``) and the daemon supply the inputs.

Invariants:
- memory is bounded: requests are keyed by (type name, status name); an
  unknown type is counted under ``other`` (a client sending random types
  cannot grow the table), statuses are the protocol's 13 or ``errno N`` of a
  handler's (bounded by the handlers' code);
- a request is counted once, when its status is known: a one-shot or a
  refused stream at its reply, a stream at its terminator (its duration is the
  stream's life), an oversized header at its EMSGSIZE;
- every STATS figure appears: table sizes as ``reactord_table_entries{table}``,
  the others under their own name (``STATS_METRICS``), unknown numeric figures
  added later as ``reactord_<name>`` gauges; ``version`` as the build info.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from functools import lru_cache
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

from api import wire
from api.codec import Oversized, Request
from api.observe import Observer

if TYPE_CHECKING:
    from api.session import Session
    from api.stream import ActiveStream

BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
           0.5, 1.0, 2.5, 10.0)
"""Upper bounds (seconds) of the latency histogram: a GET's 0.1 ms to a full dump's seconds."""
Labels = tuple[tuple[str, str], ...]
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
TABLES = ("nexthops", "routes4", "routes6", "fdb", "conntrack")
STATS_METRICS: dict[str, tuple[str, str, str]] = {
    # STATS figure: (metric name, type, help)
    "clients": ("reactord_clients", "gauge", "Open API connections"),
    "streams_active": ("reactord_streams_active", "gauge", "Streams begun and not yet ended"),
    "streams_paused": ("reactord_streams_paused", "gauge",
                       "Active streams waiting for their output to drain"),
    "output_buffered_bytes": ("reactord_output_buffered_bytes", "gauge",
                              "Bytes queued in the daemon's output buffers"),
    "items_streamed": ("reactord_items_streamed", "counter", "LIST records queued since start"),
    "uptime_s": ("reactord_uptime_seconds", "gauge", "Seconds since the daemon started"),
    "rss_bytes": ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes"),
}


@dataclass(slots=True)
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


@dataclass(slots=True)
class Family:
    """One metric family: ``name`` without the counter's ``_total`` suffix."""

    name: str
    kind: str                    # gauge, counter, histogram, info
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((suffix, tuple(labels.items()), value))
        return self


class Metrics(Observer):
    """Request counters; ``exposition`` renders them with a snapshot of gauges."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.requests: dict[tuple[str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.connections = 0
        self.closed_bytes_sent = 0

    # -- Observer -------------------------------------------------------------------

    def session_opened(self, session: Session) -> None:
        self.connections += 1

    def request_done(self, session: Session, request: Request, status: int | None,
                     started: float) -> None:
        if status is not None:
            self._count(request.req_type, status, self._now() - started)

    def oversized(self, session: Session, event: Oversized) -> None:
        self._count(event.req_type, wire.EMSGSIZE, 0.0)

    def stream_ended(self, session: Session, stream: ActiveStream, status: int) -> None:
        self._count(stream.entry.req_type, status, self._now() - stream.started)

    def session_closed(self, session: Session, reason: str) -> None:
        self.closed_bytes_sent += session.bytes_sent

    def _count(self, req_type: int, status: int, seconds: float) -> None:
        name = wire.TYPE_NAMES.get(req_type, "other")
        key = (name, wire.STATUS_NAMES.get(status) or f"errno {status}")
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(name)
        if histogram is None:
            histogram = self.latency[name] = Histogram()
        histogram.observe(seconds)

    # -- exposition -----------------------------------------------------------------

    def families(self, stats: Mapping[str, object], live_bytes_sent: int,
                 process: Mapping[str, float | None]) -> list[Family]:
        out = [Family("reactord_build", "info", "The daemon's version")
               .add(1, "_info", version=str(stats.get("version", "")))]
        out += stats_families(stats)
        out.append(Family("reactord_connections", "counter", "API connections accepted")
                   .add(self.connections, "_total"))
        out.append(Family("reactord_sent_bytes", "counter", "Bytes sent to API clients")
                   .add(self.closed_bytes_sent + live_bytes_sent, "_total"))
        requests = Family("reactord_requests", "counter", "Requests answered, by type and "
                          "final status (a stream's: its terminator's)")
        for (name, status), count in sorted(self.requests.items()):
            requests.add(count, "_total", type=name, status=status)
        out.append(requests)
        out.append(self._latency_family())
        out += process_families(process)
        return out

    def _latency_family(self) -> Family:
        family = Family("reactord_request_duration_seconds", "histogram",
                        "Time from a request's arrival to its reply (a stream's: to its "
                        "terminator), by type")
        for name, histogram in sorted(self.latency.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, math.inf), histogram.counts):
                cumulative += count
                family.add(cumulative, "_bucket", type=name, le=format_bound(bound))
            family.add(histogram.total, "_sum", type=name)
            family.add(cumulative, "_count", type=name)
        return family

    def exposition(self, stats: Mapping[str, object], live_bytes_sent: int,
                   process: Mapping[str, float | None], openmetrics: bool) -> str:
        return render(self.families(stats, live_bytes_sent, process), openmetrics)


def stats_families(stats: Mapping[str, object]) -> list[Family]:
    out: list[Family] = []
    tables = Family("reactord_table_entries", "gauge", "Entries in each table")
    for name in TABLES:
        size = stats.get(name)
        if isinstance(size, int):
            tables.add(size, table=name)
    out.append(tables)
    for key, value in stats.items():
        if key in TABLES or key == "version" or isinstance(value, bool) \
                or not isinstance(value, (int, float)):
            continue
        name, kind, text = STATS_METRICS.get(key) or (
            "reactord_" + "".join(c if c.isalnum() else "_" for c in key.lower()), "gauge",
            f"The STATS figure {key}")
        out.append(Family(name.removesuffix("_total"), kind, text)
                   .add(value, "_total" if kind == "counter" else ""))
    return out


def process_families(process: Mapping[str, float | None]) -> list[Family]:
    out = []
    for key, kind, text in (
            ("cpu_seconds", "counter", "User and system CPU time spent in seconds"),
            ("open_fds", "gauge", "Number of open file descriptors"),
            ("max_fds", "gauge", "Maximum number of open file descriptors"),
            ("start_time_seconds", "gauge", "Start time of the process since the epoch in "
                                            "seconds")):
        value = process.get(key)
        if value is not None:
            out.append(Family(f"process_{key}", kind, text)
                       .add(value, "_total" if kind == "counter" else ""))
    return out


def format_value(value: float) -> str:
    """A sample value: integers as integers, other floats as Python's shortest repr."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, int):
        return str(value)
    return repr(value)


def format_bound(bound: float) -> str:
    """A bucket's ``le`` label: a float's canonical text (``0.001``, ``1.0``, ``+Inf``)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


@lru_cache(maxsize=4096)
def label_text(labels: Labels) -> str:
    """``{k="v",...}`` (escaped), or "" without labels.  Cached: a daemon has a
    bounded set of label sets (types x statuses, types x buckets, tables)."""
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels) + "}"


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(families: list[Family], openmetrics: bool) -> str:
    """The exposition text of ``families`` (OpenMetrics 1.0, or Prometheus text 0.0.4)."""
    lines: list[str] = []
    for family in families:
        if not family.samples and family.kind != "histogram":
            continue
        kind = family.kind
        head = family.name
        if not openmetrics:
            if kind == "counter":
                head += "_total"
            elif kind == "info":
                head, kind = head + "_info", "gauge"
        lines.append(f"# HELP {head} {escape(family.help)}")
        lines.append(f"# TYPE {head} {kind}")
        name = family.name
        lines += [f"{name}{suffix}{label_text(labels)} {format_value(value)}"
                  for suffix, labels, value in family.samples]
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"
