"""The metrics endpoint of a real reactord: what it reports, in both formats, as
promtool and a Prometheus client parser read them, and how it meets bad HTTP."""

from __future__ import annotations

import http.client
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from api.client import Client
from api.metrics import STATS_METRICS, TABLES
from api.version import __version__
from tests.ops.util import log_port, require, tool
from tests.tools.util import ok, start_daemon
from tools.harness import ServerProcess, wait_for

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    proc = start_daemon(tmp_path_factory.mktemp("metrics"), "--preload-fullview", "1000",
                        "--metrics-listen", "127.0.0.1:0")
    try:
        yield proc, log_port(proc.log())
    finally:
        assert proc.terminate() == 0, proc.log()


def get(port: int, path: str = "/metrics", accept: str = "",
        method: str = "GET") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Accept": accept} if accept else {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", \
            response.read().decode()
    finally:
        conn.close()


def samples(text: str, openmetrics: bool) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                  float]:
    parse = parse_om if openmetrics else parse_text
    families = parse(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in families for s in family.samples}


def test_metrics_report_tables_requests_and_the_process(daemon: tuple[ServerProcess, int]
                                                        ) -> None:
    proc, port = daemon
    ok(proc.path, "nexthop", "add", "50", "blackhole")
    assert ok(proc.path, "route4", "list").count("\n") == 1001
    with Client(proc.path, name="m", timeout=10) as client:
        figures = client.stats()
    status, ctype, body = get(port, accept="application/openmetrics-text")
    assert (status, ctype) == (200, OM) and body.endswith("# EOF\n")
    got = samples(body, openmetrics=True)
    assert got[("reactord_table_entries", (("table", "routes4"),))] == 1000
    assert got[("reactord_table_entries", (("table", "nexthops"),))] == figures["nexthops"]
    assert got[("reactord_requests_total", (("status", "OK"), ("type", "NH_ADD")))] == 1
    assert got[("reactord_requests_total", (("status", "OK"), ("type", "ROUTE4_LIST")))] == 1
    assert got[("reactord_request_duration_seconds_count", (("type", "ROUTE4_LIST"),))] == 1
    assert got[("reactord_items_streamed_total", ())] >= 1000
    assert got[("reactord_sent_bytes_total", ())] >= 1000 * 24     # 12-byte header + record
    assert got[("reactord_connections_total", ())] >= 3
    assert figures["version"] == __version__ and figures["rss_bytes"] > 10 << 20   # STATS
    assert got[("reactord_build_info", (("version", figures["version"]),))] == 1
    assert got[("process_resident_memory_bytes", ())] > 10 << 20
    assert got[("process_open_fds", ())] > 3
    names = {name for name, _ in got}
    for key in figures:   # every STATS figure is exported, under a name of its own
        if key in TABLES:
            assert ("reactord_table_entries", (("table", key),)) in got
        elif key != "version":
            name, kind, _ = STATS_METRICS.get(key, ("reactord_" + key, "gauge", ""))
            assert name + ("_total" if kind == "counter" else "") in names, key


def test_promtool_accepts_the_text_format(daemon: tuple[ServerProcess, int]) -> None:
    require("promtool")
    _, port = daemon
    status, ctype, body = get(port)
    assert (status, ctype) == (200, "text/plain; version=0.0.4; charset=utf-8")
    assert "# EOF" not in body and samples(body, openmetrics=False)
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=60)
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    # The check can fail: promtool reports a counter without its _total suffix.
    bad = subprocess.run(["promtool", "check", "metrics"], input="# HELP x y\n# TYPE x "
                         "counter\nx 1\n", capture_output=True, text=True, timeout=60)
    assert "_total" in bad.stdout + bad.stderr


def raw(port: int, data: bytes, until_close: bool = True) -> bytes:
    """Send ``data``; everything the server answers until it closes (or 2 s of quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if not until_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_http_answers_and_refusals(daemon: tuple[ServerProcess, int]) -> None:
    _, port = daemon
    assert get(port, "/")[0] == 200 and get(port, "/nope")[0] == 404
    assert get(port, method="POST")[0] == 405
    head = raw(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    two = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2, until_close=False)
    assert two.count(b"HTTP/1.1 200 OK") == 2            # pipelined, keep-alive
    body = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert body.startswith(b"HTTP/1.1 413 ")
    assert raw(port, b"\x16\x03\x01 not http at all\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    huge = raw(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 431 ")
    assert raw(port, b"GET /metrics HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 OK")


def test_connections_beyond_the_limit_are_closed(daemon: tuple[ServerProcess, int]) -> None:
    proc, port = daemon
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert extra.recv(1) == b""          # accepted after the 16 (FIFO), closed
        assert "metrics: refused a connection: 16 open already" in proc.log()
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: _served(port), what="served again once the others closed")


def _served(port: int) -> bool:
    try:
        return get(port)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def test_metrics_on_a_unix_socket(tmp_path: Path) -> None:
    where = tmp_path / "metrics.sock"
    proc = start_daemon(tmp_path, "--metrics-listen", str(where))
    try:
        assert f"metrics on {where}" in proc.log()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(where))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"reactord_clients" in answer
    finally:
        assert proc.terminate() == 0
    assert not where.exists(), "the metrics socket file is removed at exit"


@pytest.mark.parametrize("address, why", [("nonsense", "expected HOST:PORT"),
                                          ("127.0.0.1:99999", "expected HOST:PORT"),
                                          ("192.0.2.1:9465", "cannot listen")])
def test_a_bad_metrics_address_is_one_line(tmp_path: Path, address: str, why: str) -> None:
    result = subprocess.run([tool("reactord"), "--socket", str(tmp_path / "s"), "--metrics-listen",
                             address], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and why in result.stderr, result
    assert "Traceback" not in result.stderr and not (tmp_path / "s").exists()


def junk(rng: random.Random) -> bytes:
    """Something between a valid request and noise."""
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 4000))
    line = rng.choice([b"GET /metrics HTTP/1.1", b"GET / HTTP/1.0", b"POST /metrics HTTP/1.1",
                       b"GET /metrics?x=1 HTTP/1.1", b"BREW /pot HTCPCP/1.0", b"GET"])
    headers = [rng.choice([b"Host: x", b"Accept: application/openmetrics-text",
                           b"Transfer-Encoding: chunked", b"Content-Length: 3",
                           b"Content-Length: -1", b"Connection: close", b"X: " + b"y" * 9000,
                           b" folded", b"Bad Header", rng.randbytes(20)])
               for _ in range(rng.randrange(0, 6))]
    text = b"\r\n".join([line, *headers]) + b"\r\n\r\n"
    if kind == 1:
        text = text * rng.randrange(2, 5)              # pipelined
    elif kind == 2:
        text = text[:rng.randrange(len(text))]         # cut short
    elif kind == 3:
        text += b"abc" + rng.randbytes(10)
    return text


def test_junk_never_hurts_the_endpoint(daemon: tuple[ServerProcess, int]) -> None:
    proc, port = daemon
    rng = random.Random(14)
    for _ in range(300):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                sock.sendall(junk(rng))
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass       # the endpoint closed on input it had not read: allowed
    assert get(port)[0] == 200
    assert "Traceback" not in proc.log() and "ERROR" not in proc.log()
