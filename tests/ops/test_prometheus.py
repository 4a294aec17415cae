"""A real Prometheus server scrapes a real reactord every 100 ms and answers
queries about it through its HTTP API."""

from __future__ import annotations

from pathlib import Path

from tests.ops.util import log_port, require
from tests.tools.util import ok, start_daemon
from tools.bench.prometheus import PrometheusServer, wait_value


def test_prometheus_scrapes_reactord_and_answers_queries(tmp_path: Path) -> None:
    require("prometheus")
    daemon = start_daemon(tmp_path, "--preload-fullview", "2000",
                          "--metrics-listen", "127.0.0.1:0")
    prom = None
    try:
        prom = PrometheusServer(tmp_path, f"127.0.0.1:{log_port(daemon.log())}")
        wait_value(prom, 'up{job="reactord"}', 1)
        wait_value(prom, 'reactord_table_entries{table="routes4"}', 2000)
        ok(daemon.path, "nexthop", "add", "60", "blackhole")
        ok(daemon.path, "route4", "add", "198.51.100.0/24", "via", "60")
        wait_value(prom, 'reactord_table_entries{table="routes4"}', 2001)
        wait_value(prom, 'sum(reactord_requests_total{type=~"NH_ADD|ROUTE4_ADD",status="OK"})',
                   2)
        targets = prom.get("/api/v1/targets")["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"] and targets[0]["lastError"] == ""
        assert prom.value('count(reactord_request_duration_seconds_bucket{type="NH_ADD"})') \
            == 16
    finally:
        if prom is not None:
            prom.stop()
        assert daemon.terminate() == 0, daemon.log()
    assert prom.proc.returncode is not None
