"""reactorctl end to end on a large table: streams as an operator meets them.

One reactord per module, preloaded with a synthetic full view of PRELOAD IPv4
routes and only read: listing into ``head``, a pager, a full disk or Ctrl-C
cancels the stream (and the daemon shows no stream left); a full listing is
complete and ordered; ``--max`` prints a hint that resumes exactly.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from api.client import Client
from api.wire import LIST_REQ, ROUTE4_LIST, SCOPE_ALL
from tests.tools.util import (
    children_get_default_sigint, ctl, env, json_lines, ok, popen_ctl, route_lines, start_daemon,
    stats, wait_no_stream,
)
from tools.harness import ServerProcess, wait_for

PRELOAD = 200_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A daemon preloaded with a synthetic full view of PRELOAD IPv4 routes (read only)."""
    proc = start_daemon(tmp_path_factory.mktemp("big"), "--preload-fullview", str(PRELOAD))
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


def test_output_write_error_is_one_line_and_cancels(big: ServerProcess) -> None:
    with open("/dev/full", "w") as full:
        lister = popen_ctl(big.path, "route4", "list", stdout=full, stderr=subprocess.PIPE)
        _, err = lister.communicate(timeout=30)
    assert lister.returncode == 1
    assert err.decode() == "reactorctl: cannot write output: No space left on device\n"
    wait_no_stream(big.path)


# -- listings: pipes, signals, EXFULL -----------------------------------------------------------


def test_list_into_head_cancels_the_stream(big: ServerProcess) -> None:
    before = stats(big.path)["items_streamed"]
    started = time.monotonic()
    lister = popen_ctl(big.path, "route4", "list", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-3"], stdin=lister.stdout, stdout=subprocess.PIPE)
    assert lister.stdout is not None and lister.stderr is not None
    lister.stdout.close()
    out, _ = head.communicate(timeout=30)
    assert lister.wait(timeout=30) == 0
    assert lister.stderr.read() == b""
    lister.stderr.close()
    assert time.monotonic() - started < 20
    lines = out.decode().splitlines()
    assert len(lines) == 3 and lines[0].split()[:2] == ["VRF", "DESTINATION"]
    wait_no_stream(big.path)
    assert stats(big.path)["items_streamed"] - before < PRELOAD     # cancelled, not finished


@pytest.mark.parametrize("reader_dies", [False, True])
def test_interrupt_cancels_the_stream_and_exits_130(big: ServerProcess,
                                                    reader_dies: bool) -> None:
    with children_get_default_sigint():     # as in an interactive shell
        lister = popen_ctl(big.path, "--json", "route4", "list", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert lister.stdout is not None and lister.stderr is not None
    lister.stdout.readline()               # running; nobody reads on, so it blocks
    lister.send_signal(signal.SIGINT)      # Ctrl-C (in a pipeline, the reader gets it too)
    if reader_dies:
        lister.stdout.close()
        err = lister.stderr.read()
        lister.stderr.close()
        lister.wait(timeout=30)
    else:
        _, err = lister.communicate(timeout=30)
    assert lister.returncode == 130 and err == b"", err
    wait_no_stream(big.path)


def test_quitting_the_pager_cancels_the_stream(big: ServerProcess) -> None:
    """stdout a terminal: the listing goes to $PAGER; a pager that quits ends it, exit 0."""
    master, slave = pty.openpty()
    lister = popen_ctl(big.path, "route4", "list", stdout=slave, stderr=subprocess.PIPE,
                       env={**env(), "PAGER": "head -n 3"})
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 1.0)[0]:
            if lister.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:            # EIO: every writer of the terminal has gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    _, err = lister.communicate(timeout=30)
    assert lister.returncode == 0 and err == b""
    lines = seen.decode().splitlines()
    assert len(lines) == 3 and lines[0].split()[:2] == ["VRF", "DESTINATION"]
    wait_no_stream(big.path)


def test_clients_shows_a_paused_stream(big: ServerProcess) -> None:
    with Client(big.path, name="slow", timeout=10) as slow:
        stream = slow.stream(ROUTE4_LIST, LIST_REQ.pack(0, SCOPE_ALL, 0))
        wait_for(lambda: stats(big.path)["streams_paused"] == 1, what="a paused stream")
        rows = json_lines(ok(big.path, "--json", "clients"))
        assert sorted(tuple(r["flags"]) for r in rows) == [(), ("active", "paused")]
        assert [r for r in route_lines(ok(big.path, "clients")) if r[3] == "active,paused"]
        stream.close()
    wait_no_stream(big.path)


def test_full_listing_is_complete_and_ordered(big: ServerProcess) -> None:
    rows = ok(big.path, "--json", "route4", "list").splitlines()
    assert len(rows) == PRELOAD
    assert stats(big.path)["routes4"] == PRELOAD


def test_exfull_hint_resumes_exactly(big: ServerProcess) -> None:
    s = big.path
    full = ok(s, "--json", "route4", "list").splitlines()
    pages: list[str] = []
    after: list[str] = []
    while True:
        result = ctl(s, "--json", "route4", "list", "--max", "70000", *after)
        assert result.rc == 0, result
        pages += result.out.splitlines()
        if not result.err:
            break
        hint = result.err.splitlines()
        assert len(hint) == 1 and "continue with --after " in hint[0], hint
        after = shlex.split(hint[0].split("continue with ", 1)[1])
        assert after[1] == json.loads(pages[-1])["prefix"] or \
            after[1].startswith(str(json.loads(pages[-1])["prefix"]) + "@")
    assert pages == full


def test_table_listing_of_a_large_table(big: ServerProcess) -> None:
    result = ctl(big.path, "route4", "list", "--max", "500")
    assert result.rc == 0 and "continue with --after " in result.err
    lines = result.lines()
    assert len(lines) == 501
    width = lines[0].index("NEXTHOP")
    assert all(line[width - 2:width] == "  " for line in lines[:101])   # aligned
