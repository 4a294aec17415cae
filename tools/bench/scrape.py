"""Scrape soak: does a Prometheus scraping reactord every 100 ms cost it anything?

Run: ``python -m tools.bench.scrape [--routes N] [--duration S]`` (Debian's
``prometheus`` installed; about ``S`` + 10 seconds plus two preloads);
``--no-prometheus`` runs the same rounds with nobody scraped (A/A), to see
how far apart two identical daemons land on this machine at this moment.

The concept: two identical reactord daemons (``--preload-fullview N``, both
with ``--metrics-listen 127.0.0.1:0``), and a real Prometheus server
(``tools.bench.prometheus``) scraping only the first, every 100 ms, for the
whole run.  Rounds alternate between the two until ``--duration`` has
passed; each round measures on one daemon the full-view figures of
``tools.bench.fullview``: one LIST of every route decoded into tuples
(items/s), then four concurrent dumps with a ROUTE4_GET client beside them
(aggregate items/s, GET p50/p99 pooled over the rounds).  The scraped daemon
must stay within 5 % of the quiet one, judged on the median of paired ratios
(each scraped round over the quiet round just after it); the ratios of the
best and of the median rounds are shown too.
Prometheus' own CPU use hits both daemons alike (it runs throughout); the
difference is what serving the scrapes costs reactord.  The scrape count and
the mean scrape duration come from Prometheus itself.  Last, both daemons idle
for 10 s while the scrapes go on: the difference in their CPU time is what the
scrapes cost, free of the noise of other processes (the throughput rows are
not: on a shared 2-CPU machine two identical daemons can differ by 10 %).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.bench import fullview_work as work
from tools.bench.prometheus import PrometheusServer
from tools.harness import ServerProcess as Daemon
from tools.harness import cpu_seconds, start_reactord

TARGET = 0.95


@dataclass
class Figures:
    rates: list[float] = field(default_factory=list)
    aggregates: list[float] = field(default_factory=list)
    gets: list[tuple[float, float]] = field(default_factory=list)


def metrics_port(daemon: Daemon, log: Path, timeout: float = 300.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", log.read_text())
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise SystemExit(f"{daemon.name}: no metrics line in {log}")


def wait_scraping(prom: PrometheusServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while prom.value('up{job="reactord"}') != 1:
        if time.monotonic() > deadline:
            raise SystemExit("Prometheus never scraped the daemon")
        time.sleep(0.1)


def idle_cpu(daemons: list[Daemon], seconds: float) -> dict[str, float]:
    """CPU seconds each daemon uses over ``seconds`` of idleness (the scrapes go on)."""
    before = {d.name: cpu_seconds(d.pid) for d in daemons}
    time.sleep(seconds)
    return {d.name: cpu_seconds(d.pid) - before[d.name] for d in daemons}


def one_round(daemon: Daemon, routes: int, into: Figures) -> None:
    into.rates.append(work.dump_rate(daemon.path, routes, decoded=True))
    run = work.concurrent_dumps(daemon.path, routes)
    into.aggregates.append(run.items_per_s)
    into.gets += run.get_stamps


def row(name: str, scraped: list[float], quiet: list[float], unit: float, text: str) -> str:
    """Best and median of each daemon's rounds, and the verdict on the median of
    the paired ratios (each scraped round over the quiet round right after it:
    the load of other processes drifts less within a pair than across the run)."""
    best_s, best_q = max(scraped) / unit, max(quiet) / unit
    med_s, med_q = statistics.median(scraped) / unit, statistics.median(quiet) / unit
    paired = statistics.median(a / b for a, b in zip(scraped, quiet))
    verdict = "met" if paired >= TARGET else "MISSED"
    return (f"| {name} | {best_s:.2f} / {med_s:.2f} {text} | {best_q:.2f} / {med_q:.2f} "
            f"{text} | {best_s / best_q:.1%} / {med_s / med_q:.1%} / {paired:.1%} | "
            f">= 95 % (paired) — {verdict} |")


def latency_row(scraped: Figures, quiet: Figures) -> str:
    def p(figs: Figures, q: float) -> float:
        return work.percentile([b - a for a, b in figs.gets], q) * 1e3
    return (f"| ROUTE4_GET during the 4 dumps, p50 / p99 | {p(scraped, 0.5):.2f} / "
            f"{p(scraped, 0.99):.2f} ms | {p(quiet, 0.5):.2f} / {p(quiet, 0.99):.2f} ms | "
            f"{len(scraped.gets)} / {len(quiet.gets)} GETs | (information) |")


@dataclass
class Run:
    figures: dict[str, Figures]
    rounds: int
    seconds: float
    idle: dict[str, float]
    scrapes: str = "nobody scraped (A/A)"
    idle_scrapes: float = 0.0


def alternate(daemons: list[Daemon], routes: int, duration: float, idle: float) -> Run:
    """Rounds on each daemon in turn for ``duration`` s (at least 4), then ``idle`` s idle."""
    figures = {d.name: Figures() for d in daemons}
    started, rounds = time.monotonic(), 0
    while time.monotonic() - started < duration or rounds < 4:
        daemon = daemons[rounds % 2]
        one_round(daemon, routes, figures[daemon.name])
        rounds += 1
    seconds = time.monotonic() - started
    return Run(figures, rounds, seconds, idle_cpu(daemons, idle))


def scraped_run(tmp: Path, daemons: list[Daemon], args: argparse.Namespace) -> Run:
    """``alternate`` while Prometheus scrapes the first daemon; its figures added."""
    port = metrics_port(daemons[0], tmp / "scraped.log")
    with PrometheusServer(tmp, f"127.0.0.1:{port}", args.interval) as prom:
        wait_scraping(prom)        # its first scrape comes about 5 s after start
        run = alternate(daemons, args.routes, args.duration, args.idle)
        up = 'up{job="reactord"}'
        run.idle_scrapes = prom.value(f"count_over_time({up}[{int(args.idle * 1000)}ms])") or 1
        span = f"{int(run.seconds + args.idle) + 5}s"
        total = prom.value(f"count_over_time({up}[{span}])") or 0
        succeeded = prom.value(f"sum_over_time({up}[{span}])") or 0
        mean = prom.value(f"avg_over_time(scrape_duration_seconds[{span}])") or 0
    run.scrapes = (f"Prometheus every {args.interval}: {total:.0f} scrapes, "
                   f"{succeeded:.0f} succeeded, mean {mean * 1e3:.2f} ms")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of alternating rounds (default %(default)s)")
    parser.add_argument("--interval", default="100ms", help="scrape interval (default 100ms)")
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds of the idle CPU measurement (default %(default)s)")
    parser.add_argument("--no-prometheus", action="store_true",
                        help="A/A calibration: nobody is scraped, the table shows the noise "
                             "between two identical daemons")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmpdir:
        tmp = Path(tmpdir)
        common = ("--preload-fullview", str(args.routes), "--metrics-listen", "127.0.0.1:0")
        daemons = [start_reactord(*common, directory=tmp, name=name, ready_timeout=None)
                   for name in ("scraped", "quiet")]
        try:
            for daemon in daemons:
                daemon.wait_ready(300)
            run = (alternate(daemons, args.routes, args.duration, args.idle)
                   if args.no_prometheus else scraped_run(tmp, daemons, args))
        finally:
            for daemon in daemons:
                daemon.stop()
    print(f"scrape soak: {args.routes:,} routes, {run.rounds} rounds in {run.seconds:.0f} s; "
          f"{run.scrapes}")
    print_table(run.figures["scraped"], run.figures["quiet"])
    print(idle_row(run, args.idle))
    return 0


def idle_row(run: Run, seconds: float) -> str:
    extra = run.idle["scraped"] - run.idle["quiet"]
    per_scrape = (f", {extra / run.idle_scrapes * 1e3:.2f} ms per scrape "
                  f"({run.idle_scrapes:.0f})" if run.idle_scrapes else "")
    return (f"| daemon CPU while idle for {seconds:g} s | {run.idle['scraped'] * 1e3:.0f} ms | "
            f"{run.idle['quiet'] * 1e3:.0f} ms | {extra / seconds:.1%} of a CPU{per_scrape} | "
            f"(information) |")


def print_table(s: Figures, q: Figures) -> None:
    print("| figure (best / median of the rounds) | scraped | not scraped | ratio: best / "
          "median / paired median | target |")
    print("|---|---|---|---|---|")
    print(row("full view LIST, decoded", s.rates, q.rates, 1e6, "M items/s"))
    print(row("4 concurrent dumps, aggregate", s.aggregates, q.aggregates, 1e6, "M items/s"))
    print(latency_row(s, q))


if __name__ == "__main__":
    raise SystemExit(main())
