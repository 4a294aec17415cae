"""tools.bench.watch: every row of the WATCH benchmark runs end to end (``--quick``).

The figures are the benchmark's business; this smoke test checks that each
workload ran against real daemons and printed its row (a workload that fails
prints "DID NOT RUN" and the tool exits 1), with the command and load average.
"""

from __future__ import annotations

import subprocess
import sys

from tools.harness import ROOT

ROWS = (
    "fan-out: bulk load 20,000 routes, 1 watcher(s)",
    "fan-out: bulk load 20,000 routes, 10 watcher(s)",
    "latency: ADD reply -> watcher event, p50",
    "latency: ADD reply -> watcher event, p99",
    "latency: ADD sent -> watcher event, p50 / p99",
    "stalled watcher: daemon RSS growth",
    "stalled watcher: daemon CPU after the churn",
    "SNAPSHOT 20,000 routes to SYNC under churn, TableCopy",
    "SNAPSHOT to SYNC under churn, items counted",
    "SNAPSHOT: TableCopy == final LIST of route4",
    "memory per retained change at 20,000 retained, max-size ADDs",
    "memory per retained change at 20,000 retained, 100-route ADDs",
)


def test_quick_run_prints_every_row() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.bench.watch", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "DID NOT RUN" not in out
    assert out.startswith("command: ") and "cat /proc/loadavg (before):" in out
    assert "cat /proc/loadavg (after):" in out
    lines = out.splitlines()
    for row in ROWS:
        assert any(line.startswith(row) for line in lines), f"no row {row!r}:\n{out}"
    assert "SNAPSHOT: TableCopy == final LIST of route4" in out and " equal " in out
    assert "stream ended ESTALE" in out     # the stalled watcher fell behind the changelog
