"""Fuzzing a live reactord: hypothesis draws the frames, a model of the spec judges every reply.

One daemon (preloaded with 20,000 routes, so that a LIST is still running when
its client vanishes) serves the whole module.  Each example is a batch of
fuzz steps (``tools.hardening.fuzz_steps``: pipelined bursts of mutated requests,
streams with EBUSY and cancels, abandoned streams, truncated, oversized and
garbage frames); after it the daemon must be idle and intact and every table
equal to the model's.  ``st.randoms`` seeds the generator, so a failing
example replays from hypothesis' seed.  The second test draws whole requests
from hypothesis strategies (any type, any payload), so its failures shrink to
one frame.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from tools.hardening.fuzz import Fuzzer
from tools.harness import ROOT, ServerProcess

from .util import start

KNOWN_TYPES = sorted(wire.TYPE_NAMES) + [wire.msg_type(wire.MODULE_ROUTE4, wire.OP_FLUSH),
                                         wire.msg_type(wire.MODULE_FDB, wire.OP_GET)]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start(tmp_path_factory.mktemp("fuzz"), "--preload-fullview", "20000")
    yield proc
    try:
        assert proc.terminate() == 0
        assert "Traceback" not in proc.log()
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def fuzzer(daemon: ServerProcess) -> Iterator[Fuzzer]:
    fz = Fuzzer(daemon.path, random.Random(0))
    yield fz
    fz.close()


def new_violations(fuzzer: Fuzzer, before: int) -> list[str]:
    return fuzzer.report.violations[before:]


@settings(max_examples=30, deadline=None, database=None)
@given(rng=st.randoms(use_true_random=True))
def test_fuzz_batches_leave_the_daemon_intact(fuzzer: Fuzzer, rng: random.Random) -> None:
    before = len(fuzzer.report.violations)
    fuzzer.gen.rng = rng
    for _ in range(30):
        fuzzer.step()
    fuzzer.check_idle(full=True)
    assert new_violations(fuzzer, before) == []


@settings(max_examples=400, deadline=None, database=None)
@given(req_type=st.one_of(st.sampled_from(KNOWN_TYPES), st.integers(0, 0xFFFFFFFF)),
       payload=st.binary(max_size=80),
       pipelined=st.lists(st.tuples(st.sampled_from(KNOWN_TYPES), st.binary(max_size=60)),
                          max_size=4))
def test_any_request_gets_the_reply_the_spec_prescribes(
        fuzzer: Fuzzer, req_type: int, payload: bytes,
        pipelined: list[tuple[int, bytes]]) -> None:
    before = len(fuzzer.report.violations)
    fuzzer.gen.rng = random.Random(req_type)   # request ids only
    fuzzer.steps.burst(0, [(req_type, payload), *pipelined])
    assert new_violations(fuzzer, before) == []


def test_every_step_kind_and_status_was_exercised(fuzzer: Fuzzer) -> None:
    """3,000 more frames: the fuzzing reaches every step kind and every status."""
    fuzzer.gen.rng = random.Random(1)
    before = len(fuzzer.report.violations)
    target = fuzzer.report.frames + 3000
    while fuzzer.report.frames < target:
        fuzzer.step()
    fuzzer.check_idle(full=True)
    report = fuzzer.report
    assert new_violations(fuzzer, before) == []
    assert set(report.steps) >= {"pipeline", "stream", "abandon", "hangup", "truncated",
                                 "oversized", "garbage", "hello"}
    assert set(report.statuses) >= {"OK", "ENOENT", "ESRCH", "EBUSY", "EEXIST", "EINVAL",
                                    "EXFULL", "EBADMSG", "EMSGSIZE", "ENOTSUP", "ECANCELED"}


def test_fuzz_script_runs_and_reports(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tools.hardening.fuzz", "--frames", "1500",
                             "--seed", "11", "--preload", "5000"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in ("frames/s", "statuses:", "disconnects:", "violations:      0"):
        assert figure in result.stdout
