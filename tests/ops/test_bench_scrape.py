"""tools.bench.scrape runs end to end (two daemons, a real Prometheus) and prints its rows.

The figures are the benchmark's business; this checks that the tool works, so
that the README's command does."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.ops.util import require
from tools.harness import ROOT


def test_the_scrape_bench_runs() -> None:
    require("prometheus")
    result = subprocess.run([sys.executable, "-m", "tools.bench.scrape", "--routes", "20000",
                             "--duration", "1", "--idle", "1"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    head, *rows = result.stdout.splitlines()
    found = re.search(r"Prometheus every 100ms: (\d+) scrapes, (\d+) succeeded", head)
    assert found and int(found.group(1)) >= 1, head
    assert [r.split("|")[1].strip() for r in rows[2:]] == [
        "full view LIST, decoded", "4 concurrent dumps, aggregate",
        "ROUTE4_GET during the 4 dumps, p50 / p99", "daemon CPU while idle for 1 s"]


def test_the_a_a_calibration_runs_without_prometheus() -> None:
    result = subprocess.run([sys.executable, "-m", "tools.bench.scrape", "--routes", "20000",
                             "--duration", "1", "--idle", "1", "--no-prometheus"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "nobody scraped (A/A)" in result.stdout.splitlines()[0]
    assert len(result.stdout.splitlines()) == 7
